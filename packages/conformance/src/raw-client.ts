// A raw HTTP/1.1 client over a socket: HTTP clients normalize request targets (`/a/../b`) and merge
// repeated headers, which is exactly what the conformance suite must be able to send.
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** Sent as is, byte for byte. */
  target: string;
  /** Sent in order; a name may repeat. */
  headers?: readonly (readonly [string, string])[];
  body?: string;
  /** Source address to send from (any 127.x.y.z is loopback): how tests play several clients. */
  from?: string;
}

export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

function decodeChunked(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) break;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!size) break;
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  let head = `${request.method} ${request.target} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n`;
  for (const [name, value] of request.headers ?? []) head += `${name}: ${value}\r\n`;
  if (body) head += `content-length: ${body.length}\r\n`;
  head += '\r\n';
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: '127.0.0.1',
      ...(request.from ? { localAddress: request.from } : {}),
    });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () =>
      socket.destroy(new Error(`timeout: ${request.method} ${request.target}`)),
    );
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`no response to ${request.method} ${request.target}`));
      const [statusLine, ...lines] = data.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      let payload: Buffer = data.subarray(split + 4);
      if (headers['transfer-encoding'] === 'chunked') payload = decodeChunked(payload);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: payload.toString('utf8') });
    });
    socket.write(head);
    if (body) socket.write(body);
  });
}
