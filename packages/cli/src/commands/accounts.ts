// `keywarden accounts ...`: the customers keys belong to, each on a plan the servers configure.
import type { AccountLimits, AccountRecord, AccountSettings } from '@keywarden/core';
import type { Command, CommandContext } from '../command.js';
import { CommandError, UsageError } from '../errors.js';
import { table, when } from '../format.js';
import { parseMetadata, parseQuota, parseRate, type Values } from '../parse.js';

const LIMIT_HELP = `  --rate <n>/<window>       the account's rate limit in place of its plan's, repeatable for
                            several windows (100/1s and 6000/1h); none for no rate limit
  --quota <n>/<day|month>   the account's quota in place of its plan's; none for no quota
  --max-keys <n>            most active keys in place of the plan's
  --overage refuse|credits  past the quota: refuse (429), or spend prepaid credits (402 when none)
  --metadata <k=v>          repeatable`;

const LIMIT_OPTIONS = {
  rate: { type: 'string', multiple: true },
  quota: { type: 'string' },
  'max-keys': { type: 'string' },
  overage: { type: 'string' },
  metadata: { type: 'string', multiple: true },
} as const;

/** The overrides the command line gives (only those given). */
function overridesFrom(values: Values): AccountLimits {
  const overrides: AccountLimits = {};
  const rates = values.rate as string[] | undefined;
  if (rates !== undefined)
    overrides.rateLimits = rates.includes('none') ? [] : rates.map((rate) => parseRate(rate)!);
  if (values.quota !== undefined) overrides.quota = parseQuota(values.quota as string);
  if (values['max-keys'] !== undefined) {
    const text = values['max-keys'] as string;
    if (!/^\d{1,6}$/.test(text)) throw new UsageError('--max-keys must be a whole number');
    overrides.maxKeys = Number(text);
  }
  if (values.overage !== undefined) {
    if (values.overage !== 'refuse' && values.overage !== 'credits')
      throw new UsageError('--overage must be refuse or credits');
    overrides.overage = values.overage;
  }
  return overrides;
}

function describe(account: AccountRecord): string {
  const { overrides } = account;
  const rates = overrides.rateLimits?.map((r) => `${r.limit} per ${r.windowSeconds} s`).join(', ');
  const lines: [string, string][] = [
    ['id', account.id],
    ['plan', account.plan],
    ['status', account.status],
    ['rate limits', rates === undefined ? "the plan's" : rates || 'none'],
    [
      'quota',
      overrides.quota === undefined
        ? "the plan's"
        : overrides.quota === null
          ? 'none'
          : `${overrides.quota.limit} per ${overrides.quota.period}`,
    ],
    ['max keys', overrides.maxKeys === undefined ? "the plan's" : String(overrides.maxKeys)],
    ['overage', overrides.overage ?? "the plan's"],
    ['credits', `${account.credits} granted in all`],
    ['metadata', Object.keys(account.metadata).length ? JSON.stringify(account.metadata) : '-'],
    ['created', when(account.createdAt)],
    ['updated', when(account.updatedAt)],
  ];
  return table(lines.map(([k, v]) => [`${k}:`, v]));
}

async function accountsOf(ctx: CommandContext) {
  return (await ctx.keys()).accounts;
}

export const accountsCreate: Command = {
  name: 'accounts create',
  summary: 'create an account (a customer) on a plan',
  usage: `Usage: keywarden accounts create <id> --plan <name> [options]\n\n  --plan <name>             the plan, as your servers' plans option names it\n${LIMIT_HELP}\n\nThe id is what the account's keys hold as their owner (keys create --account <id>).\n`,
  options: { plan: { type: 'string' }, ...LIMIT_OPTIONS },
  takesId: true,
  idName: 'account id',
  createsStore: true,
  async run(ctx) {
    if (ctx.values.plan === undefined) throw new UsageError('accounts create needs --plan');
    const metadata = ctx.values.metadata as string[] | undefined;
    const created = await (await accountsOf(ctx)).create({
      id: ctx.id,
      plan: ctx.values.plan as string,
      overrides: overridesFrom(ctx.values),
      ...(metadata ? { metadata: parseMetadata(metadata) } : {}),
    });
    ctx.print(`Created account ${created.id} on plan ${created.plan}.\n`, created);
  },
};

export const accountsList: Command = {
  name: 'accounts list',
  summary: 'list accounts',
  usage: 'Usage: keywarden accounts list [--plan <name>] [--status active|suspended] [--json]\n',
  options: { plan: { type: 'string' }, status: { type: 'string' } },
  async run(ctx) {
    const status = ctx.values.status as string | undefined;
    if (status !== undefined && status !== 'active' && status !== 'suspended')
      throw new UsageError('--status must be active or suspended');
    const plan = ctx.values.plan as string | undefined;
    const list = await (await accountsOf(ctx)).list({
      ...(plan === undefined ? {} : { plan }),
      ...(status === undefined ? {} : { status }),
    });
    const keys = await ctx.keys();
    const rows = [['ID', 'PLAN', 'STATUS', 'ACTIVE KEYS', 'CREATED']];
    for (const account of list) {
      // One count per account (one indexed query on PostgreSQL), never a read of every key.
      const active = await keys.count({ ownerId: account.id, activeAt: new Date(ctx.now) });
      rows.push([account.id, account.plan, account.status, String(active), when(account.createdAt)]);
    }
    ctx.print(list.length ? table(rows) : 'No accounts.\n', list);
  },
};

