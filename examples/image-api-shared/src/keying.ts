// Background removal runs in a worker thread, never on the event loop: its per-pixel loop took
// about a second of the main thread for a 25-megapixel image, and handing raw pixels to a worker
// costs almost as much again (sharp's buffers cannot be transferred, so they are copied: 270 ms
// for 100 MB, measured). So the worker gets the encoded image and returns the encoded result;
// decoding, keying and encoding all happen there. One worker, made on first use, keeping the
// process alive only while it has jobs.
//
// The worker holds at most RUNNING jobs at once, each decoding up to 25 megapixels (about 100 MB of
// raw pixels, and as much again for the copy sharp encodes from); the rest wait here, at most
// QUEUED of them, and beyond that a job is refused at once (503 with Retry-After). Posting every job
// to the worker as it came let 16 parallel 3 KB PNGs of 25 MP decode together: 1.75 GB.
import { Worker } from 'node:worker_threads';
import { ApiError } from './errors.js';

/** Jobs the worker runs at once. */
export const RUNNING = 1;
/** Jobs that may wait for the worker; one more is refused. */
export const QUEUED = 8;

interface Job {
  message: Record<string, unknown>;
  resolve(output: Buffer): void;
  reject(error: Error): void;
}

let worker: Worker | null = null;
let nextId = 0;
const jobs = new Map<number, Job>();
const waiting: Job[] = [];

function failAll(error: Error): void {
  worker = null;
  for (const job of jobs.values()) job.reject(error);
  jobs.clear();
  startWaiting();
}

/** Hands waiting jobs to the worker while it has room. */
function startWaiting(): void {
  while (jobs.size < RUNNING && waiting.length > 0) {
    const job = waiting.shift()!;
    const id = nextId++;
    jobs.set(id, job);
    theWorker().postMessage({ id, ...job.message });
  }
  if (jobs.size > 0) worker?.ref();
  else worker?.unref();
}

function theWorker(): Worker {
  if (worker) return worker;
  const made = new Worker(new URL('./keying-worker.mjs', import.meta.url));
  made.on('message', (reply: { id: number; output?: Uint8Array; error?: string }) => {
    const job = jobs.get(reply.id);
    jobs.delete(reply.id);
    if (reply.output)
      job?.resolve(Buffer.from(reply.output.buffer, reply.output.byteOffset, reply.output.byteLength));
    else job?.reject(new Error(reply.error ?? 'background removal failed'));
    startWaiting();
  });
  made.on('error', failAll);
  made.on('exit', () => failAll(new Error('the background removal worker stopped')));
  // Held only while it has jobs (see `startWaiting`): an idle worker must not keep the process
  // alive (a server that had run one job never exited after SIGTERM), and a busy one must.
  made.unref();
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
  if (waiting.length >= QUEUED)
    return Promise.reject(
      new ApiError(503, 'busy', 'Background removal is busy; try again in a few seconds', {
        'retry-after': '5',
      }),
    );
  return new Promise<Buffer>((resolve, reject) => {
    waiting.push({ message: { input, ...options }, resolve, reject });
    startWaiting();
  });
}
