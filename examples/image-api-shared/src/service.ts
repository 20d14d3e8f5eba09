import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { allowsPath, type Principal } from '@keywarden/core';
import { readRequestBody } from '@keywarden/core/integration-kit';
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
/**
 * Largest multipart body read, all files and fields together: beyond it the upload is refused (413,
 * and the connection closed) as soon as the bytes say so, from Content-Length before any is read.
 * A 500 MB upload used to be read to its end, 1.3 s of CPU, before its 413.
 */
export const MAX_UPLOAD_BYTES = UPLOAD_LIMITS.files * UPLOAD_LIMITS.fileSize + 64 * 1024; // + fields, part headers
const MAX_VARIANTS = 5;
const EXTENSIONS: Record<string, string> = { jpeg: 'jpg', png: 'png', webp: 'webp' };
const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

/**
 * Who is asking: keywarden's principal (`getAuth(req)`). Its path patterns bound the storage paths
 * a call may name, and its owner (or key lineage, or token) the folder they resolve in.
 */
export type Caller = Pick<Principal, 'kind' | 'keyId' | 'ownerId' | 'lineageId' | 'tokenId' | 'paths'>;

/**
 * Quota units for a call, paid for work done: `check` refuses (keywarden's 429) before the work
 * what the caller could not pay; `charge` takes them, all or nothing, once the work succeeded, and
 * rejects the same way when the quota went meanwhile (then nothing is stored or answered).
 */
/** Quota units for one call, paid for work done (see `Example.billing`). */
export interface Billing {
  /** Holds `units` against every limit before the work: throws the refusal (429, 402) when they do not fit. */
  reserve(units: number): Promise<{ commit(): void; release(): Promise<void> }>;
}

/**
 * Runs `work` paid by a hold of `units`: committed when it succeeds, released when it fails, so
 * a call whose image fails to decode, or whose output cannot be made, costs nothing.
 */
async function paidFor<T>(billing: Billing, units: number, work: () => Promise<T>): Promise<T> {
  const hold = await billing.reserve(units);
  try {
    const result = await work();
    hold.commit();
    return result;
  } catch (error) {
    await hold.release();
    throw error;
  }
}

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

/** A 413 that also closes the connection, so that the rest of a large body is never read. */
const tooLarge = (code: string, detail: string) => new ApiError(413, code, detail, { connection: 'close' });

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
  const maxBytes = Math.min(MAX_UPLOAD_BYTES, maxFiles * UPLOAD_LIMITS.fileSize + 64 * 1024);
  const overall = `The upload must be at most ${maxBytes} bytes in all`;
  if (Number(req.headers['content-length'] ?? 0) > maxBytes)
    return Promise.reject(tooLarge('body_too_large', overall));
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    const files: Upload[] = [];
    let parser: busboy.Busboy;
    let settled = false;
    // A refusal for size stops reading at once; other refusals wait for the end of the body.
    let failure: ApiError | null = null;
    const fail = (error: ApiError) => {
      failure ??= error;
    };
    const stop = (error: ApiError) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      req.removeListener('data', count);
      req.pause();
      reject(error);
    };
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) stop(tooLarge('body_too_large', overall));
    };
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
        stop(tooLarge('file_too_large', `Each file must be at most ${UPLOAD_LIMITS.fileSize} bytes`)),
      );
      stream.on('end', () => files.push({ name: info.filename ?? 'image', data: Buffer.concat(chunks) }));
    });
    parser.on('filesLimit', () => stop(tooLarge('too_many_files', `At most ${maxFiles} file(s)`)));
    parser.on('partsLimit', () => stop(tooLarge('too_many_parts', 'Too many parts')));
    parser.on('error', () => stop(new ApiError(400, 'invalid_multipart', 'The multipart body is malformed')));
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      if (failure) reject(failure);
      else resolve({ fields, files });
    });
    req.on('data', count);
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
 * Checks that the caller's credential may use a storage path that arrived in the body or a URL
 * parameter: written as the request path that reads it (`/v3/files/<path>`), it must lie inside the
 * credential's path patterns, like every request path (a key limited to `/v3/files/public/*` must not
 * read `private/` through a tool's `input_file_path`, nor a token minted for `/v1/enhance` read any
 * file). A 403 naming the field otherwise.
 */
