import type { KeyRecord } from '../keys/key-record.js';
import { integerOption, optionsObject } from '../util/options.js';
import { type KeyCountFilter, type KeyListFilter, type KeyStore, MAX_KEY_PAGE } from './key-store.js';

/**
 * Checks a {@link KeyListFilter} from any caller (a store's own entry point): an unknown field,
 * a limit outside 1 to 1,000 or a cursor that is not a string is a `TypeError`/`RangeError`.
 *
 * @example
 * ```ts
 * async list(filter) {
 *   const { ownerId, limit, after } = checkListFilter(filter);
 *   // ... one page in (created_at, id) order
 * }
 * ```
 */
export function checkListFilter(filter: KeyListFilter | undefined): KeyListFilter {
  if (filter === undefined) return {};
  optionsObject('list', filter, ['ownerId', 'limit', 'after']);
  if (filter.ownerId !== undefined && typeof filter.ownerId !== 'string')
    throw new TypeError('keywarden: list.ownerId must be a string');
  if (filter.after !== undefined && (typeof filter.after !== 'string' || filter.after === ''))
    throw new TypeError('keywarden: list.after must be a key id');
  if (filter.limit !== undefined) integerOption('list.limit', filter.limit, 1, { min: 1, max: MAX_KEY_PAGE });
  return filter;
}

/**
 * The refusal of a cursor whose key is gone (a `RangeError`): what a store's `list` throws for an
 * `after` that names no key.
 *
 * @example
 * ```ts
 * if (rows.length === 0 && filter.after && !(await exists(filter.after))) throw unknownCursor(filter.after);
 * ```
 */
export function unknownCursor(id: string): RangeError {
  return new RangeError(`keywarden: list.after names no key (${id}); list again from the start`);
}

/** The list order: creation time, then id. */
export function byCreationThenId(a: KeyRecord, b: KeyRecord): number {
  const at = a.createdAt.getTime() - b.createdAt.getTime();
  return at !== 0 ? at : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * One page of records held in memory (the memory and file stores): sorted on every call, which
 * is fine for stores that hold every record in the process anyway.
 */
export function pageOf(records: Iterable<KeyRecord>, filter: KeyListFilter): KeyRecord[] {
  const { ownerId, after, limit } = filter;
  const all: KeyRecord[] = [];
  let cursor: KeyRecord | undefined;
  for (const record of records) {
    if (record.id === after) cursor = record;
    if (ownerId === undefined || record.ownerId === ownerId) all.push(record);
  }
  if (after !== undefined && cursor === undefined) throw unknownCursor(after);
  all.sort(byCreationThenId);
  const from = cursor === undefined ? 0 : all.findIndex((r) => byCreationThenId(r, cursor) > 0);
  if (from < 0) return [];
  return all.slice(from, limit === undefined ? undefined : from + limit);
}

/** Whether a record counts under a {@link KeyCountFilter}. */
export function countsUnder(record: KeyRecord, filter: KeyCountFilter): boolean {
  if (filter.ownerId !== undefined && record.ownerId !== filter.ownerId) return false;
  if (filter.activeAt === undefined) return true;
  const at = filter.activeAt.getTime();
  return record.revokedAt === null && (record.expiresAt === null || record.expiresAt.getTime() > at);
}

/**
 * Checks a {@link KeyCountFilter}: an unknown field, an owner that is not a string or an
 * `activeAt` that is not a valid Date is a `TypeError`.
 *
 * @example
 * ```ts
 * async count(filter) {
 *   const { ownerId, activeAt } = checkCountFilter(filter);
 *   // ... one count query
 * }
 * ```
 */
export function checkCountFilter(filter: KeyCountFilter): KeyCountFilter {
  optionsObject('count', filter, ['ownerId', 'activeAt']);
  if (filter.ownerId !== undefined && typeof filter.ownerId !== 'string')
    throw new TypeError('keywarden: count.ownerId must be a string');
  if (
    filter.activeAt !== undefined &&
    !(filter.activeAt instanceof Date && !Number.isNaN(filter.activeAt.getTime()))
  )
    throw new TypeError('keywarden: count.activeAt must be a Date');
  return filter;
}

/**
 * Every record matching, one page at a time: the next page is read before the records of this
 * one are handed out, so a caller may delete what it gets (the purge does) without losing the
 * cursor.
 */
export async function* recordPages(
  store: KeyStore,
  ownerId: string | undefined,
  pageSize = 500,
): AsyncGenerator<KeyRecord> {
  const filter = (after?: string): KeyListFilter => ({
    limit: pageSize,
    ...(ownerId === undefined ? {} : { ownerId }),
    ...(after === undefined ? {} : { after }),
  });
  let page = await store.list(filter());
  while (page.length > 0) {
    const next = page.length < pageSize ? [] : await store.list(filter(page.at(-1)!.id));
    yield* page;
    page = next;
  }
}

/** A store's count, or one through its pages when it has none. */
export async function countOf(store: KeyStore, filter: KeyCountFilter): Promise<number> {
  if (store.count) return store.count(checkCountFilter(filter));
  checkCountFilter(filter);
  let n = 0;
  for await (const record of recordPages(store, filter.ownerId)) if (countsUnder(record, filter)) n++;
  return n;
}
