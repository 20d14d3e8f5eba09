import sharp, { type Sharp } from 'sharp';
import { ApiError } from './errors.js';

/** Quota units each tool charges: background removal reads every pixel twice, so it costs more. */
export const TOOLS = {
  resize: { cost: 1 },
  crop: { cost: 1 },
  'remove-bg': { cost: 3 },
} as const;
export type ToolName = keyof typeof TOOLS;

const MAX_SIDE = 8000;
const FORMATS = { png: 'png', jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp' } as const;
type Variant = Record<string, unknown>;

function int(variant: Variant, name: string, min: number, max: number, optional = false): number | undefined {
  const value = variant[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ApiError(400, 'invalid_parameter', `${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Output format from the output path's extension. */
export function formatOf(path: string): 'png' | 'jpeg' | 'webp' {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase() as keyof typeof FORMATS;
  const format = FORMATS[ext];
  if (!format)
    throw new ApiError(400, 'invalid_parameter', 'output_file_path must end in .png, .jpg, .jpeg or .webp');
  return format;
}

/**
 * Background removal for flat or near-uniform backgrounds: the colour of the four corners is the
 * background, and every pixel within `tolerance` (Euclidean RGB distance) of it becomes
 * transparent, with a soft edge. It is plain colour keying, not a learned segmentation model.
 */
async function removeBackground(input: Buffer, tolerance: number): Promise<Sharp> {
  const { data, info } = await sharp(input).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = info;
  const at = (x: number, y: number) => (y * width + x) * channels;
  const corners = [at(0, 0), at(width - 1, 0), at(0, height - 1), at(width - 1, height - 1)];
  const bg = [0, 1, 2].map((c) => corners.reduce((sum, i) => sum + data[i + c]!, 0) / 4);
  const soft = Math.max(1, tolerance / 4);
  for (let i = 0; i < data.length; i += channels) {
    const distance = Math.hypot(data[i]! - bg[0]!, data[i + 1]! - bg[1]!, data[i + 2]! - bg[2]!);
    if (distance <= tolerance) data[i + 3] = 0;
    else if (distance < tolerance + soft)
      data[i + 3] = Math.round((data[i + 3]! * (distance - tolerance)) / soft);
  }
  return sharp(data, { raw: { width, height, channels } });
}

/** Runs one tool for one output variant; returns the encoded image. */
export async function runTool(
  tool: ToolName,
  input: Buffer,
  variant: Variant,
  outputPath: string,
): Promise<Buffer> {
  const format = formatOf(outputPath);
  const meta = await sharp(input).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  let image: Sharp;
  if (tool === 'resize') {
    const scale = variant.scale;
    if (scale !== undefined) {
      if (typeof scale !== 'number' || !(scale >= 0.05 && scale <= 4)) {
        throw new ApiError(400, 'invalid_parameter', 'scale must be a number from 0.05 to 4');
      }
      image = sharp(input).resize(
        Math.max(1, Math.round(width * scale)),
        Math.max(1, Math.round(height * scale)),
      );
    } else {
      const w = int(variant, 'width', 1, MAX_SIDE, true);
      const h = int(variant, 'height', 1, MAX_SIDE, true);
      if (w === undefined && h === undefined)
        throw new ApiError(400, 'invalid_parameter', 'resize needs scale, width or height');
      image = sharp(input).resize(w ?? null, h ?? null, { fit: 'inside' });
    }
    if (Math.max(width, height) * ((scale as number | undefined) ?? 1) > MAX_SIDE) {
      throw new ApiError(400, 'invalid_parameter', `the result would be larger than ${MAX_SIDE} pixels`);
    }
  } else if (tool === 'crop') {
    const left = int(variant, 'left', 0, width - 1)!;
    const top = int(variant, 'top', 0, height - 1)!;
    const w = int(variant, 'width', 1, width - left)!;
    const h = int(variant, 'height', 1, height - top)!;
    image = sharp(input).extract({ left, top, width: w, height: h });
  } else {
    if (format === 'jpeg')
      throw new ApiError(400, 'invalid_parameter', 'remove-bg needs a .png or .webp output (transparency)');
    image = await removeBackground(input, int(variant, 'tolerance', 0, 255, true) ?? 48);
  }
  return image.toFormat(format).toBuffer();
}
