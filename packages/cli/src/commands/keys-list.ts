import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { status, table, when } from '../format.js';

export const keysList: Command = {
  name: 'keys list',
  summary: 'list keys',
  usage: 'Usage: keywarden keys list [--account <id> | --owner <id>] [--json]\n',
  options: { owner: { type: 'string' }, account: { type: 'string' } },
  async run(ctx) {
    const keys = await ctx.keys();
    if (ctx.values.owner !== undefined && ctx.values.account !== undefined)
      throw new UsageError('give --account or --owner, not both');
    const owner = (ctx.values.account ?? ctx.values.owner) as string | undefined;
    const list = await keys.list(owner === undefined ? {} : { ownerId: owner });
    const rows = [['ID', 'NAME', 'ENV', 'STATUS', 'SCOPES', 'EXPIRES', 'LAST USED']];
    for (const key of list) {
      const scopes = key.scopes.join(' ') || '-';
      rows.push([
        key.id,
        key.name,
        key.environment,
        status(key, ctx.now),
        scopes,
        when(key.expiresAt),
        when(key.lastUsedAt),
      ]);
    }
    ctx.print(list.length ? table(rows) : 'No keys.\n', list);
  },
};
