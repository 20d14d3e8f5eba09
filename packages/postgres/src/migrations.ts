import type pg from 'pg';

/** One schema step. Versions only grow; a released migration is never edited. */
export interface Migration {
  /** Schema version after this step, recorded in `keywarden_migrations`. */
  version: number;
  /** Short description, recorded with the version. */
  name: string;
  /** The statements, run in one transaction. */
  sql: string;
}

/** The channel `NOTIFY` uses when a key row changes. */
export const CHANNEL = 'keywarden_keys';
/** The channel `NOTIFY` uses when an account row changes. */
export const ACCOUNTS_CHANNEL = 'keywarden_accounts';

/**
 * Every schema step, oldest first; {@link migrate} applies the ones a database lacks. Exported so that
 * teams with their own migration tool can copy the SQL (`MIGRATIONS.map((m) => m.sql)`).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'keys table, owner index, change notifications',
    sql: `
      CREATE TABLE keywarden_keys (
        id            text PRIMARY KEY,
        name          text NOT NULL,
        environment   text NOT NULL,
        prefix        text NOT NULL,
        hash          text NOT NULL,
        scopes        text[] NOT NULL DEFAULT '{}',
        paths         text[] NOT NULL DEFAULT '{*}',
        ips           text[] NOT NULL DEFAULT '{}',
        created_at    timestamptz NOT NULL,
        expires_at    timestamptz,
        revoked_at    timestamptz,
        last_used_at  timestamptz,
        rate_limit    jsonb,
        quota         jsonb,
        metadata      jsonb NOT NULL DEFAULT '{}',
        owner_id      text,
        replaced_by   text
      );
      CREATE INDEX keywarden_keys_owner_id ON keywarden_keys (owner_id) WHERE owner_id IS NOT NULL;

      -- Every change to a key row, from keywarden or from plain SQL, tells the listening instances
      -- which key changed. last_used_at alone is bookkeeping, not a change worth a cache drop.
      CREATE FUNCTION keywarden_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'last_used_at') = (to_jsonb(NEW) - 'last_used_at') THEN
          RETURN NULL;
        END IF;
        PERFORM pg_notify('${CHANNEL}', COALESCE(NEW.id, OLD.id));
        RETURN NULL;
      END $$;
      CREATE TRIGGER keywarden_keys_notify AFTER INSERT OR UPDATE OR DELETE ON keywarden_keys
        FOR EACH ROW EXECUTE FUNCTION keywarden_keys_notify();
    `,
  },
  {
    version: 2,
    name: 'rotation lineage',
    // Null for rows written before: read as the row's own id, which is what their lineage is.
    sql: 'ALTER TABLE keywarden_keys ADD COLUMN lineage_id text;',
  },
  {
    version: 3,
    name: 'usage metering',
    // One row per key, UTC day and metric ('requests', 'units', 'refused:<code>'). No foreign key:
    // a deleted key's usage stays until the retention ends (it may still be billed).
    sql: `
      CREATE TABLE keywarden_usage (
        key_id text NOT NULL,
        day date NOT NULL,
        metric text NOT NULL,
        value bigint NOT NULL,
        PRIMARY KEY (key_id, day, metric)
      );
      CREATE INDEX keywarden_usage_day ON keywarden_usage (day);
    `,
  },
  {
    version: 4,
    name: 'portal bounds',
    // What a key's owner may narrow from in the key portal: JSON { scopes, paths, ips }, or NULL for
    // a key its owner made in the portal. Keys written before get their own settings (narrowing only).
    sql: `
      ALTER TABLE keywarden_keys ADD COLUMN portal_bounds jsonb;
      UPDATE keywarden_keys
        SET portal_bounds = jsonb_build_object('scopes', to_jsonb(scopes), 'paths', to_jsonb(paths), 'ips', to_jsonb(ips));
    `,
  },
  {
    version: 5,
    name: 'accounts, change notifications',
    // The customers keys belong to (a key's owner_id names one; no foreign key: keys of an owner
    // without an account work as before). Every change notifies, like keys, so a suspension or a
    // change of plan reaches every instance at once.
    sql: `
      CREATE TABLE keywarden_accounts (
        id          text PRIMARY KEY,
        plan        text NOT NULL,
        status      text NOT NULL CHECK (status IN ('active', 'suspended')),
        overrides   jsonb NOT NULL DEFAULT '{}',
        metadata    jsonb NOT NULL DEFAULT '{}',
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL
      );
      CREATE INDEX keywarden_accounts_plan ON keywarden_accounts (plan);
      CREATE FUNCTION keywarden_accounts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${ACCOUNTS_CHANNEL}', COALESCE(NEW.id, OLD.id));
        RETURN NULL;
      END $$;
      CREATE TRIGGER keywarden_accounts_notify AFTER INSERT OR UPDATE OR DELETE ON keywarden_accounts
        FOR EACH ROW EXECUTE FUNCTION keywarden_accounts_notify();
    `,
  },
  {
    version: 6,
    name: 'account credits',
    // Prepaid units granted in all; what requests spent is counted with the limits.
    sql: `ALTER TABLE keywarden_accounts ADD COLUMN credits bigint NOT NULL DEFAULT 0 CHECK (credits >= 0);`,
  },
  {
    version: 7,
    name: 'key pages: indexes in list order',
    // A page of keys (all, or one owner's) is a range scan of one of these, in the list order
    // (created_at, id), however many keys the table holds. The owner index of version 1 is a
    // prefix of the second one. IF NOT EXISTS: on a large live table, create both with
    // CREATE INDEX CONCURRENTLY first (it cannot run in this transaction) and this step finds them.
    sql: `
      CREATE INDEX IF NOT EXISTS keywarden_keys_created ON keywarden_keys (created_at, id);
      CREATE INDEX IF NOT EXISTS keywarden_keys_owner_created ON keywarden_keys (owner_id, created_at, id)
        WHERE owner_id IS NOT NULL;
      DROP INDEX IF EXISTS keywarden_keys_owner_id;
    `,
  },
];

/**
 * Brings the schema up to date, one transaction per migration, under an advisory lock so that
 * instances starting together do not race. Returns the versions it applied.
 *
 * @example
 * ```ts
 * await migrate(pool); // or: npx keywarden migrate --store postgres://…
 * ```
 */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS keywarden_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const migration of MIGRATIONS) {
      await client.query('BEGIN');
      try {
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('keywarden_migrate'))`);
        const done = await client.query('SELECT 1 FROM keywarden_migrations WHERE version = $1', [
          migration.version,
        ]);
        if (done.rowCount === 0) {
          await client.query(migration.sql);
          await client.query('INSERT INTO keywarden_migrations (version, name) VALUES ($1, $2)', [
            migration.version,
            migration.name,
          ]);
          applied.push(migration.version);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    }
  } finally {
    client.release();
  }
  return applied;
}
