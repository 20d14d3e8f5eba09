// Background removal's per-pixel loop runs in a worker thread, never on the event loop: on the
// main thread a 25-megapixel image blocked every other request for about a second (and a
// decompression bomb for 4.6 s before images were capped). One worker, made on first use and
// unref'd, takes the jobs in turn; the pixel buffer is transferred, not copied, both ways.
import { Worker } from 'node:worker_threads';

// Plain CommonJS for `eval: true`: the worker needs no build step and no TypeScript loader.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, buffer, channels, background, tolerance }) => {
  const data = new Uint8Array(buffer);
  const [r, g, b] = background;
  const soft = Math.max(1, tolerance / 4);
  for (let i = 0; i < data.length; i += channels) {
    const distance = Math.hypot(data[i] - r, data[i + 1] - g, data[i + 2] - b);
    if (distance <= tolerance) data[i + 3] = 0;
    else if (distance < tolerance + soft) data[i + 3] = Math.round((data[i + 3] * (distance - tolerance)) / soft);
  }
  parentPort.postMessage({ id, buffer }, [buffer]);
});
`;

interface Job {
  resolve(buffer: ArrayBuffer): void;
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
  const made = new Worker(SOURCE, { eval: true });
  made.unref();
  made.on('message', ({ id, buffer }: { id: number; buffer: ArrayBuffer }) => {
    const job = jobs.get(id);
    jobs.delete(id);
    job?.resolve(buffer);
  });
  made.on('error', failAll);
  made.on('exit', () => failAll(new Error('the keying worker stopped')));
  worker = made;
  return made;
}

/**
 * Makes every pixel within `tolerance` (Euclidean RGB distance) of `background` transparent, with
 * a soft edge, in a worker thread. `pixels` is raw RGBA; it is handed over and must not be used after.
 */
export function keyOut(
  pixels: Buffer,
  channels: number,
  background: readonly number[],
  tolerance: number,
): Promise<Buffer> {
  // A Buffer may be a view on a larger pooled ArrayBuffer: transfer only a buffer of its own.
  const own =
    pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength
      ? (pixels.buffer as ArrayBuffer)
      : pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength);
  const id = nextId++;
  return new Promise<ArrayBuffer>((resolve, reject) => {
    jobs.set(id, { resolve, reject });
    theWorker().postMessage({ id, buffer: own, channels, background, tolerance }, [own as ArrayBuffer]);
  }).then((buffer) => Buffer.from(buffer));
}
