import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { environmentsFrom, SETTING_HELP, SETTING_OPTIONS, settingsFrom } from '../parse.js';

export const keysCreate: Command = {
  name: 'keys create',
  summary: 'create a key and print it once',
  usage: `Usage: keywarden keys create --name <text> [--env <name>] [options]\n\n${SETTING_HELP}\n  --env <name>              environment: live (key prefix kw_live, the default), test (kw_test),\n                            or one named in KEYWARDEN_ENVIRONMENTS (name=prefix,...; api=api\n                            makes keys that start api_)\n\nPrints the plaintext key once; only its hash is stored.\n`,
  options: { ...SETTING_OPTIONS, env: { type: 'string' } },
  createsStore: true,
  async run(ctx) {
    const { values } = ctx;
    if (values.name === undefined) throw new UsageError('keys create needs --name');
    const env = (values.env as string | undefined) ?? 'live';
    const known = Object.keys(environmentsFrom(ctx.io.env));
    if (!known.includes(env)) throw new UsageError(`--env must be one of ${known.join(', ')}`);
    const keys = await ctx.keys();
    const created = await keys.create({
      ...settingsFrom(values, ctx.now),
      name: values.name as string,
      environment: env,
    });
    ctx.print(
      `Created key ${created.record.id} (${created.record.name}). Copy it now: it is not shown again.\n\n  ${created.key}\n\n`,
      { key: created.key, record: created.record },
    );
  },
};
