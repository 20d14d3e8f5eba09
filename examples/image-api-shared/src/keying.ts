// Background removal runs in a worker thread, never on the event loop: its per-pixel loop took
// about a second of the main thread for a 25-megapixel image, and handing raw pixels to a worker
// costs almost as much again (sharp's buffers cannot be transferred, so they are copied: 270 ms
// for 100 MB, measured). So the worker gets the encoded image and returns the encoded result;
// decoding, keying and encoding all happen there. One worker, made on first use and unref'd,
// takes the jobs as they come.
import { Worker } from 'node:worker_threads';

interface Job {
  resolve(output: Buffer): void;
  reject(error: Error): void;
}

let worker: Worker | null = null;
let nextId = 0;
const jobs = new Map<number, Job>();

function failAll(error: Error): void {
  worker = null;
  for (const job of jobs.values()) job.reject(error);
  jobs.clear();
}

function theWorker(): Worker {
  if (worker) return worker;
  const made = new Worker(new URL('./keying-worker.mjs', import.meta.url));
  made.unref();
  made.on('message', (reply: { id: number; output?: Uint8Array; error?: string }) => {
    const job = jobs.get(reply.id);
    jobs.delete(reply.id);
    if (reply.output)
      job?.resolve(Buffer.from(reply.output.buffer, reply.output.byteOffset, reply.output.byteLength));
    else job?.reject(new Error(reply.error ?? 'background removal failed'));
  });
  made.on('error', failAll);
  made.on('exit', () => failAll(new Error('the background removal worker stopped')));
  worker = made;
  return made;
}

/**
 * Removes a flat background in the worker: pixels within `tolerance` (Euclidean RGB distance) of
 * the average colour of the four corners become transparent, with a soft edge. Resolves with the
 * image encoded as `format`; never decodes more than `maxPixels`.
 */
export function removeBackgroundInWorker(
  input: Buffer,
  options: { tolerance: number; format: 'png' | 'webp'; maxPixels: number },
): Promise<Buffer> {
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    jobs.set(id, { resolve, reject });
    theWorker().postMessage({ id, input, ...options });
  });
}
