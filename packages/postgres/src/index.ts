import {
  type AccountStore,
  DuplicateKeyIdError,
  type KeyListFilter,
  type KeyRecord,
  type KeyStore,
  type UsageStore,
} from '@keywarden/core';
import {
  checkCountFilter,
  checkListFilter,
  conflict,
  decodeStoredRecord,
  functionOption,
  integerOption,
  KEY_FIELD_NAMES,
  KEY_FIELDS,
  type KeyField,
  optionsObject,
  unknownCursor,
} from '@keywarden/core/integration-kit';
import pg from 'pg';
import { postgresAccountStore } from './accounts.js';
import { ACCOUNTS_CHANNEL, CHANNEL, migrate } from './migrations.js';
import { postgresUsageStore } from './usage.js';

export { MIGRATIONS, type Migration, migrate } from './migrations.js';

/** Options of {@link createPostgresKeyStore}. */
export interface PostgresKeyStoreOptions {
  /** A pool you own (keywarden never ends it)... */
  pool?: pg.Pool;
  /** ...or a connection string: keywarden creates a pool with the timeouts below, and ends it on close. */
  connectionString?: string;
  /** Longest wait for a connection or a query, in ms; beyond it the call fails (503 upstream). @default 2000 */
  timeoutMs?: number;
  /** LISTEN for changes made by other instances and the CLI. @default true */
  listen?: boolean;
  /**
   * Background failures (the LISTEN connection). @default `store.error` events of the key
   * manager when anyone listens to them (an adapter's logger, `onEvent`), else nothing
   */
  onError?: (error: Error) => void;
}

/** The store made by {@link createPostgresKeyStore}. */
export interface PostgresKeyStore extends KeyStore {
  /** The pool in use: yours, or the one made from `connectionString`. */
  readonly pool: pg.Pool;
  /**
   * Usage metering in the same database (what `createKeywarden` writes to by default with this
   * store): table `keywarden_usage`, one row per key, UTC day and metric; survives restarts.
   */
  readonly usage: UsageStore;
  /**
   * The accounts, in table `keywarden_accounts` (migration 5); a change made anywhere (another
   * instance, the CLI, plain SQL) reaches every instance's `subscribe` listeners through NOTIFY.
   */
  readonly accounts: AccountStore;
  /** Runs the migrations (see `migrate`). */
  migrate(): Promise<number[]>;
  subscribe(listener: (id: string | null) => void): () => void;
  close(): Promise<void>;
}

// Columns, their encoding and older rows all follow the core's table of key fields.
const COLUMNS = new Map(KEY_FIELD_NAMES.map((name) => [name as string, KEY_FIELDS[name]]));
/**
 * The query for one page of keys in list order. The cursor is a row comparison against the
 * cursor key's own (created_at, id), so the page is a range scan of the index in that order.
 */
function pageQuery(filter: KeyListFilter): [string, unknown[]] {
  const values: unknown[] = [];
  const where: string[] = [];
  const { ownerId, after } = filter;
  if (ownerId !== undefined) where.push(`owner_id = $${values.push(ownerId)}`);
  if (after !== undefined) {
    const id = `$${values.push(after)}`;
    // With the owner ($1) inside the row, the comparison is a range of the (owner_id, created_at,
    // id) index; without it the planner would walk the whole list order filtering by owner.
    where.push(
      ownerId === undefined
        ? `(created_at, id) > (SELECT created_at, id FROM keywarden_keys WHERE id = ${id})`
        : `(owner_id, created_at, id) > (SELECT $1::text, created_at, id FROM keywarden_keys WHERE id = ${id})`,
    );
  }
  const limit = filter.limit === undefined ? '' : ` LIMIT $${values.push(filter.limit)}`;
  const clause = where.length ? ` WHERE ${where.join(' AND ')}` : '';
  return [`SELECT * FROM keywarden_keys${clause} ORDER BY created_at, id${limit}`, values];
}

const INSERT = `INSERT INTO keywarden_keys (${KEY_FIELD_NAMES.map((name) => KEY_FIELDS[name].column).join(', ')})
  VALUES (${KEY_FIELD_NAMES.map((_, i) => `$${i + 1}`).join(', ')})`;

