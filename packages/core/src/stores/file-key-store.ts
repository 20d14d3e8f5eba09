import { randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { type AccountRecord, cloneAccount, decodeStoredAccount } from '../accounts/account-record.js';
import {
  type AccountStore,
  accountMatches,
  byCreation,
  DuplicateAccountError,
} from '../accounts/account-store.js';
import { decodeStoredRecord } from '../keys/key-fields.js';
import { cloneRecord, type KeyRecord } from '../keys/key-record.js';
import {
  booleanOption,
  functionOption,
  integerOption,
  optionsObject,
  requiredOption,
} from '../util/options.js';
import { type FileLockOptions, FileLockTimeoutError, withFileLock } from './file-lock.js';
import { jsonErrorPosition } from './json-position.js';
import { checkCountFilter, checkListFilter, countsUnder, pageOf } from './key-pages.js';
import { DuplicateKeyIdError, type KeyListFilter, type KeyStore } from './key-store.js';

/** Options for {@link openFileKeyStore}. */
export interface FileKeyStoreOptions {
  /** Path of the JSON file; created (mode 0600, folder 0700) on the first write. */
  path: string;
  /** Reload when the file changes on disk (another process, the CLI, an editor). @default true */
  watch?: boolean;
  /** `lastUsedAt` updates are batched and written at most this often, in ms. @default 10000 */
  touchFlushMs?: number;
  /**
   * Called for failures no caller is waiting on: a bad file on reload, a failed batched write.
   * @default `store.error` events of the key manager when anyone listens to them (an adapter's
   * logger, `onEvent`), else a process warning (`process.emitWarning`, code `KEYWARDEN_KEYS_FILE`)
   */
  onError?: (error: Error) => void;
}

/** A {@link KeyStore} backed by one JSON file. */
export interface FileKeyStore extends KeyStore {
  /** The accounts, in the same file (told to subscribers when the file changes on disk). */
  readonly accounts: AccountStore;
  /** Absolute path of the file. */
  readonly path: string;
  /** Tells `listener` the id of every record that changed on disk. Returns an unsubscribe function. */
  subscribe(listener: (id: string | null) => void): () => void;
  /** Re-reads the file now. Resolves false (and keeps the last good records) when it is invalid. */
  reload(): Promise<boolean>;
  /** Writes pending `lastUsedAt` updates (a failure goes where `onError` says, never thrown) and stops watching. */
  close(): Promise<void>;
}

// Version 1 holds keys; version 2 adds accounts. A file is written as version 1 while it holds no
// account, so servers of an earlier release sharing it keep reading it until accounts are used.
const KEYS_ONLY = 1;
const WITH_ACCOUNTS = 2;

/** What the file holds. */
interface FileState {
  keys: Map<string, KeyRecord>;
  accounts: Map<string, AccountRecord>;
}

const emptyState = (): FileState => ({ keys: new Map(), accounts: new Map() });

/** One record of the file, checked and decoded field by field as `KEY_FIELDS` says. */
function readRecord(raw: unknown, index: number): KeyRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`record ${index}: field "(record)" is missing or invalid`);
  try {
    return decodeStoredRecord((name) => (raw as Record<string, unknown>)[name]);
  } catch (error) {
    throw new Error(`record ${index}: ${(error as Error).message}`);
  }
}

/**
 * Parses and validates the whole file; throws on anything unexpected (never half-loads), with a
 * message that names the file and where in it the problem is.
 */
