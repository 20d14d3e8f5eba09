import type { Command } from '../command.js';
import { CommandError } from '../errors.js';
import { when } from '../format.js';

export const keysRevoke: Command = {
  name: 'keys revoke',
  summary: 'revoke a key at once',
  usage: 'Usage: keywarden keys revoke <id> [--json]\n',
  takesId: true,
  async run(ctx) {
    const revoked = await (await ctx.keys()).revoke(ctx.id);
    if (revoked === null) throw new CommandError(`no key with id ${ctx.id}`);
    ctx.print(`Revoked ${ctx.id} at ${when(revoked.revokedAt)}.\n`, revoked);
  },
};
