// docs/deploy.md, run as a reader would: its server.mjs written out, every command of its `sh`
// blocks (but the npm install) run in order by one bash, against a real PostgreSQL and Redis, and
// the outputs the guide promises checked against what the commands printed.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type PostgresServer, startPostgres } from '../../postgres/test/pg-server.js';
import { type RedisServer, startRedis } from '../../redis/test/redis-server.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CLI = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
// The guide's example ports, replaced by free ones when the commands run.
const GUIDE_PORTS = ['3001', '3002'] as const;

let pg: PostgresServer;
let redis: RedisServer;
let dir: string;
beforeAll(async () => {
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  // Inside this package, so that server.mjs resolves the workspace's keywarden packages and Express.
  dir = await mkdtemp(join(import.meta.dirname, '..', '.deploy-guide-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([pg?.destroy(), redis?.destroy()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

function blocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map(
    (m) => m[1]!,
  );
}

/** Runs `script` in bash in `dir`; resolves when bash exits, then stops what it left running. */
function runScript(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: dir,
      env: { ...process.env, ...env },
      detached: true, // its own process group: the servers it starts in the background go with it
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGTERM'); // the servers: a graceful stop, as the guide wires it
      } catch {
        // nothing left running
      }
      resolve({ code, out });
    });
  });
}

describe('docs/deploy.md', () => {
  it('its commands run as written: two instances share keys, tokens, one rate limit, and a revocation', async () => {
    const guide = await readFile(join(ROOT, 'docs', 'deploy.md'), 'utf8');
    const [server] = blocks(guide, 'js').filter((code) => code.startsWith('// server.mjs'));
    expect(server).toBeDefined();
    await writeFile(join(dir, 'server.mjs'), server!);

    const commands = blocks(guide, 'sh').filter((code) => !code.includes('npm install'));
    expect(commands.length).toBeGreaterThanOrEqual(5);
    const ports = [String(await freePort()), String(await freePort())];
    const toTest = (text: string) =>
      text.replaceAll(GUIDE_PORTS[0], ports[0]!).replaceAll(GUIDE_PORTS[1], ports[1]!);
    const toGuide = (text: string) =>
      text.replaceAll(ports[0]!, GUIDE_PORTS[0]).replaceAll(ports[1]!, GUIDE_PORTS[1]);
    const script = [
      'set -euo pipefail',
      // `npx keywarden` is this workspace's CLI (what `npm install --save-dev @keywarden/cli` gives).
      'npx() { if [ "$1" = keywarden ]; then shift; node "$KEYWARDEN_CLI" "$@"; else command npx "$@"; fi; }',
      ...commands.map(toTest),
    ].join('\n');
    const { code, out: raw } = await runScript(script, {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      KEYWARDEN_CLI: CLI,
    });
    const out = toGuide(raw);
    expect(code, out).toBe(0);

    // Step 4: the key works on both instances, with any header form.
    const [, keyId] = out.match(/\{"keyId":"(\w{12})","ownerId":"acme","kind":"api_key"\}/) ?? [];
    expect(keyId, out).toBeDefined();
    expect(out.split(`{"keyId":"${keyId}","ownerId":"acme","kind":"api_key"}`)).toHaveLength(3);
    // Step 5: a token minted on one instance is accepted by the other.
    expect(out).toContain(`{"keyId":"${keyId}","ownerId":"acme","kind":"access_token"}`);
    // Steps 6 and 7: what the guide says the loops print is what they printed.
    const promised = [...guide.matchAll(/^`(3001:\d{3}(?: 300[12]:\d{3})+)`/gm)].map((m) => m[1]!);
    expect(promised).toEqual(['3001:200 3002:200 3001:429 3002:429 3001:429 3002:429', '3001:401 3002:401']);
    for (const line of promised) expect(out, out).toContain(`${line} \n`);
    // The logs: each instance logged the revoked key's refusal, and no key, token or secret.
    expect(out).toContain('server-3001.log:1\nserver-3002.log:1');
    expect(guide).toContain('`server-3001.log:1` and `server-3002.log:1`');
    for (const port of ports) {
      const log = await readFile(join(dir, `server-${port}.log`), 'utf8');
      expect(log).toContain(keyId);
      expect(log).not.toMatch(/kw_live_\w{50}/);
      expect(log).not.toMatch(/eyJ[\w-]+\.eyJ/);
    }
  }, 120_000);
});