function parseKeysFile(text: string, path: string): FileState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const { line, column, offset } = jsonErrorPosition(text);
    const reason = (error as Error).message.replace(/ in JSON at position \d+.*$/, '');
    throw new Error(
      `keys file ${path}: invalid JSON at line ${line}, column ${column} (character ${offset}): ${reason}`,
    );
  }
  const version = (data as { version?: unknown } | null)?.version;
  if (typeof data !== 'object' || data === null || (version !== KEYS_ONLY && version !== WITH_ACCOUNTS)) {
    throw new Error(
      `keys file ${path}: expected {"version": ${WITH_ACCOUNTS}, "keys": [...], "accounts": [...]} (or version ${KEYS_ONLY}, keys only)`,
    );
  }
  const keys = (data as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error(`keys file ${path}: "keys" must be an array`);
  const rawAccounts = version === WITH_ACCOUNTS ? (data as { accounts?: unknown }).accounts : [];
  if (!Array.isArray(rawAccounts)) throw new Error(`keys file ${path}: "accounts" must be an array`);
  const records = new Map<string, KeyRecord>();
  keys.forEach((raw, index) => {
    try {
      const record = readRecord(raw, index);
      if (records.has(record.id)) throw new Error(`record ${index}: duplicate id ${record.id}`);
      records.set(record.id, record);
    } catch (error) {
      throw new Error(`keys file ${path}: ${(error as Error).message}`);
    }
  });
  const accounts = new Map<string, AccountRecord>();
  rawAccounts.forEach((raw, index) => {
    const where = `keys file ${path}: account ${index}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new Error(`${where}: not an object`);
    let account: AccountRecord;
    try {
      account = decodeStoredAccount((name) => (raw as Record<string, unknown>)[name]);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`);
    }
    if (accounts.has(account.id)) throw new Error(`${where}: duplicate id ${JSON.stringify(account.id)}`);
    accounts.set(account.id, account);
  });
  return { keys: records, accounts };
}

