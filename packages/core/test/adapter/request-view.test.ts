import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RequestView } from '../../src/integration-kit.js';
import { tempDir } from '../helpers.js';

const ACCESS = { ip: (req: IncomingMessage) => req.socket.remoteAddress, secure: () => false };

/** A server that answers with what its request view says; `listen` picks TCP or a Unix socket. */
async function viewServer(listen: (server: ReturnType<typeof createServer>) => void) {
  const server = createServer((req, res) => {
    const view = new RequestView(req, req.url ?? '/', req, ACCESS);
    res.end(JSON.stringify({ ip: view.ip ?? null, disconnected: view.disconnected }));
  });
  listen(server);
  await once(server, 'listening');
  return server;
}

function get(options: { port?: number; socketPath?: string }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', path: '/', ...options }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(JSON.parse(body)));
    })
      .on('error', reject)
      .end();
  });
}

describe('RequestView', () => {
  it('sees a live TCP client as connected, with its address', async () => {
    const server = await viewServer((s) => s.listen(0, '127.0.0.1'));
    const port = (server.address() as AddressInfo).port;
    expect(await get({ port })).toEqual({ ip: '127.0.0.1', disconnected: false });
    server.close();
  });

  it('never takes a Unix socket client (no address at all) for a disconnected one', async () => {
    const socketPath = join(await tempDir(), 'api.sock');
    const server = await viewServer((s) => s.listen(socketPath));
    expect(await get({ socketPath })).toEqual({ ip: null, disconnected: false });
    server.close();
  });
});