export const accountsShow: Command = {
  name: 'accounts show',
  summary: 'show one account',
  usage: 'Usage: keywarden accounts show <id> [--json]\n',
  takesId: true,
  idName: 'account id',
  async run(ctx) {
    const account = await (await accountsOf(ctx)).get(ctx.id);
    if (account === null) throw new CommandError(`no account with id ${ctx.id}`);
    ctx.print(describe(account), account);
  },
};

export const accountsUpdate: Command = {
  name: 'accounts update',
  summary: "change an account's plan, limits or metadata",
  usage: `Usage: keywarden accounts update <id> [--plan <name>] [options] [--plan-limits]\n\n  --plan <name>             move the account to another plan\n${LIMIT_HELP}\n  --plan-limits             drop the account's own limits: its plan's apply again\n\nA limit given replaces the account's own value of it; the others stay.\n`,
  options: { plan: { type: 'string' }, ...LIMIT_OPTIONS, 'plan-limits': { type: 'boolean' } },
  takesId: true,
  idName: 'account id',
  async run(ctx) {
    const accounts = await accountsOf(ctx);
    const existing = await accounts.get(ctx.id);
    if (existing === null) throw new CommandError(`no account with id ${ctx.id}`);
    const given = overridesFrom(ctx.values);
    const settings: AccountSettings = {};
    if (ctx.values.plan !== undefined) settings.plan = ctx.values.plan as string;
    if (ctx.values['plan-limits']) {
      if (Object.keys(given).length > 0) throw new UsageError('--plan-limits and a limit cannot go together');
      settings.overrides = {};
    } else if (Object.keys(given).length > 0) settings.overrides = { ...existing.overrides, ...given };
    const metadata = ctx.values.metadata as string[] | undefined;
    if (metadata) settings.metadata = parseMetadata(metadata);
    if (Object.keys(settings).length === 0) throw new UsageError('accounts update needs something to change');
    const updated = (await accounts.update(ctx.id, settings))!;
    ctx.print(describe(updated), updated);
  },
};

function statusCommand(verb: 'suspend' | 'resume'): Command {
  return {
    name: `accounts ${verb}`,
    summary:
      verb === 'suspend'
        ? "refuse an account's keys and tokens (403 account_suspended) until resumed"
        : "let a suspended account's keys work again",
    usage: `Usage: keywarden accounts ${verb} <id>\n\nServers on the same store follow within a second.\n`,
    takesId: true,
    idName: 'account id',
    async run(ctx) {
      const accounts = await accountsOf(ctx);
      const account = await (verb === 'suspend' ? accounts.suspend(ctx.id) : accounts.resume(ctx.id));
      if (account === null) throw new CommandError(`no account with id ${ctx.id}`);
      ctx.print(`Account ${account.id} is ${account.status}.\n`, account);
    },
  };
}

export const accountsCredit: Command = {
  name: 'accounts credit',
  summary: 'add prepaid units to an account (a top-up), with the reason',
  usage: `Usage: keywarden accounts credit <id> +<units> --reason <text>

  --reason <text>           why (an invoice, a goodwill grant): kept in the audit event

Atomic: top-ups from several places at once all count. On a plan with overage on credits, requests
past the quota spend them; they never reset.
`,
  options: { reason: { type: 'string' } },
  takesId: true,
  idName: 'account id',
  argumentName: 'a number of units (+500)',
  async run(ctx) {
    if (!/^\+?\d{1,15}$/.test(ctx.argument) || Number(ctx.argument) < 1)
      throw new UsageError('the units must be a whole number from 1, such as +500');
    const reason = ctx.values.reason as string | undefined;
    if (reason === undefined) throw new UsageError('--reason is required: say why the credits are granted');
    const keys = await ctx.keys();
    const amount = Number(ctx.argument);
    const record = await keys.accounts.credit(ctx.id, amount, { reason });
    if (record === null) throw new CommandError(`no account with id ${ctx.id}`);
    ctx.print(`Added ${amount} credits to ${ctx.id}: ${record.credits} granted in all.\n`, {
      id: ctx.id,
      added: amount,
      credits: record.credits,
    });
  },
};

export const accountsSuspend = statusCommand('suspend');
export const accountsResume = statusCommand('resume');

export const accountsDelete: Command = {
  name: 'accounts delete',
  summary: 'revoke all keys of an account, then delete it',
  usage:
    'Usage: keywarden accounts delete <id>\n\nIts keys are revoked first: no key outlives its account.\n',
  takesId: true,
  idName: 'account id',
  async run(ctx) {
    const keys = await ctx.keys();
    let live = 0;
    for await (const key of keys.listAll({ ownerId: ctx.id })) if (key.revokedAt === null) live++;
    if (!(await keys.accounts.delete(ctx.id))) throw new CommandError(`no account with id ${ctx.id}`);
    ctx.print(`Deleted account ${ctx.id}; revoked ${live} key${live === 1 ? '' : 's'}.\n`, {
      id: ctx.id,
      deleted: true,
      keysRevoked: live,
    });
  },
};
