import { readFile } from 'node:fs/promises';
import {
  ACCESS_TOKEN_LIFETIME,
  createHmacHasher,
  createKeyManager,
  createKeywarden,
  createMemoryKeyStore,
} from '@keywarden/core';
import type { Command, CommandContext } from '../command.js';
import { asUsageError, CommandError, UsageError } from '../errors.js';
import { parseDuration } from '../parse.js';

/**
 * The signing secret: from `--secret-file` or `KEYWARDEN_TOKEN_SECRET`, never from the command line
 * itself, where every user of the machine sees it (`ps`) and the shell keeps it in its history.
 */
async function signingSecret({ values, io }: CommandContext): Promise<string> {
  const file = values['secret-file'] as string | undefined;
  if (file === undefined) {
    const secret = io.env.KEYWARDEN_TOKEN_SECRET;
    if (!secret) throw new UsageError('token mint needs --secret-file <path> or KEYWARDEN_TOKEN_SECRET');
    return secret;
  }
  try {
    // One trailing newline is what editors and `echo` leave; the secret itself is base64url.
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw new CommandError(
      `cannot read --secret-file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

// Hashes nothing: it only completes the key manager the settings check needs.
const CHECK_ONLY = createHmacHasher({ pepper: 'settings-check-only-never-hashes-a-key' });

export const tokenMint: Command = {
  name: 'token mint',
  summary: 'mint an access token for a key (for testing)',
  usage: `Usage: keywarden token mint --key <id> [--path <pattern>]... [--expires-in <duration>]
                             [--secret-file <path>] [--issuer <iss>] [--audience <aud>] [--json]

  --key <id>               the key the token acts for
  --path <pattern>         repeatable; within the key's own patterns (default: the key's)
  --expires-in <duration>  e.g. 60, 90s, 5m, at most 10m (default 60 seconds)
  --secret-file <path>     the signing secret, as your server has it (or KEYWARDEN_TOKEN_SECRET;
                           key id from KEYWARDEN_TOKEN_KID, default main)
  --issuer <iss>           the token's issuer, as your server's tokens.issuer (default keywarden)
  --audience <aud>         the token's audience, as your server's tokens.audience (default keywarden)

The secret is never taken from the command line, where ps and the shell history show it.
`,
  refuses: {
    secret:
      '--secret is not taken: a secret on the command line shows in ps and the shell history; use --secret-file <path> or KEYWARDEN_TOKEN_SECRET',
  },
  options: {
    key: { type: 'string' },
    path: { type: 'string', multiple: true },
    'expires-in': { type: 'string' },
    'secret-file': { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
  },
  async run(ctx) {
    const { values, io } = ctx;
    if (values.key === undefined) throw new UsageError('token mint needs --key <id>');
    const secret = await signingSecret(ctx);
    const claims = {
      ...(values.issuer !== undefined ? { issuer: values.issuer as string } : {}),
      ...(values.audience !== undefined ? { audience: values.audience as string } : {}),
    };
    const expiresIn =
      values['expires-in'] === undefined ? 60 : parseDuration(values['expires-in'] as string, '--expires-in');
    const { min, max } = ACCESS_TOKEN_LIFETIME;
    if (expiresIn < min || expiresIn > max)
      throw new UsageError(`--expires-in must be from ${min} second to ${max / 60} minutes (${max} seconds)`);
    const tokens = { secrets: [{ id: io.env.KEYWARDEN_TOKEN_KID ?? 'main', secret }], ...claims };
    // The token settings are checked before the store opens, so a wrong one is a usage error
    // (exit code 2) whatever the state of the store.
    try {
      createKeywarden({
        keys: createKeyManager({ store: createMemoryKeyStore(), hasher: CHECK_ONLY }),
        tokens,
      });
    } catch (error) {
      throw asUsageError(error);
    }
    const keywarden = createKeywarden({ keys: await ctx.keys(), tokens });
    try {
      const paths = values.path ? { paths: values.path as string[] } : {};
      const minted = await keywarden.mintAccessToken(values.key as string, { ...paths, expiresIn });
      ctx.print(`${minted.token}\n`, minted);
    } catch (error) {
      const detail = (error as { detail?: string }).detail;
      throw new CommandError(detail ?? `key ${values.key} cannot mint: ${(error as Error).message}`);
    }
  },
};