/** A row as a record; a NULL where a field may not be null is a row from before it (see `missing`). */
const toRecord = (row: Record<string, unknown>): KeyRecord =>
  decodeStoredRecord((_name, field) => row[field.column]);

/** A value as its column takes it: JSON columns as text (node-postgres would send an array as one). */
const dbValue = (field: KeyField, value: unknown) =>
  field.codec === 'json' && value !== null ? JSON.stringify(value) : value;

/** A record's values in table order; a field an older caller's record lacks is filled in. */
function insertValues(record: KeyRecord): unknown[] {
  const given = record as unknown as Record<string, unknown>;
  const filled: Record<string, unknown> = {};
  return KEY_FIELD_NAMES.map((name) => {
    const field = KEY_FIELDS[name];
    const value = given[name] === undefined && field.missing ? field.missing(filled) : given[name];
    filled[name] = value;
    return dbValue(field, value);
  });
}

/**
 * A `KeyStore` (`@keywarden/core`) on PostgreSQL for several server instances. Only hashes are stored. Changes
 * reach every instance through LISTEN/NOTIFY: a trigger notifies on every change to a key row
 * (also from plain SQL), each instance drops that key from its caches, typically within a few
 * milliseconds. When the LISTEN connection drops, the instance reconnects with backoff and then
 * drops every cached record, since it may have missed changes; while it is down, the key
 * manager's `recordTtlMs` (30 s by default) bounds how stale a record can be.
 *
 * @example
 * ```ts
 * const store = createPostgresKeyStore({ connectionString: process.env.DATABASE_URL });
 * await store.migrate();
 * const keys = createKeyManager({ store });
 * ```
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the pool and the LISTEN connection live in one closure the store's small methods share
export function createPostgresKeyStore(options: PostgresKeyStoreOptions): PostgresKeyStore {
  optionsObject('', options, ['pool', 'connectionString', 'timeoutMs', 'listen', 'onError']);
  if (!options.pool === !options.connectionString)
    conflict('connectionString', 'or pool: give either pool or connectionString');
  const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 2000);
  const userOnError = options.onError && functionOption('onError', options.onError, options.onError);
  const errorListeners = new Set<(error: Error, operation: string) => boolean>();
  // A lost LISTEN connection: to `onError`, else to the key manager's `store.error` events when
  // anyone takes them; unreported otherwise (the store reconnects by itself, with backoff).
  const onError = (error: Error) => {
    if (userOnError) return userOnError(error);
    for (const listener of errorListeners) listener(error, 'postgres listen');
  };
  const clientConfig: pg.ClientConfig = {
    ...(options.connectionString ? { connectionString: options.connectionString } : {}),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
  };
  const owned = !options.pool;
  const pool = options.pool ?? new pg.Pool({ ...clientConfig, max: 10 });
  // An idle client whose server went away emits 'error' on the pool; without a listener that
  // would crash the process. The failed call itself is what reports the outage.
  pool.on('error', () => {});
  const listeners = new Set<(id: string | null) => void>();
  const tell = (id: string | null) => {
    for (const listener of listeners) listener(id);
  };
  const accountListeners = new Set<(id: string | null) => void>();
  const tellAccounts = (id: string | null) => {
    for (const listener of accountListeners) listener(id);
  };

  let closed = false;
  let listenClient: pg.Client | null = null;
  let retry: NodeJS.Timeout | undefined;
  let backoff = 100;
  async function startListening(reconnected: boolean): Promise<void> {
    if (closed) return;
    const client = new pg.Client(
      options.pool
        ? { ...(options.pool.options as pg.ClientConfig), ...clientConfig, query_timeout: undefined }
        : { ...clientConfig, query_timeout: undefined },
    );
    const again = (error?: Error) => {
      if (error) onError(error);
      if (listenClient === client) listenClient = null;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      if (closed || retry) return;
      retry = setTimeout(() => {
        retry = undefined;
        void startListening(true);
      }, backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, 2000);
    };
    client.on('error', again);
    client.on('end', () => again());
    client.on('notification', (message) => {
      if (!message.payload) return;
      if (message.channel === CHANNEL) tell(message.payload);
      else if (message.channel === ACCOUNTS_CHANNEL) tellAccounts(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      await client.query(`LISTEN ${ACCOUNTS_CHANNEL}`);
      listenClient = client;
      backoff = 100;
      if (reconnected) {
        // Changes made while we were away were not heard.
        tell(null);
        tellAccounts(null);
      }
    } catch (error) {
      again(error as Error);
    }
  }
  if (options.listen !== false) void startListening(false);

  const query = <R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    values: unknown[] = [],
  ) => pool.query<R>(text, values);

  return {
    pool,
    usage: postgresUsageStore(query),
    accounts: postgresAccountStore(query, (listener) => {
      accountListeners.add(listener);
      return () => {
        accountListeners.delete(listener);
      };
    }),
    migrate: () => migrate(pool),
    subscribeErrors(listener) {
      errorListeners.add(listener);
      return () => {
        errorListeners.delete(listener);
      };
    },
    async get(id) {
      const { rows } = await query('SELECT * FROM keywarden_keys WHERE id = $1', [id]);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async getMany(ids) {
      const { rows } = await query('SELECT * FROM keywarden_keys WHERE id = ANY($1::text[])', [[...ids]]);
      return rows.map(toRecord);
    },
    async list(filter?: KeyListFilter) {
      const { rows } = await query(...pageQuery(checkListFilter(filter)));
      if (filter?.after !== undefined && rows.length === 0) {
        // An empty page after a cursor: the end of the list, or a cursor whose key is gone.
        const found = await query('SELECT 1 FROM keywarden_keys WHERE id = $1', [filter.after]);
        if (found.rows.length === 0) throw unknownCursor(filter.after);
      }
      return rows.map(toRecord);
    },
    async count(filter) {
      const { ownerId, activeAt } = checkCountFilter(filter);
      const values: unknown[] = [];
      const where: string[] = [];
      if (ownerId !== undefined) where.push(`owner_id = $${values.push(ownerId)}`);
      if (activeAt !== undefined)
        where.push(`revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $${values.push(activeAt)})`);
      const { rows } = await query<{ n: string }>(
        `SELECT count(*) AS n FROM keywarden_keys${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
        values,
      );
      return Number(rows[0]!.n);
    },
    async insert(record) {
      try {
        await query(INSERT, insertValues(record));
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw new DuplicateKeyIdError(record.id);
        throw error;
      }
    },
    async update(id, patch) {
      const sets: string[] = [];
      const values: unknown[] = [id];
      for (const [name, value] of Object.entries(patch)) {
        const field = COLUMNS.get(name);
        if (!field?.patchable || value === undefined) continue;
        values.push(dbValue(field, value));
        sets.push(`${field.column} = $${values.length}`);
      }
      if (sets.length === 0) {
        const { rows } = await query('SELECT * FROM keywarden_keys WHERE id = $1', [id]);
        return rows[0] ? toRecord(rows[0]) : null;
      }
      const { rows } = await query(
        `UPDATE keywarden_keys SET ${sets.join(', ')} WHERE id = $1 RETURNING *`,
        values,
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async replaceHash(id, from, to) {
      // One statement: of two instances re-hashing the same key, one changes the row.
      const { rowCount } = await query('UPDATE keywarden_keys SET hash = $3 WHERE id = $1 AND hash = $2', [
        id,
        from,
        to,
      ]);
      return (rowCount ?? 0) > 0;
    },
    async delete(id) {
      const { rowCount } = await query('DELETE FROM keywarden_keys WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
    async touch(id, at) {
      await query(
        'UPDATE keywarden_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)',
        [id, at],
      );
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const client = listenClient;
      listenClient = null;
      if (client) {
        client.removeAllListeners();
        client.on('error', () => {});
        await client.end().catch(() => {});
      }
      if (owned) await pool.end().catch(() => {});
    },
  };
}
