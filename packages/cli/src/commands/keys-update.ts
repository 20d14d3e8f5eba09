import type { Command } from '../command.js';
import { CommandError, UsageError } from '../errors.js';
import { describeKey } from '../format.js';
import { SETTING_HELP, SETTING_OPTIONS, settingsFrom } from '../parse.js';

export const keysUpdate: Command = {
  name: 'keys update',
  summary: "change a key's settings",
  usage: `Usage: keywarden keys update <id> [options]\n\n${SETTING_HELP}\n  --no-expiry               remove the expiry\n  --rate none | --quota none  remove a limit\n\nRepeatable options replace the whole list when given.\n`,
  options: { ...SETTING_OPTIONS, 'no-expiry': { type: 'boolean' } },
  takesId: true,
  async run(ctx) {
    const settings = settingsFrom(ctx.values, ctx.now);
    if (Object.keys(settings).length === 0)
      throw new UsageError('keys update needs at least one setting to change');
    const updated = await (await ctx.keys()).update(ctx.id, settings);
    if (updated === null) throw new CommandError(`no key with id ${ctx.id}`);
    ctx.print(describeKey(updated, ctx.now), updated);
  },
};
