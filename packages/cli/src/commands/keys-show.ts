import type { Command } from '../command.js';
import { CommandError } from '../errors.js';
import { describeKey } from '../format.js';

export const keysShow: Command = {
  name: 'keys show',
  summary: 'show one key',
  usage: 'Usage: keywarden keys show <id> [--json]\n',
  takesId: true,
  async run(ctx) {
    const key = await (await ctx.keys()).get(ctx.id);
    if (key === null) throw new CommandError(`no key with id ${ctx.id}`);
    ctx.print(describeKey(key, ctx.now), key);
  },
};
