// The request path of the key manager: checks a presented key, answering synchronously when it
// can (a verified key whose record is cached), and otherwise through one store read and one hash
// shared by concurrent callers (single-flight), paid for by a reservation from the client's
// failure budgets. Revocation and expiry are checked on every call, cached or not.
import { LRUCache } from 'lru-cache';
import { secondsUntil } from '../limits/windows.js';
import { clientPartition } from '../request/client-partition.js';
import { CachedKey } from './cached-key.js';
import { QueueFullError } from './hash-queue.js';
import { type Hasher, hasherRecognizes } from './hashers.js';
import { keyDigest } from './key-digest.js';
import { API_KEY_PARTS, hasApiKeyFrame, parseApiKey } from './key-format.js';
import type { VerifyApiKeyResult, VerifyClient, VerifyFailureReason } from './key-manager.js';
import type { KeyManagerSettings } from './key-manager-options.js';
import type { ApiKeyInfo } from './key-record.js';
import type { LoadedRecord, RecordCache } from './record-cache.js';

/** A refused key, as the key manager answers it. */
export type KeyFailure = Extract<VerifyApiKeyResult, { ok: false }>;
/** What the request path gets: the cached key, or why not. */
export type EntryResult = CachedKey | KeyFailure;
/** A key on its way through the cold path. */
interface ColdKey {
  plaintext: string;
  digest: string;
  id: string;
  /** The client's address, read when the request arrived. */
  ip: string | undefined;
}

export interface Verifier {
  /**
   * `at`: a `Date.now()` the caller read for this request; used instead of reading the clock again
   * when this manager's clock is `Date.now` too (no `now` option).
   */
  verifyEntryNow(key: unknown, client?: VerifyClient, at?: number): EntryResult | Promise<EntryResult>;
  lookupEntryNow(id: string, at?: number): EntryResult | Promise<EntryResult>;
  /** The public info of an entry, with its last use as this cache knows it. */
  info(entry: CachedKey): ApiKeyInfo;
  /** Drops what is known about an id (or every id): the record and the unknown-id answer. */
  invalidate(id: string | null): void;
}

const BODY_LENGTH = API_KEY_PARTS.id + API_KEY_PARTS.secret + API_KEY_PARTS.checksum;
const MALFORMED_KEY: KeyFailure = Object.freeze({ ok: false, reason: 'malformed' });

export const fail = (reason: VerifyFailureReason, keyId?: string): KeyFailure =>
  keyId === undefined ? { ok: false, reason } : { ok: false, reason, keyId };

// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the verifier's caches, flights and budgets live in one closure its small inner functions share; as object fields they would cost property loads on the request path
export function createVerifier(settings: KeyManagerSettings, records: RecordCache): Verifier {
  const { store, hasher, earlierHashers, prefixes, now, throttle, hashQueue, lastUsedIntervalMs, emit } =
    settings;
  const prefixList = prefixes ? Object.freeze([...prefixes]) : undefined;
  const { verifiedTtlMs, unknownTtlMs, maxUnknown } = settings.cache;
  const { rel } = records;
  const unknown = new LRUCache<string, number>({ max: maxUnknown });
  const flights = new Map<string, Promise<EntryResult>>();
  // The caller's reading of the same clock saves one read a request (about 0.1 µs in a busy server).
  const timeOf = (at: number | undefined) => (at !== undefined && now === Date.now ? at : now());

  let mismatchReported = false;
  /** A key hashed by another hasher: said once, loudly (every such key fails until it is fixed). */
  function mismatch(id: string, hash: string): void {
    if (mismatchReported) return;
    mismatchReported = true;
    const kind = hash.slice(0, hash.indexOf('$', 1) + 1) || 'an unknown format';
    process.emitWarning(
      `keywarden: key ${id} was hashed as ${kind}, but this key manager verifies with ${hasher.id}; ` +
        'every such key is refused until the hasher matches the one the keys were created with (or is named in earlierHashers: see the core README, "Changing the hasher")',
      { code: 'KEYWARDEN_HASH_MISMATCH' },
    );
  }

  function storeError(operation: string, error: unknown): void {
    emit({
      type: 'store.error',
      time: new Date(now()),
      operation,
      message: (error as Error)?.message ?? 'error',
    });
  }

  /** Status and expiry, every time; `lastUsedAt` at most once per interval. */
  function accept(entry: CachedKey, t: number): EntryResult {
    if (entry.revokedAtMs !== null && entry.revokedAtMs <= t) return fail('revoked', entry.id);
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= t) return fail('expired', entry.id);
    if (rel(t) >= entry.touchedUntilRel) {
      entry.touchedUntilRel = rel(t) + lastUsedIntervalMs;
      store.touch(entry.id, new Date(t)).catch((error: unknown) => storeError('touch', error));
    }
    return entry;
  }

  /** The record from the store; the error (reported) when the store fails. */
  function load(id: string): Promise<LoadedRecord | null | Error> {
    return records.load(id).catch((error: unknown) => {
      storeError('get', error);
      return error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Whether `entry` holds `digest` as a verified plaintext at `t`. */
  const holds = (entry: CachedKey, digest: string, t: number) => entry.holds(digest, rel(t));

  /** One cold verification: a store read and a hash, paid for by a reservation from the client's budgets. */
  async function coldVerify(key: ColdKey): Promise<EntryResult> {
    const unknownUntil = unknown.get(key.id);
    if (unknownUntil !== undefined && unknownUntil > now()) return fail('unknown_key', key.id);
    // The very plaintext verified for this key before (its verification lapsed, the entry is still
    // cached): its holder, not a guesser, whom failures on its id from a shared address (a carrier
    // NAT, an office proxy) must not lock out. The digest cannot be had without the key, so this
    // spends no budget and is never refused by one; the hash still runs, once per lapse.
    const recognized = records.peek(key.id)?.digest === key.digest;
    const reserved = recognized ? undefined : throttle?.reserve(key.ip, key.id);
    const reservation = reserved instanceof Promise ? await reserved : reserved;
    if (reservation?.ok === false) {
      return {
        ok: false,
        reason: 'throttled',
        keyId: key.id,
        retryAfter: secondsUntil(reservation.retryAt, now()),
      };
    }
    const outcome = await checkSecret(key, reservation?.client ?? clientPartition(key.ip) ?? 'unknown');
    // Unknown ids and wrong secrets keep their reservation: work spent on a guess.
    const failed = !(outcome instanceof CachedKey);
    reservation?.settle(failed && (outcome.reason === 'unknown_key' || outcome.reason === 'wrong_secret'));
    if (!failed) {
      const until = rel(now()) + verifiedTtlMs;
      outcome.verified(key.digest, until);
      // A record read again meanwhile: the same hash, the same verified plaintext.
      const current = records.peek(key.id);
      if (current !== undefined && current !== outcome && current.sameHash(outcome)) {
        current.verified(key.digest, until);
      }
    }
    return outcome;
  }

  /** The store read and the hash of a cold verification; `lane` is the client's turn in the hash queue. */
  async function checkSecret(key: ColdKey, lane: string): Promise<EntryResult> {
    const loaded = await load(key.id);
    if (loaded instanceof Error) return fail('store_unavailable', key.id);
    if (!loaded) {
      unknown.set(key.id, now() + unknownTtlMs);
      return fail('unknown_key', key.id);
    }
    const { entry, hash } = loaded;
    const by = hasherOf(hash);
    if (by === undefined) {
      mismatch(key.id, hash);
      return fail('hash_mismatch', key.id);
    }
    let match: boolean;
    try {
      match = await hashQueue.run(lane, () => by.verify(hash, key.plaintext));
    } catch (error) {
      if (error instanceof QueueFullError) return fail('busy', key.id);
      match = false; // a hasher that throws is a hasher that did not say yes
    }
    if (!match) return fail('wrong_secret', key.id);
    if (by !== hasher) void rehash(key, hash, lane, by.id);
    return entry;
  }

  /** The hasher that made a stored hash: the current one, else an earlier one; undefined: none. */
  function hasherOf(hash: string): Hasher | undefined {
    if (hasherRecognizes(hasher, hash)) return hasher;
    return earlierHashers.find((earlier) => hasherRecognizes(earlier, hash));
  }

  /**
   * A key verified by an earlier hasher, hashed again with the current one and stored in place of
   * the old hash (only while it is still the old one: of several instances, one writes). Nothing
   * waits for it; a failure leaves the old hash, which goes on verifying, and is tried again at the
   * key's next cold verification.
   */
  async function rehash(key: ColdKey, from: string, lane: string, fromKind: string): Promise<void> {
    if (store.replaceHash === undefined) return;
    try {
      const to = await hashQueue.run(lane, () => hasher.hash(key.plaintext));
      if (!(await store.replaceHash(key.id, from, to))) return;
      records.invalidate(key.id); // the next request reads the new hash (and verifies it once)
      emit({ type: 'key.rehashed', time: new Date(now()), keyId: key.id, from: fromKind, to: hasher.id });
    } catch (error) {
      if (!(error instanceof QueueFullError)) storeError('rehash', error);
    }
  }

  /**
   * The warm path (a verified key whose record is cached) answers synchronously: `pnpm bench`
   * showed the promise machinery of an `await` there costing as much as the check itself.
   */
  function verify(
    key: unknown,
    client: VerifyClient | undefined,
    at: number | undefined,
  ): EntryResult | Promise<EntryResult> {
    // Warm path first. The cache is keyed by the key's id; its entry holds the digest (a keyed
    // 128-bit PRF, keys/key-digest.ts) of the one plaintext that was checked whole (body
    // characters, checksum) and matched against the hash, so those checks run only on a miss.
    // The frame checks (type, length, separator, prefix) come first, so only a string that names
    // a configured prefix is ever hashed, and never one of another length.
    if (!hasApiKeyFrame(key, prefixList)) return MALFORMED_KEY;
    const bodyStart = key.length - BODY_LENGTH;
    const id = key.slice(bodyStart, bodyStart + API_KEY_PARTS.id);
    const digest = keyDigest(key);
    const t = timeOf(at);
    // The address is read now, while the request is current: read after an await, a client that
    // reset its connection would have none left, and its failure would go uncounted.
    const entry = records.fresh(id, t);
    if (entry !== undefined && holds(entry, digest, t)) return accept(entry, t);
    if (entry === undefined) {
      const stale = records.peek(id);
      if (stale !== undefined && holds(stale, digest, t))
        return verifyHit({ plaintext: key, digest, id, ip: client?.ip }, t);
    }
    const parsed = parseApiKey(key, prefixes); // body characters and checksum
    if (!parsed.ok) return parsed;
    const ip = client?.ip || undefined; // '' is no address either
    // No one to charge, and no one to answer: a client that reset before its request was read.
    if (ip === undefined && client?.disconnected === true)
      return { ok: false, reason: 'throttled', keyId: id, retryAfter: 1 };
    return verifyCold({ plaintext: key, digest, id, ip });
  }

  /** A verified key whose record must be read again: the same hash keeps it verified. */
  async function verifyHit(key: ColdKey, t: number): Promise<EntryResult> {
    const loaded = await load(key.id);
    if (loaded instanceof Error) return fail('store_unavailable', key.id);
    if (loaded !== null && holds(loaded.entry, key.digest, t)) return accept(loaded.entry, now());
    return verifyCold(key); // deleted, or its hash changed: verify from scratch
  }

  async function verifyCold(key: ColdKey): Promise<EntryResult> {
    let flight = flights.get(key.digest);
    if (!flight) {
      flight = coldVerify(key).finally(() => flights.delete(key.digest));
      flights.set(key.digest, flight);
    }
    const outcome = await flight;
    return outcome instanceof CachedKey ? accept(outcome, now()) : outcome;
  }

  /** Unreachable by design; if a failure happens anyway, refuse (fail closed) rather than throw. */
  function failClosed(error: unknown): KeyFailure {
    storeError('verify', error);
    return fail('store_unavailable');
  }

  return {
    verifyEntryNow(key, client, at) {
      try {
        const result = verify(key, client, at);
        return result instanceof Promise ? result.catch(failClosed) : result;
      } catch (error) {
        return failClosed(error);
      }
    },
    lookupEntryNow(id, at) {
      const t = timeOf(at);
      const entry = records.fresh(id, t);
      if (entry !== undefined) return accept(entry, t);
      return load(id).then((loaded) => {
        if (loaded instanceof Error) return fail('store_unavailable', id);
        return loaded === null ? fail('unknown_key', id) : accept(loaded.entry, now());
      });
    },
    info(entry) {
      const touched = entry.touchedUntilRel;
      return entry.info(touched === 0 ? null : records.abs(touched - lastUsedIntervalMs));
    },
    invalidate(id) {
      records.invalidate(id);
      if (id === null) unknown.clear();
      else unknown.delete(id);
    },
  };
}
