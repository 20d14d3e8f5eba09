// `keywarden usage export`: what every account used, one row per account and billing period, for
// a billing job. Each row has an id made from the account and the period alone, so a job that
// sends the same export twice (a retry, a re-run) can let the billing side drop the second copy
// (a meter event's identifier, an idempotency key); only complete periods should be sent, since a
// row of a period still running changes while its id does not (`complete` says which).
import { createHash } from 'node:crypto';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { readUsage } from './keys-usage.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

/** One account's usage in one period. */
interface UsageRow {
  /** Stable: the same account and period always give the same id. */
  id: string;
  account: string;
  plan: string;
  /** `YYYY-MM` (month) or `YYYY-MM-DD` (day), UTC. */
  period: string;
  requests: number;
  /** Units charged within the plan's quota. */
  unitsInQuota: number;
  /** Units charged to the account's prepaid credits, past its quota. */
  unitsOnCredits: number;
  /** Requests refused once the account was known, every code. */
  refused: number;
  /** Whether the period ended before the export (a running period's row still grows). */
  complete: boolean;
}

function dayOption(ctx: CommandContext, name: 'from' | 'to', fallback: string): string {
  const value = (ctx.values[name] as string | undefined) ?? fallback;
  const time = DAY.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== value)
    throw new UsageError(`--${name} must be a day, YYYY-MM-DD`);
  return value;
}

/** The last complete month before `now`: its first and last days. */
function lastMonth(now: number): { from: string; to: string } {
  const date = new Date(now);
  const first = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - 1, 1);
  const last = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) - DAY_MS;
  return { from: new Date(first).toISOString().slice(0, 10), to: new Date(last).toISOString().slice(0, 10) };
}

/** The period a day falls in, and the first day after that period. */
function periodOf(day: string, by: 'month' | 'day'): { period: string; end: number } {
  const t = Date.parse(day);
  if (by === 'day') return { period: day, end: t + DAY_MS };
  const date = new Date(t);
  return { period: day.slice(0, 7), end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) };
}

const rowId = (account: string, period: string) =>
  `kwu_${createHash('sha256').update(`${account}\n${period}`).digest('hex').slice(0, 32)}`;

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(rows: UsageRow[]): string {
  const head = 'id,account,plan,period,requests,units_in_quota,units_on_credits,refused,complete';
  const lines = rows.map((r) =>
    [r.id, r.account, r.plan, r.period, r.requests, r.unitsInQuota, r.unitsOnCredits, r.refused, r.complete]
      .map(csvField)
      .join(','),
  );
  return `${[head, ...lines].join('\n')}\n`;
}

export const usageExport: Command = {
  name: 'usage export',
  summary: "every account's usage per billing period, as CSV or JSON, for a billing job",
  usage: `Usage: keywarden usage export [--from <day>] [--to <day>] [--period month|day] [--format csv|json] [--redis <url>]

  --from, --to        the days to export (UTC, inclusive); default: the last complete month
  --period            one row per account and month (default) or day
  --format            csv (default) or json

Each row's id depends on the account and the period only: a billing job that sends an export
twice, with the id as its idempotency key, is charged once. Send complete periods only (the
complete column): a running period's row still grows. Reads usage from PostgreSQL (a postgres://
--store) or from the servers' Redis (--redis, env KEYWARDEN_REDIS_URL).
`,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    period: { type: 'string' },
    format: { type: 'string' },
    redis: { type: 'string' },
  },
  async run(ctx) {
    const fallback = lastMonth(ctx.now);
    const from = dayOption(ctx, 'from', fallback.from);
    const to = dayOption(ctx, 'to', fallback.to);
    if (from > to) throw new UsageError('--from must not be after --to');
    if (Date.parse(to) - Date.parse(from) > 3660 * DAY_MS) throw new UsageError('the range is over 10 years');
    const by = (ctx.values.period as string | undefined) ?? 'month';
    if (by !== 'month' && by !== 'day') throw new UsageError('--period must be month or day');
    const format = (ctx.values.format as string | undefined) ?? 'csv';
    if (format !== 'csv' && format !== 'json') throw new UsageError('--format must be csv or json');
    const keys = await ctx.keys();
    const rows: UsageRow[] = [];
    for (const account of await keys.accounts.list()) {
      const days = await readUsage(ctx, 'account', { id: account.id, from, to });
      const periods = new Map<string, UsageRow>();
      for (const day of days) {
        const { period, end } = periodOf(day.day, by);
        let row = periods.get(period);
        if (row === undefined) {
          const complete = end <= ctx.now && end - DAY_MS <= Date.parse(to);
          row = {
            id: rowId(account.id, period),
            account: account.id,
            plan: account.plan,
            period,
            requests: 0,
            unitsInQuota: 0,
            unitsOnCredits: 0,
            refused: 0,
            complete,
          };
          periods.set(period, row);
        }
        row.requests += day.requests;
        row.unitsInQuota += day.units - (day.credits ?? 0);
        row.unitsOnCredits += day.credits ?? 0;
        for (const count of Object.values(day.refusals)) row.refused += count;
      }
      rows.push(...periods.values());
    }
    ctx.io.stdout(format === 'csv' ? toCsv(rows) : `${JSON.stringify(rows, null, 2)}\n`);
  },
};
