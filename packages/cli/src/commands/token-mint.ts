import { createKeywarden } from '@keywarden/core';
import type { Command } from '../command.js';
import { asUsageError, CommandError, UsageError } from '../errors.js';
import { parseDuration } from '../parse.js';

export const tokenMint: Command = {
  name: 'token mint',
  summary: 'mint an access token for a key (for testing)',
  usage:
    "Usage: keywarden token mint --key <id> [--path <pattern>]... [--expires-in <seconds>] [--secret <s>] [--json]\n\nThe signing secret comes from --secret or KEYWARDEN_TOKEN_SECRET and must be the server's.\n",
  options: {
    key: { type: 'string' },
    path: { type: 'string', multiple: true },
    'expires-in': { type: 'string' },
    secret: { type: 'string' },
  },
  async run(ctx) {
    const { values, io } = ctx;
    if (values.key === undefined) throw new UsageError('token mint needs --key <id>');
    const secret = (values.secret as string | undefined) ?? io.env.KEYWARDEN_TOKEN_SECRET;
    if (!secret) throw new UsageError('token mint needs --secret or KEYWARDEN_TOKEN_SECRET');
    const keys = await ctx.keys();
    let keywarden: ReturnType<typeof createKeywarden>;
    try {
      keywarden = createKeywarden({
        keys,
        tokens: { secrets: [{ id: io.env.KEYWARDEN_TOKEN_KID ?? 'main', secret }] },
      });
    } catch (error) {
      throw asUsageError(error);
    }
    const expiresIn =
      values['expires-in'] === undefined ? 60 : parseDuration(values['expires-in'] as string, '--expires-in');
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
