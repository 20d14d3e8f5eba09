import sharp, { type Sharp } from 'sharp';
import { ApiError } from './errors.js';
import { removeBackgroundInWorker } from './keying.js';

/** Quota units each tool charges: background removal reads every pixel twice, so it costs more. */
export const TOOLS = {
  resize: { cost: 1 },
  crop: { cost: 1 },
  'remove-bg': { cost: 3 },
} as const;
export type ToolName = keyof typeof TOOLS;

/**
 * Where a tool is served: `/v3/tools/ai/<tool>/process/` as the BackgroundCut v3 guide names it,
 * and `/v3/tools/<tool>/process/`, the shorter path these examples used first, kept as an alias.
 * An access token names the exact path it may call, so tokens for one do not open the other.
 */
export function toolPaths(tool: ToolName): [canonical: string, alias: string] {
  return [`/v3/tools/ai/${tool}/process/`, `/v3/tools/${tool}/process/`];
}

/** Quota units of the one-call routes shaped like other image APIs (`/v1/...`). */
export const V1_COSTS = { 'remove-background': TOOLS['remove-bg'].cost, enhance: 2 } as const;

/** Enhancement types of `POST /v1/enhance` and their sharp pipelines. */
export const ENHANCEMENTS = {
  // Even contrast, crisp detail.
  general: (image: Sharp) => image.normalise().sharpen({ sigma: 1 }),
  // Gentle: a little brighter, soft sharpening (skin should not look gritty).
  portrait: (image: Sharp) =>
    image.normalise({ lower: 2, upper: 98 }).modulate({ brightness: 1.04 }).sharpen({ sigma: 0.6 }),
  // Vivid: more saturation, stronger sharpening for distant detail.
  landscape: (image: Sharp) =>
    image.normalise().modulate({ saturation: 1.25 }).sharpen({ sigma: 1.5, m2: 2 }),
} as const;
export type EnhancementType = keyof typeof ENHANCEMENTS;

/** Runs an enhancement on a checked input; the result in `format`. */
export function enhanceImage(
  input: Buffer,
  type: EnhancementType,
  format: 'png' | 'jpeg' | 'webp',
): Promise<Buffer> {
  return ENHANCEMENTS[type](open(input)).toFormat(format).toBuffer();
}

const MAX_SIDE = 8000;
/**
 * Largest input decoded, in pixels (25 MP: a 6000 x 4000 photo fits). Checked from the header
 * before any decoding, and enforced by libvips too (`limitInputPixels`): a 32 KB PNG of 16,383 x
 * 16,383 pixels used to take 1.4 GB and 10 s to process.
 */
export const MAX_INPUT_PIXELS = 25_000_000;
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

/** sharp for an input, never decoding more than {@link MAX_INPUT_PIXELS}. */
const open = (input: Buffer) => sharp(input, { limitInputPixels: MAX_INPUT_PIXELS });

/**
 * Width and height from the image's header (nothing is decoded); a 413 when it has more pixels
 * than {@link MAX_INPUT_PIXELS}, a 415 when it is not an image.
 */
export async function checkedSize(input: Buffer): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(input, { limitInputPixels: false })
    .metadata()
    .catch(() => null);
  if (!meta?.width || !meta.height || !meta.format) {
    throw new ApiError(415, 'unsupported_image', 'Only JPEG, PNG and WebP images are accepted');
  }
  if (meta.width * meta.height > MAX_INPUT_PIXELS) {
    throw new ApiError(
      413,
      'image_too_large',
      `Images may hold at most ${MAX_INPUT_PIXELS} pixels; this one is ${meta.width} x ${meta.height}`,
    );
  }
  return { width: meta.width, height: meta.height, format: meta.format };
}

/** A checked variant, ready to run: every parameter was validated when it was made. */
export type PreparedTool = () => Promise<Buffer>;

/**
 * Validates one output variant of a tool against the input's size, without doing the work: the
 * caller checks every variant (and charges the quota) before running any. Throws a 400 naming the
 * bad parameter.
 */
export function prepareTool(
  tool: ToolName,
  input: Buffer,
  size: { width: number; height: number },
  variant: Variant,
  outputPath: string,
): PreparedTool {
  const format = formatOf(outputPath);
  const { width, height } = size;
  const encode = (image: Sharp) => image.toFormat(format).toBuffer();
  if (tool === 'resize') {
    const scale = variant.scale;
    if (scale !== undefined) {
      if (typeof scale !== 'number' || !(scale >= 0.05 && scale <= 4)) {
        throw new ApiError(400, 'invalid_parameter', 'scale must be a number from 0.05 to 4');
      }
      if (Math.max(width, height) * scale > MAX_SIDE) {
        throw new ApiError(400, 'invalid_parameter', `the result would be larger than ${MAX_SIDE} pixels`);
      }
      const w = Math.max(1, Math.round(width * scale));
      const h = Math.max(1, Math.round(height * scale));
      return () => encode(open(input).resize(w, h));
    }
    const w = int(variant, 'width', 1, MAX_SIDE, true);
    const h = int(variant, 'height', 1, MAX_SIDE, true);
    if (w === undefined && h === undefined)
      throw new ApiError(400, 'invalid_parameter', 'resize needs scale, width or height');
    return () => encode(open(input).resize(w ?? null, h ?? null, { fit: 'inside' }));
  }
  if (tool === 'crop') {
    const left = int(variant, 'left', 0, width - 1)!;
    const top = int(variant, 'top', 0, height - 1)!;
    const w = int(variant, 'width', 1, width - left)!;
    const h = int(variant, 'height', 1, height - top)!;
    return () => encode(open(input).extract({ left, top, width: w, height: h }));
  }
  if (format === 'jpeg')
    throw new ApiError(400, 'invalid_parameter', 'remove-bg needs a .png or .webp output (transparency)');
  // Background removal for flat or near-uniform backgrounds: colour keying against the corners'
  // colour, not a learned segmentation model; all of it in a worker thread (see keying.ts).
  const tolerance = int(variant, 'tolerance', 0, 255, true) ?? 48;
  return () => removeBackgroundInWorker(input, { tolerance, format, maxPixels: MAX_INPUT_PIXELS });
}
