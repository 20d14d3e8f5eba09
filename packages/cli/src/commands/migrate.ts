import type { Command } from '../command.js';
import { UsageError } from '../errors.js';
import { loadPostgres } from '../optional-packages.js';

export const migrate: Command = {
  name: 'migrate',
  summary: 'create or update the PostgreSQL schema',
  usage: 'Usage: keywarden migrate --store postgres://...\n',
  async run(ctx) {
    if (!/^postgres(ql)?:\/\//.test(ctx.storeTarget))
      throw new UsageError('migrate needs --store postgres://...');
    const { createPostgresKeyStore } = await loadPostgres();
    const pg = createPostgresKeyStore({
      connectionString: ctx.storeTarget,
      listen: false,
      timeoutMs: 10_000,
    });
    try {
      const applied = await pg.migrate();
      ctx.print(
        applied.length ? `Applied migrations ${applied.join(', ')}.\n` : 'The schema is up to date.\n',
        {
          applied,
        },
      );
    } finally {
      await pg.close();
    }
  },
};
