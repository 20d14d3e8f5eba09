import { generateTokenSecret } from '@keywarden/core';
import type { Command } from '../command.js';

export const secretGenerate: Command = {
  name: 'secret generate',
  summary: 'print a new token signing secret',
  usage:
    'Usage: keywarden secret generate [--json]\n\nPrints 32 random bytes as base64url, for KEYWARDEN_TOKEN_SECRET.\n',
  async run(ctx) {
    const secret = generateTokenSecret();
    ctx.print(`${secret}\n`, { secret });
  },
};
