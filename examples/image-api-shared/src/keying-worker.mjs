// The worker thread of background removal (see keying.ts): decodes, keys out the background and
// encodes, so that none of the per-pixel work, and none of the copying of raw pixels between
// threads, happens on the main thread. Plain JavaScript, so it runs without a TypeScript loader.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';

/** Every pixel within `tolerance` (Euclidean RGB distance) of `background` turns transparent, with a soft edge. */
function key(data, channels, background, tolerance) {
  const [r, g, b] = background;
  const soft = Math.max(1, tolerance / 4);
  for (let i = 0; i < data.length; i += channels) {
    const distance = Math.hypot(data[i] - r, data[i + 1] - g, data[i + 2] - b);
    if (distance <= tolerance) data[i + 3] = 0;
    else if (distance < tolerance + soft)
      data[i + 3] = Math.round((data[i + 3] * (distance - tolerance)) / soft);
  }
}

async function removeBackground({ input, tolerance, format, maxPixels }) {
  const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const at = (x, y) => (y * width + x) * channels;
  const corners = [at(0, 0), at(width - 1, 0), at(0, height - 1), at(width - 1, height - 1)];
  const background = [0, 1, 2].map((c) => corners.reduce((sum, i) => sum + data[i + c], 0) / 4);
  key(data, channels, background, tolerance);
  return sharp(data, { raw: { width, height, channels } }).toFormat(format).toBuffer();
}

parentPort.on('message', (job) => {
  removeBackground(job).then(
    (output) => parentPort.postMessage({ id: job.id, output }),
    (error) => parentPort.postMessage({ id: job.id, error: String(error?.message ?? error) }),
  );
});
