import { accountUsageId, type UsageDay } from '@keywarden/core';
import type { Command, CommandContext } from '../command.js';
import { CommandError, UsageError } from '../errors.js';
import { table } from '../format.js';
import { loadRedis } from '../optional-packages.js';

const DAY_MS = 86_400_000;
const BAR_WIDTH = 30;

/** Every day of the range, those without usage as zeros, so the chart shows gaps as gaps. */
function everyDay(found: UsageDay[], from: string, to: string): UsageDay[] {
  const byDay = new Map(found.map((day) => [day.day, day]));
  const days: UsageDay[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push(byDay.get(day) ?? { day, requests: 0, units: 0, refusals: {} });
  }
  return days;
}

/** The table, with a bar of each day's units scaled to the busiest day. */
function chart(days: UsageDay[]): string {
  const most = Math.max(1, ...days.map((day) => day.units));
  const rows = [['DAY', 'REQUESTS', 'UNITS', 'REFUSED', '']];
  for (const day of days) {
    const refused = Object.entries(day.refusals)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    const bar = '█'.repeat(Math.round((day.units / most) * BAR_WIDTH)) || (day.units > 0 ? '▏' : '');
    rows.push([day.day, String(day.requests), String(day.units), refused || '-', bar]);
  }
  const total = (pick: (day: UsageDay) => number) => String(days.reduce((sum, day) => sum + pick(day), 0));
  rows.push(['total', total((d) => d.requests), total((d) => d.units), '', '']);
  return table(rows);
}

/** Whose usage a command reads: a key's, or an account's (its keys' summed). */
export type Whose = 'key' | 'account';

/**
 * Usage of key or account `id` from `--redis` (the servers' Redis limit store) or from the key
 * store (PostgreSQL).
 */
export async function readUsage(
  ctx: CommandContext,
  whose: Whose,
  range: { id: string; from: string; to: string },
): Promise<UsageDay[]> {
  const { id, from, to } = range;
  const url = (ctx.values.redis as string | undefined) ?? ctx.io.env.KEYWARDEN_REDIS_URL;
  if (url !== undefined) {
    const { createRedisLimitStore } = await loadRedis();
    const store = createRedisLimitStore({ url, leases: false, timeoutMs: 5000 });
    try {
      return await store.usage.read(whose === 'key' ? id : accountUsageId(id), from, to);
    } finally {
      await store.close();
    }
  }
  const keys = await ctx.keys();
  if (keys.usageStore === null)
    throw new CommandError(
      'a keys file keeps no usage: with the default memory limits it lives in the server process (keys.usage(id) there, gone on restart); run the servers with @keywarden/redis and give --redis <url>, or keep keys in a postgres:// --store',
    );
  return whose === 'key' ? keys.usage(id, { from, to }) : keys.accounts.usage(id, { from, to });
}

function usageCommand(whose: Whose): Command {
  const what = whose === 'key' ? "a key's usage" : "an account's usage, all its keys summed";
  return {
    name: `${whose === 'key' ? 'keys' : 'accounts'} usage`,
    summary: `${what} per UTC day (requests, units, refusals)`,
    usage: `Usage: keywarden ${whose === 'key' ? 'keys' : 'accounts'} usage <id> [--days 30] [--redis <url>] [--json]

Reads what the servers metered: from PostgreSQL (a postgres:// --store), or from the Redis their
limit store uses (--redis, env KEYWARDEN_REDIS_URL). The last --days days, today (UTC) included.
`,
    options: { days: { type: 'string' }, redis: { type: 'string' } },
    takesId: true,
    ...(whose === 'account' ? { idName: 'account id' } : {}),
    async run(ctx) {
      const text = (ctx.values.days as string | undefined) ?? '30';
      if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 3660)
        throw new UsageError('--days must be a whole number of days from 1 to 3660');
      const to = new Date(ctx.now).toISOString().slice(0, 10);
      const from = new Date(Date.parse(to) - (Number(text) - 1) * DAY_MS).toISOString().slice(0, 10);
      const days = everyDay(await readUsage(ctx, whose, { id: ctx.id, from, to }), from, to);
      const ids = whose === 'key' ? { keyId: ctx.id } : { accountId: ctx.id };
      ctx.print(chart(days), { ...ids, from, to, days });
    },
  };
}

export const keysUsage = usageCommand('key');
export const accountsUsage = usageCommand('account');
