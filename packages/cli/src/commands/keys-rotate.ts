import type { Command } from '../command.js';
import { CommandError } from '../errors.js';
import { when } from '../format.js';
import { parseDuration } from '../parse.js';

export const keysRotate: Command = {
  name: 'keys rotate',
  summary: 'replace a key, keeping the old one for a grace period',
  usage:
    'Usage: keywarden keys rotate <id> [--grace <duration>] [--json]\n\nThe old key keeps working until min(now + grace, its own expiry). Default grace: 24h.\n',
  options: { grace: { type: 'string' } },
  takesId: true,
  async run(ctx) {
    const { id } = ctx;
    const grace =
      ctx.values.grace === undefined ? undefined : parseDuration(ctx.values.grace as string, '--grace');
    const keys = await ctx.keys();
    const rotated = await keys.rotate(id, grace === undefined ? {} : { gracePeriodSeconds: grace });
    if (rotated === null) throw new CommandError(`no key with id ${id}`);
    const old = await keys.get(id);
    ctx.print(
      `Rotated ${id} to ${rotated.record.id}. The old key works until ${when(old?.expiresAt ?? null)}.\nCopy the new key now: it is not shown again.\n\n  ${rotated.key}\n\n`,
      { key: rotated.key, record: rotated.record, old },
    );
  },
};
