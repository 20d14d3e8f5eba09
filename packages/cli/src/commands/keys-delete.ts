import type { Command } from '../command.js';
import { CommandError } from '../errors.js';

export const keysDelete: Command = {
  name: 'keys delete',
  summary: 'delete a key',
  usage: 'Usage: keywarden keys delete <id> [--json]\n',
  takesId: true,
  async run(ctx) {
    if (!(await (await ctx.keys()).delete(ctx.id))) throw new CommandError(`no key with id ${ctx.id}`);
    ctx.print(`Deleted ${ctx.id}.\n`, { deleted: ctx.id });
  },
};
