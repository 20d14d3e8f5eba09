import type { AccountPatch, AccountRecord, AccountStore } from '@keywarden/core';
import { DuplicateAccountError } from '@keywarden/core';
import { decodeStoredAccount } from '@keywarden/core/integration-kit';
import type pg from 'pg';

type Query = <R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  values?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** The column of each field an update may change; JSON columns take text. */
const PATCHABLE: Record<keyof AccountPatch, { column: string; json: boolean }> = {
  plan: { column: 'plan', json: false },
  status: { column: 'status', json: false },
  overrides: { column: 'overrides', json: true },
  metadata: { column: 'metadata', json: true },
  updatedAt: { column: 'updated_at', json: false },
};

const COLUMN_OF: Record<keyof AccountRecord, string> = {
  id: 'id',
  plan: 'plan',
  status: 'status',
  overrides: 'overrides',
  credits: 'credits',
  metadata: 'metadata',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/** A row as a record, checked as a file's account is: a bad row (plain SQL) is an error, never misread. */
const toAccount = (row: Record<string, unknown>): AccountRecord =>
  decodeStoredAccount((field) => row[COLUMN_OF[field]]);

/**
 * Reads of a database the migrations have not reached yet: without the accounts table there is no
 * account (keys of an owner go on as before), which is the truth, not a failure to hide. Writes
 * still fail, saying what to run.
 */
async function orNone<T>(read: () => Promise<T>, none: T): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return none; // undefined_table
    throw error;
  }
}

const NEEDS_MIGRATION =
  'keywarden: the accounts table does not exist: run the migrations (keywarden migrate)';

/** Accounts in table `keywarden_accounts` (migration 5); `tell` subscribers come from the store's LISTEN. */
export function postgresAccountStore(
  query: Query,
  subscribe: (listener: (id: string | null) => void) => () => void,
): AccountStore {
  return {
    get(id) {
      return orNone(async () => {
        const { rows } = await query('SELECT * FROM keywarden_accounts WHERE id = $1', [id]);
        return rows[0] ? toAccount(rows[0]) : null;
      }, null);
    },
    list(filter = {}) {
      return orNone(async () => {
        const { rows } = await query(
          `SELECT * FROM keywarden_accounts
            WHERE ($1::text IS NULL OR plan = $1) AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at, id`,
          [filter.plan ?? null, filter.status ?? null],
        );
        return rows.map(toAccount);
      }, []);
    },
    async insert(record) {
      try {
        await query(
          `INSERT INTO keywarden_accounts (id, plan, status, overrides, credits, metadata, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            record.id,
            record.plan,
            record.status,
            JSON.stringify(record.overrides),
            record.credits,
            JSON.stringify(record.metadata),
            record.createdAt,
            record.updatedAt,
          ],
        );
      } catch (error) {
        const { code } = error as { code?: string };
        if (code === '23505') throw new DuplicateAccountError(record.id);
        if (code === '42P01') throw new Error(NEEDS_MIGRATION);
        throw error;
      }
    },
    async update(id, patch) {
      const sets: string[] = [];
      const values: unknown[] = [id];
      for (const [name, value] of Object.entries(patch)) {
        const field = PATCHABLE[name as keyof AccountPatch];
        if (field === undefined || value === undefined) continue;
        values.push(field.json ? JSON.stringify(value) : value);
        sets.push(`${field.column} = $${values.length}`);
      }
      const { rows } =
        sets.length === 0
          ? await query('SELECT * FROM keywarden_accounts WHERE id = $1', [id])
          : await query(`UPDATE keywarden_accounts SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values);
      return rows[0] ? toAccount(rows[0]) : null;
    },
    async addCredits(id, amount, at) {
      // One statement: concurrent top-ups from any number of processes all count.
      const { rows } = await query(
        'UPDATE keywarden_accounts SET credits = credits + $2, updated_at = $3 WHERE id = $1 RETURNING *',
        [id, amount, at],
      );
      return rows[0] ? toAccount(rows[0]) : null;
    },
    async delete(id) {
      const { rowCount } = await query('DELETE FROM keywarden_accounts WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
    subscribe,
  };
}
