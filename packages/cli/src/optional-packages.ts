// PostgreSQL and Redis are optional: `@keywarden/postgres` (with `pg`) and `@keywarden/redis`
// (with `ioredis`) are optional peer dependencies, loaded only when a command names a postgres://
// store or a Redis URL, so file-store users install nothing more.
import { CommandError } from './errors.js';

type PostgresModule = typeof import('@keywarden/postgres');
type RedisModule = typeof import('@keywarden/redis');

/** `@keywarden/postgres`, or a clear error (exit code 1) saying how to install it. */
export function loadPostgres(): Promise<PostgresModule> {
  return optional('@keywarden/postgres', () => import('@keywarden/postgres'), 'a postgres:// store');
}

/** `@keywarden/redis`, or a clear error (exit code 1) saying how to install it. */
export function loadRedis(): Promise<RedisModule> {
  return optional('@keywarden/redis', () => import('@keywarden/redis'), '--redis');
}

async function optional<T>(name: string, load: () => Promise<T>, what: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(name))
      throw new CommandError(`${what} needs the ${name} package: npm install ${name}`);
    throw error;
  }
}
