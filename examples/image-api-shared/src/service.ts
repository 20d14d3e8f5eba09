import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { readRequestBody } from '@keywarden/core/adapter';
import busboy from 'busboy';
import { ApiError } from './errors.js';
import { checkFilePath, filePathFromUrl, namespaceOf, resolveInside } from './paths.js';
import {
  checkedSize,
  ENHANCEMENTS,
  type EnhancementType,
  enhanceImage,
  prepareTool,
  TOOLS,
  type ToolName,
  V1_COSTS,
} from './tools.js';

/** Upload limits. */
export const UPLOAD_LIMITS = Object.freeze({
  /** Bytes per file. */
  fileSize: 10 * 1024 * 1024,
  files: 5,
  /** Image types accepted, as sharp detects them from the bytes (never from the client's word). */
  types: ['jpeg', 'png', 'webp'] as readonly string[],
});
const MAX_JSON_BYTES = 64 * 1024;
const MAX_VARIANTS = 5;
const EXTENSIONS: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };
const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

/** Who is asking: the parts of keywarden's principal the service needs. */
export interface Caller {
  keyId: string;
  ownerId: string | null;
  /** The key's rotation lineage: a key without owner keeps its files through rotations. */
  lineageId: string;
}

/**
 * Charges quota units to the caller's key, all or nothing, before the work starts; rejects with
 * keywarden's 429 when the quota cannot cover them.
 */
export type ChargeUnits = (units: number) => Promise<void>;

// Stored files are the customer's: readable by this server's user only.
const FILE_MODE = 0o600;
const FOLDER_MODE = 0o700;

/** Writes a new file at the first free name of `candidates(n)`, n = 0, 1, ...: atomic, never overwriting. */
async function writeNew(data: Buffer, candidate: (n: number) => string): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const target = candidate(n);
    try {
      await writeFile(target, data, { flag: 'wx', mode: FILE_MODE });
      return target;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new ApiError(409, 'name_taken', 'Too many files of this name in this folder');
}

/** Parses a JSON body given as bytes, text or an already-parsed value. */
export async function jsonBody(body: unknown, req?: IncomingMessage): Promise<unknown> {
  let raw = body;
  if (raw === undefined && req) raw = await readRequestBody(req, MAX_JSON_BYTES);
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    const text = Buffer.from(raw).toString('utf8');
    if (text.length > MAX_JSON_BYTES) throw new ApiError(413, 'body_too_large', 'The JSON body is too large');
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, 'invalid_json', 'The body is not valid JSON');
    }
  }
  return raw;
}

interface Upload {
  name: string;
  data: Buffer;
}

function readMultipart(
  req: IncomingMessage,
  field = 'files',
  maxFiles: number = UPLOAD_LIMITS.files,
): Promise<{ fields: Map<string, string>; files: Upload[] }> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    return Promise.reject(
      new ApiError(415, 'unsupported_media_type', `Send multipart/form-data with a "${field}" field`),
    );
  }
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    const files: Upload[] = [];
    let failure: ApiError | null = null;
    const fail = (error: ApiError) => {
      failure ??= error;
    };
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          fileSize: UPLOAD_LIMITS.fileSize,
          files: maxFiles,
          fields: 10,
          fieldSize: 1024,
          parts: 20,
        },
      });
    } catch {
      reject(new ApiError(400, 'invalid_multipart', 'The multipart body is malformed'));
      return;
    }
    parser.on('field', (name, value) => fields.set(name, value));
    parser.on('file', (name, stream, info) => {
      if (name !== field) {
        fail(new ApiError(400, 'invalid_field', `Files go in the "${field}" field`));
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () =>
        fail(
          new ApiError(413, 'file_too_large', `Each file must be at most ${UPLOAD_LIMITS.fileSize} bytes`),
        ),
      );
      stream.on('end', () => files.push({ name: info.filename ?? 'image', data: Buffer.concat(chunks) }));
    });
    parser.on('filesLimit', () => fail(new ApiError(413, 'too_many_files', `At most ${maxFiles} file(s)`)));
    parser.on('partsLimit', () => fail(new ApiError(413, 'too_many_parts', 'Too many parts')));
    parser.on('error', () =>
      reject(new ApiError(400, 'invalid_multipart', 'The multipart body is malformed')),
    );
    parser.on('close', () => (failure ? reject(failure) : resolve({ fields, files })));
    req.pipe(parser);
  });
}