function serializeKeysFile({ keys, accounts }: FileState): string {
  const data =
    accounts.size === 0
      ? { version: KEYS_ONLY, keys: [...keys.values()] }
      : { version: WITH_ACCOUNTS, keys: [...keys.values()], accounts: [...accounts.values()] };
  return `${JSON.stringify(data, null, 2)}\n`;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Writes `text` to a temp file in the same folder, syncs it, renames it over `path`, syncs the folder. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.datasync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  // The rename itself is durable only once the folder's entry is on disk.
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

function warn(error: Error): void {
  process.emitWarning(error.message, { code: 'KEYWARDEN_KEYS_FILE' });
}

/**
 * Opens the embedded default {@link KeyStore}: one JSON file of hashed records.
 *
 * - Every write is a read-modify-write under a lock shared by every process on this machine (the
 *   file `<path>.lock`; a lock whose process has died is taken over at once): the file is re-read
 *   under the lock, changed, written to a temp file, synced and renamed over the old one, and the
 *   folder is synced. So a write that resolved is durable, and no write of any process (servers
 *   flushing `lastUsedAt`, CLI runs) is lost; `lastUsedAt` never moves back. A write that cannot get
 *   the lock within 30 s rejects (a background `lastUsedAt` flush never waits: it tries again later), and nothing is changed.
 * - The file is watched: edits from elsewhere are loaded and reported to `subscribe` listeners. A
 *   file that fails to parse is refused whole: at open this rejects with a message naming the file
 *   and the line and column; on reload the last good records stay in force and `onError` is told.
 * - A missing file is an empty store; a file that disappears empties the store (fail closed).
 *
 * @example
 * ```ts
 * const store = await openFileKeyStore({ path: '.keywarden/keys.json' });
 * const keys = createKeyManager({ store });
 * ```
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the store's write queue, watcher and pending touches live in one closure its small inner functions share
export async function openFileKeyStore(options: FileKeyStoreOptions | string): Promise<FileKeyStore> {
  const opts = optionsObject('', typeof options === 'string' ? { path: options } : { ...options }, [
    'path',
    'watch',
    'touchFlushMs',
    'onError',
  ]);
  const path = resolve(
    requiredOption('path', opts.path, (v) => typeof v === 'string' && v.length > 0, 'a file path'),
  );
  const touchFlushMs = integerOption('touchFlushMs', opts.touchFlushMs, 10_000, { min: 0 });
  const userOnError = opts.onError && functionOption('onError', opts.onError, opts.onError);
  const errorListeners = new Set<(error: Error, operation: string) => boolean>();
  /** A background failure: to `onError`, else to whoever subscribed (the key manager), else stderr. */
  const reportError = (operation: string) => (error: Error) => {
    if (userOnError) return userOnError(error);
    let handled = false;
    for (const listener of errorListeners) handled = listener(error, operation) || handled;
    if (!handled) warn(error);
  };
  booleanOption('watch', opts.watch, true);
  const listeners = new Set<(id: string) => void>();
  const accountListeners = new Set<(id: string | null) => void>();
  const pendingTouches = new Map<string, Date>();

  const firstText = await readText(path);
  let state = firstText === null ? emptyState() : parseKeysFile(firstText, path);
  let lastText = firstText; // what we last read or wrote: a watch event for it is our own write
  let queue: Promise<unknown> = Promise.resolve();
  let syncQueued = false;
  let touchTimer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let closed = false;

  /** Runs `task` after every earlier task; failures reach the caller but never stall the queue. */
  function enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => {});
    return run;
  }

  /** The ids whose entries differ between two maps. */
  function changedIds<T>(before: Map<string, T>, after: Map<string, T>): string[] {
    const changed: string[] = [];
    for (const [id, record] of after) {
      const old = before.get(id);
      if (!old || JSON.stringify(old) !== JSON.stringify(record)) changed.push(id);
    }
    for (const id of before.keys()) if (!after.has(id)) changed.push(id);
    return changed;
  }

  /**
   * Takes `next` as the state and tells listeners what changed: of keys, only what changed on disk
   * (`ownWrite` false; the key manager drops what it writes itself, and a `lastUsedAt` flush must
   * not empty its caches); of accounts, every change (the request path caches them).
   */
  function replaceState(next: FileState, ownWrite = false): void {
    const keys = ownWrite ? [] : changedIds(state.keys, next.keys);
    const accounts = changedIds(state.accounts, next.accounts);
    state = next;
    for (const id of keys) for (const listener of listeners) listener(id);
    for (const id of accounts) for (const listener of accountListeners) listener(id);
  }

  /** Loads the file when it differs from what we last saw. Throws when it is invalid. */
  async function syncFromDisk(): Promise<void> {
    const text = await readText(path);
    if (text === lastText) return;
    const next = text === null ? emptyState() : parseKeysFile(text, path);
    lastText = text;
    replaceState(next);
  }

  /**
   * Under the cross-process lock: re-reads, applies `change` to a copy, writes the result. The
   * in-memory state moves only on success.
   */
  function mutate<T>(
    change: (draft: FileState) => { result: T; dirty: boolean },
    lock?: FileLockOptions,
  ): Promise<T> {
    return enqueue(async () => {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      return withFileLock(
        path,
        async () => {
          await syncFromDisk();
          const draft = { keys: new Map(state.keys), accounts: new Map(state.accounts) };
          const { result, dirty } = change(draft);
          if (dirty) {
            const text = serializeKeysFile(draft);
            await writeAtomically(path, text);
            lastText = text;
            replaceState(draft, true);
          }
          return result;
        },
        lock,
      );
    });
  }

  /** A copy of `record` with the `lastUsedAt` this process knows and has not written yet. */
  function withPendingTouch(record: KeyRecord): KeyRecord {
    const copy = cloneRecord(record);
    const pending = pendingTouches.get(record.id);
    if (pending && (!copy.lastUsedAt || copy.lastUsedAt < pending))
      copy.lastUsedAt = new Date(pending.getTime());
    return copy;
  }

  function reloadQuietly(): void {
    if (syncQueued || closed) return;
    syncQueued = true;
    void enqueue(async () => {
      syncQueued = false;
      await syncFromDisk();
    }).catch(reportError('keys file reload'));
  }

  function scheduleFlush(delayMs: number): void {
    if (touchTimer || closed) return;
    touchTimer = setTimeout(() => flushTouches(true).catch(reportError('lastUsedAt write')), delayMs);
    touchTimer.unref();
  }

  /**
   * Writes the pending `lastUsedAt` updates. In the background (`deferWhenBusy`) it takes the lock
   * only if it is free at once, and otherwise puts the updates back and tries again later: a
   * timestamp can wait, and a server must not queue behind CLI writes for the lock.
   */
  async function flushTouches(deferWhenBusy = false): Promise<void> {
    touchTimer = undefined;
    if (pendingTouches.size === 0) return;
    const touches = [...pendingTouches];
    pendingTouches.clear();
    try {
      await writeTouches(touches, deferWhenBusy ? { timeoutMs: 0 } : undefined);
    } catch (error) {
      if (!(deferWhenBusy && error instanceof FileLockTimeoutError)) throw error;
      for (const [id, at] of touches) {
        const pending = pendingTouches.get(id);
        if (!pending || pending < at) pendingTouches.set(id, at);
      }
      scheduleFlush(Math.max(touchFlushMs, 25));
    }
  }

  function writeTouches(touches: [string, Date][], lock: FileLockOptions | undefined): Promise<void> {
    return mutate((draft) => {
      let dirty = false;
      for (const [id, at] of touches) {
        const record = draft.keys.get(id);
        if (record && (!record.lastUsedAt || record.lastUsedAt < at)) {
          draft.keys.set(id, { ...record, lastUsedAt: at });
          dirty = true;
        }
      }
      return { result: undefined, dirty };
    }, lock);
  }

  if (opts.watch !== false) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const name = basename(path);
    // Watch the folder, not the file: an atomic rename replaces the file's inode.
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename === null || filename === name) reloadQuietly();
    });
    watcher.on('error', reportError('keys file watch'));
  }

  const accounts: AccountStore = {
    async get(id) {
      const record = state.accounts.get(id);
      return record ? cloneAccount(record) : null;
    },
    async list(filter) {
      return [...state.accounts.values()]
        .filter((record) => accountMatches(record, filter))
        .sort(byCreation)
        .map(cloneAccount);
    },
    insert(record) {
      return mutate((draft) => {
        if (draft.accounts.has(record.id)) throw new DuplicateAccountError(record.id);
        draft.accounts.set(record.id, cloneAccount(record));
        return { result: undefined, dirty: true };
      });
    },
    update(id, patch) {
      return mutate((draft) => {
        const record = draft.accounts.get(id);
        if (!record) return { result: null, dirty: false };
        const next = cloneAccount({ ...record, ...patch });
        draft.accounts.set(id, next);
        return { result: cloneAccount(next), dirty: true };
      });
    },
    addCredits(id, amount, at) {
      // Under the file's lock, from the record as the file holds it now: no top-up is lost.
      return mutate((draft) => {
        const record = draft.accounts.get(id);
        if (!record) return { result: null, dirty: false };
        const next = cloneAccount({ ...record, credits: record.credits + amount, updatedAt: at });
        draft.accounts.set(id, next);
        return { result: cloneAccount(next), dirty: true };
      });
    },
    delete(id) {
      return mutate((draft) => {
        const existed = draft.accounts.delete(id);
        return { result: existed, dirty: existed };
      });
    },
    subscribe(listener) {
      accountListeners.add(listener);
      return () => {
        accountListeners.delete(listener);
      };
    },
  };

  return {
    path,
    accounts,
    async get(id) {
      const record = state.keys.get(id);
      return record ? withPendingTouch(record) : null;
    },
    async list(filter?: KeyListFilter) {
      return pageOf(state.keys.values(), checkListFilter(filter)).map(withPendingTouch);
    },
    async count(filter) {
      checkCountFilter(filter);
      let n = 0;
      for (const record of state.keys.values()) if (countsUnder(record, filter)) n++;
      return n;
    },
    insert(record) {
      return mutate(({ keys }) => {
        if (keys.has(record.id)) throw new DuplicateKeyIdError(record.id);
        keys.set(record.id, cloneRecord(record));
        return { result: undefined, dirty: true };
      });
    },
    update(id, patch) {
      return mutate(({ keys }) => {
        const record = keys.get(id);
        if (!record) return { result: null, dirty: false };
        const next = cloneRecord({ ...record, ...patch });
        keys.set(id, next);
        return { result: cloneRecord(next), dirty: true };
      });
    },
    replaceHash(id, from, to) {
      // Under the file's lock, against the record as the file holds it now.
      return mutate(({ keys }) => {
        const record = keys.get(id);
        if (record?.hash !== from) return { result: false, dirty: false };
        keys.set(id, cloneRecord({ ...record, hash: to }));
        return { result: true, dirty: true };
      });
    },
    delete(id) {
      return mutate(({ keys }) => {
        const existed = keys.delete(id);
        return { result: existed, dirty: existed };
      });
    },
    async touch(id, at) {
      const pending = pendingTouches.get(id);
      if (!pending || pending < at) pendingTouches.set(id, new Date(at.getTime())); // never back
      scheduleFlush(touchFlushMs);
    },
    subscribeErrors(listener) {
      errorListeners.add(listener);
      return () => {
        errorListeners.delete(listener);
      };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    reload() {
      return enqueue(async () => {
        try {
          await syncFromDisk();
          return true;
        } catch (error) {
          reportError('keys file reload')(error as Error);
          return false;
        }
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      watcher?.close();
      if (touchTimer) clearTimeout(touchTimer);
      // A last flush that fails (a broken file, a lock never freed) is reported, not thrown: a
      // shutdown must go on, and losing a few lastUsedAt stamps is the lesser harm.
      await flushTouches().catch(reportError('lastUsedAt write'));
      await queue;
    },
  };
}