function mayUse(caller: Caller, relative: string, field: string): void {
  if (!allowsPath(caller, `/v3/files/${relative}`))
    throw new ApiError(
      403,
      'path_not_allowed',
      `${field} lies outside the paths this credential may use (/v3/files/${relative})`,
    );
}

/**
 * Runs prepared work, turning an image that fails to decode (a valid header over corrupt data)
 * into a 400: bad input, which costs the caller nothing since units are charged after the work.
 */
async function run<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(400, 'invalid_image', 'The image could not be decoded: it is damaged or truncated');
  }
}

/** Options of {@link createImageService}. */
export interface ImageServiceOptions {
  storageDir: string;
  /** The folder of a caller's files (see `namespaceOf`, the default). */
  namespaceOf?: (caller: Caller) => string;
}

/**
 * The image API's work, independent of the web framework: every example maps its routes to these
 * calls and renders {@link ApiError}s as problem+json.
 */
export function createImageService(options: ImageServiceOptions) {
  const root = options.storageDir;
  const folderOf = options.namespaceOf ?? namespaceOf;

  return {
    /** `POST /v3/file-ops/upload/`: multipart `files` (1-5 images) and `upload_path`. */
    async upload(caller: Caller, req: IncomingMessage): Promise<{ file_paths: string[] }> {
      const { fields, files } = await readMultipart(req);
      if (files.length === 0)
        throw new ApiError(400, 'no_files', 'Send at least one image in the "files" field');
      const folder = checkFilePath(fields.get('upload_path') ?? 'uploads', 'upload_path');
      const namespace = folderOf(caller);
      // Every file is checked (type, and size from its header) before any is stored.
      const checked = [];
      for (const file of files) {
        const { format } = await checkedSize(file.data);
        if (!UPLOAD_LIMITS.types.includes(format)) {
          throw new ApiError(415, 'unsupported_image', 'Only JPEG, PNG and WebP images are accepted');
        }
        const name = storedName(file.name, format);
        mayUse(caller, `${folder}/${name}`, 'upload_path');
        checked.push({ file, name });
      }
      const paths: string[] = [];
      for (const { file, name } of checked) {
        const relative = (n: number) => {
          const path = `${folder}/${n === 0 ? name : name.replace(/(\.[a-z]+)$/, `-${n}$1`)}`;
          mayUse(caller, path, 'upload_path');
          return path;
        };
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
     * Charges the tool's cost per variant through `billing`: held before the work, taken once
     * every variant was made.
     */
    async process(
      caller: Caller,
      tool: ToolName,
      body: unknown,
      billing: Billing,
    ): Promise<{ output_file_paths: string[] }> {
      if (!(tool in TOOLS)) throw new ApiError(404, 'unknown_tool', 'No such tool');
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ApiError(400, 'invalid_body', 'The body must be a JSON object');
      }
      const { input_file_path, output_variants, ...rest } = body as Record<string, unknown>;
      if (Object.keys(rest).length) throw new ApiError(400, 'invalid_body', 'Unknown fields in the body');
      const namespace = folderOf(caller);
      const inputPath = checkFilePath(input_file_path, 'input_file_path');
      mayUse(caller, inputPath, 'input_file_path');
      const input = resolveInside(root, namespace, inputPath);
      if (
        !Array.isArray(output_variants) ||
        output_variants.length < 1 ||
        output_variants.length > MAX_VARIANTS
      ) {
        throw new ApiError(400, 'invalid_body', `output_variants must hold 1 to ${MAX_VARIANTS} variants`);
      }
      // Every variant is checked, and the quota asked, before any work; units are taken after it.
      const jobs = output_variants.map((variant: unknown) => {
        if (typeof variant !== 'object' || variant === null)
          throw new ApiError(400, 'invalid_body', 'Each variant must be an object');
        const relative = checkFilePath(
          (variant as Record<string, unknown>).output_file_path,
          'output_file_path',
        );
        mayUse(caller, relative, 'output_file_path');
        return { relative, variant: variant as Record<string, unknown> };
      });
      const data = await readFile(input).catch(() => {
        throw new ApiError(404, 'not_found', 'input_file_path does not exist');
      });
      const size = await checkedSize(data);
      const prepared = jobs.map(({ relative, variant }) => ({
        relative,
        work: prepareTool(tool, data, size, variant, relative),
      }));
      // The tool's cost per variant, held before the work and taken once every variant was
      // made and written; a call that fails on the way costs nothing.
      const units = TOOLS[tool].cost * prepared.length;
      return paidFor(billing, units, async () => {
        const images = [];
        for (const { work } of prepared) images.push(await run(work));
        for (const [i, { relative }] of prepared.entries()) {
          const target = resolveInside(root, namespace, relative);
          await mkdir(dirname(target), { recursive: true, mode: FOLDER_MODE });
          await writeFile(target, images[i]!, { mode: FILE_MODE });
        }
        return { output_file_paths: prepared.map(({ relative }) => relative) };
      });
    },

    /**
     * `POST /v1/remove-background`, shaped like ObjectCut's: multipart `image_file` (one image),
     * answers the PNG with a transparent background; nothing is stored.
     */
    async removeBackground(req: IncomingMessage, billing: Billing): Promise<Buffer> {
      const { files } = await readMultipart(req, 'image_file', 1);
      if (files.length === 0) throw new ApiError(400, 'no_files', 'Send the image in the "image_file" field');
      const data = files[0]!.data;
      const size = await checkedSize(data);
      if (!UPLOAD_LIMITS.types.includes(size.format))
        throw new ApiError(415, 'unsupported_image', 'Only JPEG, PNG and WebP images are accepted');
      const work = prepareTool('remove-bg', data, size, {}, 'result.png');
      return paidFor(billing, V1_COSTS['remove-background'], () => run(work));
    },

    /**
     * `POST /v1/enhance`, shaped like Smart Image Enhancement's: `{ imageUrl, enhancementType,
     * outputFormat }`. `imageUrl` must name a file of the caller's own storage on this API
     * (`<this API's origin>/v3/files/<path>`) that its credential may read: the server never fetches
     * a URL, so there is no request to make on anyone's behalf (no SSRF), and a 400 says why anything
     * else is refused.
     */
    async enhance(
      caller: Caller,
      body: unknown,
      host: string | undefined,
      billing: Billing,
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
      mayUse(caller, relative, 'imageUrl');
      const data = await readFile(resolveInside(root, folderOf(caller), relative)).catch(() => {
        throw new ApiError(
          400,
          'invalid_image_url',
          `imageUrl names no file of yours: upload it first (${relative})`,
        );
      });
      await checkedSize(data);
      const enhance = () => run(() => enhanceImage(data, enhancementType as EnhancementType, outputFormat));
      const image = await paidFor(billing, V1_COSTS.enhance, enhance);
      return { data: image, contentType: CONTENT_TYPES[outputFormat]! };
    },

    /** `GET /v3/files/<path>`: the bytes, from the raw request URL. */
    async download(caller: Caller, rawUrl: string): Promise<{ data: Buffer; contentType: string }> {
      const relative = filePathFromUrl(rawUrl);
      mayUse(caller, relative, 'path');
      const data = await readFile(resolveInside(root, folderOf(caller), relative)).catch(() => {
        throw new ApiError(404, 'not_found', 'No such file');
      });
      const ext = relative.slice(relative.lastIndexOf('.') + 1).toLowerCase();
      return { data, contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream' };
    },
  };
}

export type ImageService = ReturnType<typeof createImageService>;
