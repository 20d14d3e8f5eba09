import type { ApiKeyInfo } from '@keywarden/core';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { status, table, when } from '../format.js';

/** A page unless `--limit` says otherwise: one screen of a terminal's scrollback, one query. */
const PAGE = 100;
const HEADER = ['ID', 'NAME', 'ENV', 'STATUS', 'SCOPES', 'EXPIRES', 'LAST USED'];

const row = (key: ApiKeyInfo, now: number) => [
  key.id,
  key.name,
  key.environment,
  status(key, now),
  key.scopes.join(' ') || '-',
  when(key.expiresAt),
  when(key.lastUsedAt),
];

/** Whole numbers from 1 to 1,000, as the key manager takes them. */
function limitOf(text: unknown): number {
  if (text === undefined) return PAGE;
  if (typeof text !== 'string' || !/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000)
    throw new UsageError('--limit must be a whole number from 1 to 1000');
  return Number(text);
}

/**
 * `--all`: every key, a page of 500 at a time, each page written as it arrives, so memory holds
 * one page whatever the size of the store; under `--json`, one JSON array written in pieces.
 */
async function streamAll(ctx: CommandContext, ownerId: string | undefined): Promise<void> {
  const keys = await ctx.keys();
  const json = ctx.values.json === true;
  let page: ApiKeyInfo[] = [];
  let count = 0;
  const flush = () => {
    if (page.length === 0) return;
    if (json) ctx.io.stdout(page.map((key) => `${count++ ? ',' : '['}\n${JSON.stringify(key)}`).join(''));
    else ctx.io.stdout(table([...(count === 0 ? [HEADER] : []), ...page.map((key) => row(key, ctx.now))]));
    if (!json) count += page.length;
    page = [];
  };
  for await (const key of keys.listAll(ownerId === undefined ? {} : { ownerId })) {
    page.push(key);
    if (page.length === 500) flush();
  }
  flush();
  if (json) ctx.io.stdout(count ? '\n]\n' : '[]\n');
  else if (count === 0) ctx.io.stdout('No keys.\n');
}

export const keysList: Command = {
  name: 'keys list',
  summary: 'list keys, a page at a time',
  usage:
    'Usage: keywarden keys list [--account <id> | --owner <id>] [--limit <n>] [--after <id>] [--all] [--json]\n\n' +
    `Oldest first, ${PAGE} keys unless --limit (1 to 1000) says otherwise; --after <id> lists the keys\n` +
    'after that one (the last id of the previous page); --all streams every key.\n',
  options: {
    owner: { type: 'string' },
    account: { type: 'string' },
    limit: { type: 'string' },
    after: { type: 'string' },
    all: { type: 'boolean' },
  },
  async run(ctx) {
    if (ctx.values.owner !== undefined && ctx.values.account !== undefined)
      throw new UsageError('give --account or --owner, not both');
    const owner = (ctx.values.account ?? ctx.values.owner) as string | undefined;
    const after = ctx.values.after as string | undefined;
    if (ctx.values.all === true) {
      if (ctx.values.limit !== undefined || after !== undefined)
        throw new UsageError('--all lists every key: give it without --limit and --after');
      return streamAll(ctx, owner);
    }
    const limit = limitOf(ctx.values.limit);
    const keys = await ctx.keys();
    let list: ApiKeyInfo[];
    try {
      // One more than the page tells whether another follows.
      list = await keys.list({
        limit: Math.min(limit + 1, 1000),
        ...(owner === undefined ? {} : { ownerId: owner }),
        ...(after === undefined ? {} : { after }),
      });
    } catch (error) {
      if (error instanceof RangeError && after !== undefined)
        throw new UsageError(`--after: no key with id ${after}`);
      throw error;
    }
    const more = list.length > limit;
    const page = list.slice(0, limit);
    ctx.print(page.length ? table([HEADER, ...page.map((key) => row(key, ctx.now))]) : 'No keys.\n', page);
    if (more)
      ctx.io.stderr(
        `More keys follow: keywarden keys list --after ${page.at(-1)!.id} (or --all for every key)\n`,
      );
  },
};
