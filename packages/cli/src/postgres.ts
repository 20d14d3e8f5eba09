// PostgreSQL is optional: `@keywarden/postgres` (and with it `pg`) is an optional peer dependency,
// loaded only when a command names a postgres:// store, so file-store users install nothing more.
import { CommandError } from './errors.js';

type PostgresModule = typeof import('@keywarden/postgres');

/** `@keywarden/postgres`, or a clear error (exit code 1) saying how to install it. */
export async function loadPostgres(): Promise<PostgresModule> {
  try {
    return await import('@keywarden/postgres');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      message.includes('@keywarden/postgres')
    )
      throw new CommandError(
        'a postgres:// store needs the @keywarden/postgres package: npm install @keywarden/postgres',
      );
    throw error;
  }
}