/**
 * The stored file an `imageUrl` names: it must be `http(s)://<the Host this request came to>/v3/files/<path>`.
 * Parsed, never fetched.
 */
function ownFileOf(imageUrl: unknown, host: string | undefined): string {
  const own = `this API's own storage: http(s)://${host ?? '<this host>'}/v3/files/<path>`;
  if (typeof imageUrl !== 'string' || imageUrl.length > 2048)
    throw new ApiError(400, 'invalid_image_url', `imageUrl is required, a URL of ${own}`);
  let url: URL;
  try {
    url = new URL(imageUrl);
  } catch {
    throw new ApiError(400, 'invalid_image_url', `imageUrl is not a URL; it must name ${own}`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    host === undefined ||
    url.host !== host.toLowerCase()
  )
    throw new ApiError(
      400,
      'invalid_image_url',
      `imageUrl must name ${own}; this server fetches no other URL`,
    );
  if (url.username || url.password || url.search || url.hash)
    throw new ApiError(400, 'invalid_image_url', `imageUrl must be a plain path of ${own}`);
  try {
    return filePathFromUrl(url.pathname);
  } catch {
    throw new ApiError(400, 'invalid_image_url', `imageUrl must name ${own}`);
  }
}

/** A stored file name from the client's name: safe characters only, extension from the real type. */
function storedName(original: string, format: string): string {
  const stem = original
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 60);
  return `${stem || 'image'}.${EXTENSIONS[format]}`;
}

/**
 * The image API's work, independent of the web framework: every example maps its routes to these
 * three calls and renders {@link ApiError}s as problem+json.
 */
