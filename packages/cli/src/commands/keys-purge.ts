import type { Command } from '../command.js';
import { parseDuration } from '../parse.js';

export const keysPurge: Command = {
  name: 'keys purge',
  summary: 'delete revoked and expired keys past their retention',
  usage:
    'Usage: keywarden keys purge [--older-than <duration>]\n\n  --older-than <duration>   keep keys revoked or expired more recently than this (default 30d)\n\nLive keys are never touched; usage already counted stays. Servers purge once a day by themselves.\n',
  options: { 'older-than': { type: 'string' } },
  async run(ctx) {
    const given = ctx.values['older-than'] as string | undefined;
    const olderThanDays = given === undefined ? 30 : parseDuration(given, '--older-than') / 86_400;
    const purged = await (await ctx.keys()).purge({ olderThanDays: Math.floor(olderThanDays) });
    ctx.print(`Purged ${purged} key${purged === 1 ? '' : 's'}.\n`, { purged });
  },
};
