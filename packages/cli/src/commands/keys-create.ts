import type { Command } from '../command.js';
import { CommandError, UsageError } from '../errors.js';
import { environmentsFrom, SETTING_HELP, SETTING_OPTIONS, settingsFrom } from '../parse.js';

export const keysCreate: Command = {
  name: 'keys create',
  summary: 'create a key and print it once',
  usage: `Usage: keywarden keys create --name <text> [--env <name>] [--account <id>] [options]\n\n${SETTING_HELP}\n  --account <id>            the key's account (its owner), which must exist (accounts create)\n  --env <name>              environment: live (key prefix kw_live, the default), test (kw_test),\n                            or one named in KEYWARDEN_ENVIRONMENTS (name=prefix,...; api=api\n                            makes keys that start api_)\n\nPrints the plaintext key once; only its hash is stored.\n`,
  options: { ...SETTING_OPTIONS, env: { type: 'string' }, account: { type: 'string' } },
  createsStore: true,
  async run(ctx) {
    const { values } = ctx;
    if (values.name === undefined) throw new UsageError('keys create needs --name');
    const env = (values.env as string | undefined) ?? 'live';
    const known = Object.keys(environmentsFrom(ctx.io.env));
    if (!known.includes(env)) throw new UsageError(`--env must be one of ${known.join(', ')}`);
    const account = values.account as string | undefined;
    if (account !== undefined && values.owner !== undefined)
      throw new UsageError('give --account or --owner, not both');
    const keys = await ctx.keys();
    // A typo in an account id would make a key no account limits: the account must exist.
    if (account !== undefined && (await keys.accounts.get(account)) === null)
      throw new CommandError(`no account with id ${account} (accounts create makes one)`);
    const created = await keys.create({
      ...settingsFrom(values, ctx.now),
      ...(account === undefined ? {} : { ownerId: account }),
      name: values.name as string,
      environment: env,
    });
    ctx.print(
      `Created key ${created.record.id} (${created.record.name}). Copy it now: it is not shown again.\n\n  ${created.key}\n\n`,
      { key: created.key, record: created.record },
    );
  },
};