export function createImageService(options: { storageDir: string }) {
  const root = options.storageDir;

  return {
    /** `POST /v3/file-ops/upload/`: multipart `files` (1-5 images) and `upload_path`. */
    async upload(caller: Caller, req: IncomingMessage): Promise<{ file_paths: string[] }> {
      const { fields, files } = await readMultipart(req);
      if (files.length === 0)
        throw new ApiError(400, 'no_files', 'Send at least one image in the "files" field');
      const folder = checkFilePath(fields.get('upload_path') ?? 'uploads', 'upload_path');
      const namespace = namespaceOf(caller);
      // Every file is checked (type, and size from its header) before any is stored.
      const checked = [];
      for (const file of files) {
        const { format } = await checkedSize(file.data);
        if (!UPLOAD_LIMITS.types.includes(format)) {
          throw new ApiError(415, 'unsupported_image', 'Only JPEG, PNG and WebP images are accepted');
        }
        checked.push({ file, name: storedName(file.name, format) });
      }
      const paths: string[] = [];
      for (const { file, name } of checked) {
        const relative = (n: number) =>
          `${folder}/${n === 0 ? name : name.replace(/(\.[a-z]+)$/, `-${n}$1`)}`;
        await mkdir(dirname(resolveInside(root, namespace, relative(0))), {
          recursive: true,
          mode: FOLDER_MODE,
        });
        // The name is taken by creating the file (O_EXCL): parallel uploads of one name each get
        // their own, where a check-then-write let two pick the same one.
        const target = await writeNew(file.data, (n) => resolveInside(root, namespace, relative(n)));
        paths.push(`${folder}/${target.slice(target.lastIndexOf('/') + 1)}`);
      }
      return { file_paths: paths };
    },

    /**
     * `POST /v3/tools/<tool>/process/`: `{ input_file_path, output_variants: [{ output_file_path, ... }] }`.
     * Charges the tool's cost per variant through `charge` before any work.
     */
    async process(
      caller: Caller,
      tool: ToolName,
      body: unknown,
      charge: ChargeUnits,
    ): Promise<{ output_file_paths: string[] }> {
      if (!(tool in TOOLS)) throw new ApiError(404, 'unknown_tool', 'No such tool');
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ApiError(400, 'invalid_body', 'The body must be a JSON object');
      }
      const { input_file_path, output_variants, ...rest } = body as Record<string, unknown>;
      if (Object.keys(rest).length) throw new ApiError(400, 'invalid_body', 'Unknown fields in the body');
      const namespace = namespaceOf(caller);
      const input = resolveInside(root, namespace, checkFilePath(input_file_path, 'input_file_path'));
      if (
        !Array.isArray(output_variants) ||
        output_variants.length < 1 ||
        output_variants.length > MAX_VARIANTS
      ) {
        throw new ApiError(400, 'invalid_body', `output_variants must hold 1 to ${MAX_VARIANTS} variants`);
      }
      const data = await readFile(input).catch(() => {
        throw new ApiError(404, 'not_found', 'input_file_path does not exist');
      });
      const size = await checkedSize(data);
      // Every variant is checked before the quota is charged, and the quota before any work.
      const jobs = output_variants.map((variant: unknown) => {
        if (typeof variant !== 'object' || variant === null)
          throw new ApiError(400, 'invalid_body', 'Each variant must be an object');
        const fields = variant as Record<string, unknown>;
        const relative = checkFilePath(fields.output_file_path, 'output_file_path');
        return { relative, run: prepareTool(tool, data, size, fields, relative) };
      });
      await charge(TOOLS[tool].cost * jobs.length);
      const outputs: string[] = [];
      for (const { relative, run } of jobs) {
        const image = await run();
        const target = resolveInside(root, namespace, relative);
        await mkdir(dirname(target), { recursive: true, mode: FOLDER_MODE });
        await writeFile(target, image, { mode: FILE_MODE });
        outputs.push(relative);
      }
      return { output_file_paths: outputs };
    },

    /**
     * `POST /v1/remove-background`, shaped like ObjectCut's: multipart `image_file` (one image),
     * answers the PNG with a transparent background; nothing is stored.
     */
    async removeBackground(req: IncomingMessage, charge: ChargeUnits): Promise<Buffer> {
      const { files } = await readMultipart(req, 'image_file', 1);
      if (files.length === 0) throw new ApiError(400, 'no_files', 'Send the image in the "image_file" field');
      const data = files[0]!.data;
      const size = await checkedSize(data);
      if (!UPLOAD_LIMITS.types.includes(size.format))
        throw new ApiError(415, 'unsupported_image', 'Only JPEG, PNG and WebP images are accepted');
      const run = prepareTool('remove-bg', data, size, {}, 'result.png');
      await charge(V1_COSTS['remove-background']);
      return run();
    },

    /**
     * `POST /v1/enhance`, shaped like Smart Image Enhancement's: `{ imageUrl, enhancementType,
     * outputFormat }`. `imageUrl` must name a file of the caller's own storage on this API
     * (`<this API's origin>/v3/files/<path>`): the server never fetches a URL, so there is no
     * request to make on anyone's behalf (no SSRF), and a 400 says why anything else is refused.
     */
    async enhance(
      caller: Caller,
      body: unknown,
      host: string | undefined,
      charge: ChargeUnits,
    ): Promise<{ data: Buffer; contentType: string }> {
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new ApiError(400, 'invalid_body', 'The body must be a JSON object');
      const {
        imageUrl,
        enhancementType = 'general',
        outputFormat = 'png',
        ...rest
      } = body as Record<string, unknown>;
      if (Object.keys(rest).length) throw new ApiError(400, 'invalid_body', 'Unknown fields in the body');
      if (typeof enhancementType !== 'string' || !Object.hasOwn(ENHANCEMENTS, enhancementType))
        throw new ApiError(
          400,
          'invalid_parameter',
          'enhancementType must be general, portrait or landscape',
        );
      if (outputFormat !== 'png' && outputFormat !== 'jpeg' && outputFormat !== 'webp')
        throw new ApiError(400, 'invalid_parameter', 'outputFormat must be png, jpeg or webp');
      const relative = ownFileOf(imageUrl, host);
      const data = await readFile(resolveInside(root, namespaceOf(caller), relative)).catch(() => {
        throw new ApiError(
          400,
          'invalid_image_url',
          `imageUrl names no file of yours: upload it first (${relative})`,
        );
      });
      await checkedSize(data);
      await charge(V1_COSTS.enhance);
      const image = await enhanceImage(data, enhancementType as EnhancementType, outputFormat);
      return { data: image, contentType: CONTENT_TYPES[outputFormat]! };
    },

    /** `GET /v3/files/<path>`: the bytes, from the raw request URL. */
    async download(caller: Caller, rawUrl: string): Promise<{ data: Buffer; contentType: string }> {
      const relative = filePathFromUrl(rawUrl);
      const data = await readFile(resolveInside(root, namespaceOf(caller), relative)).catch(() => {
        throw new ApiError(404, 'not_found', 'No such file');
      });
      const ext = relative.slice(relative.lastIndexOf('.') + 1).toLowerCase();
      return { data, contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream' };
    },
  };
}

export type ImageService = ReturnType<typeof createImageService>;
