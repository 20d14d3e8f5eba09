// The request path of the key manager: checks a presented key, answering synchronously when it
// can (a verified key whose record is cached), and otherwise through one store read and one hash
// shared by concurrent callers (single-flight), paid for by a reservation from the client's
// failure budgets. Revocation and expiry are checked on every call, cached or not.
import * as nodeCrypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { secondsUntil } from '../limits/windows.js';
import { clientPartition } from '../request/client-partition.js';
import { QueueFullError } from './hash-queue.js';
import { hasherRecognizes } from './hashers.js';
import { hasApiKeyFrame, parseApiKey } from './key-format.js';
import type { VerifyApiKeyResult, VerifyClient, VerifyFailureReason } from './key-manager.js';
import type { KeyManagerSettings } from './key-manager-options.js';
import type { RecordCache, RecordEntry } from './record-cache.js';

type Failure = Extract<VerifyApiKeyResult, { ok: false }>;
type ColdOutcome = { ok: true; entry: RecordEntry } | Failure;
interface VerifiedEntry {
  id: string;
  hash: string;
  until: number;
}
/** A key on its way through the cold path. */
interface ColdKey {
  plaintext: string;
  digest: string;
  id: string;
  /** The client's address, read when the request arrived. */
  ip: string | undefined;
}

export interface Verifier {
  verifyNow(key: unknown, client?: VerifyClient): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  lookupNow(id: string): VerifyApiKeyResult | Promise<VerifyApiKeyResult>;
  /** Drops what is known about an id (or every id): the record and the unknown-id answer. */
  invalidate(id: string | null): void;
}

// One-shot `crypto.hash` (Node >= 20.12) is 2.6x faster than createHash() for a 58-byte key
// (248 vs 644 ns, `pnpm bench`); older Node 20 releases fall back to createHash. The digest is
// only ever a Map key in this process, so it stays in 'binary' (latin1: 32 one-byte characters):
// making it and looking it up cost 272 ns against 323 ns as base64, whose 44 characters V8 hashes.
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: 'binary') => string })
  .hash;
const sha256 = oneShot
  ? (text: string) => oneShot('sha256', text, 'binary')
  : (text: string) => nodeCrypto.createHash('sha256').update(text).digest('binary');

const MALFORMED_KEY: Failure = Object.freeze({ ok: false, reason: 'malformed' });

export const fail = (reason: VerifyFailureReason, keyId?: string): Failure =>
  keyId === undefined ? { ok: false, reason } : { ok: false, reason, keyId };

export function createVerifier(settings: KeyManagerSettings, records: RecordCache): Verifier {
  const { store, hasher, prefixes, now, throttle, hashQueue, lastUsedIntervalMs, emit } = settings;
  const { maxKeys, verifiedTtlMs, unknownTtlMs, maxUnknown } = settings.cache;
  const verified = new LRUCache<string, VerifiedEntry>({ max: maxKeys });
  const unknown = new LRUCache<string, number>({ max: maxUnknown });
  const touched = new LRUCache<string, number>({ max: maxKeys });
  const flights = new Map<string, Promise<ColdOutcome>>();

  let mismatchReported = false;
  /** A key hashed by another hasher: said once, loudly (every such key fails until it is fixed). */
  function mismatch(id: string, hash: string): void {
    if (mismatchReported) return;
    mismatchReported = true;
    const kind = hash.slice(0, hash.indexOf('$', 1) + 1) || 'an unknown format';
    process.emitWarning(
      `keywarden: key ${id} was hashed as ${kind}, but this key manager verifies with ${hasher.id}; ` +
        'every such key is refused until the hasher matches the one the keys were created with',
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

  /** The record from the cache while fresh, else from the store; 'unavailable' when the store fails. */
  async function cachedRecord(id: string, t: number): Promise<RecordEntry | undefined | 'unavailable'> {
    const entry = records.fresh(id, t);
    if (entry !== undefined) return entry;
    try {
      return (await records.load(id)) ?? undefined;
    } catch (error) {
      storeError('get', error);
      return 'unavailable';
    }
  }

  /** Status and expiry, every time; `lastUsedAt` at most once per interval. */
  function accept(entry: RecordEntry, t: number): VerifyApiKeyResult {
    const { info: record } = entry;
    if (record.revokedAt !== null && record.revokedAt.getTime() <= t) return fail('revoked', record.id);
    if (record.expiresAt !== null && record.expiresAt.getTime() <= t) return fail('expired', record.id);
    if (t >= entry.touchedUntil) touch(entry, t);
    return entry.accepted;
  }

  function touch(entry: RecordEntry, t: number): void {
    const { id } = entry.info;
    const last = touched.get(id);
    if (last === undefined || t - last >= lastUsedIntervalMs) {
      touched.set(id, t);
      store.touch(id, new Date(t)).catch((error: unknown) => storeError('touch', error));
      entry.touchedUntil = t + lastUsedIntervalMs;
    } else entry.touchedUntil = last + lastUsedIntervalMs;
  }

  /** One cold verification: a store read and a hash, paid for by a reservation from the client's budgets. */
  async function coldVerify(key: ColdKey): Promise<ColdOutcome> {
    const unknownUntil = unknown.get(key.id);
    if (unknownUntil !== undefined && unknownUntil > now()) return fail('unknown_key', key.id);
    const reserved = throttle?.reserve(key.ip, key.id);
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
    reservation?.settle(
      !outcome.ok && (outcome.reason === 'unknown_key' || outcome.reason === 'wrong_secret'),
    );
    if (outcome.ok)
      verified.set(key.digest, { id: key.id, hash: outcome.entry.hash, until: now() + verifiedTtlMs });
    return outcome;
  }

  /** The store read and the hash of a cold verification; `lane` is the client's turn in the hash queue. */
  async function checkSecret(key: ColdKey, lane: string): Promise<ColdOutcome> {
    let entry: RecordEntry | null;
    try {
      entry = await records.load(key.id);
    } catch (error) {
      storeError('get', error);
      return fail('store_unavailable', key.id);
    }
    if (!entry) {
      unknown.set(key.id, now() + unknownTtlMs);
      return fail('unknown_key', key.id);
    }
    if (!hasherRecognizes(hasher, entry.hash)) {
      mismatch(key.id, entry.hash);
      return fail('hash_mismatch', key.id);
    }
    let match: boolean;
    try {
      match = await hashQueue.run(lane, () => hasher.verify(entry.hash, key.plaintext));
    } catch (error) {
      if (error instanceof QueueFullError) return fail('busy', key.id);
      match = false; // a hasher that throws is a hasher that did not say yes
    }
    return match ? { ok: true, entry } : fail('wrong_secret', key.id);
  }

  /**
   * The warm path (a verified key whose record is cached) answers synchronously: `pnpm bench`
   * showed the promise machinery of an `await` there costing as much as the check itself.
   */
  function verify(
    key: unknown,
    client: VerifyClient | undefined,
  ): VerifyApiKeyResult | Promise<VerifyApiKeyResult> {
    // Warm path first. A digest found in `verified` belongs to a key that was checked whole
    // (body characters, checksum) and matched against its hash before (SHA-256 is collision
    // resistant), so those checks run only on a miss: together they cost as much as the digest
    // (~300 ns, `pnpm bench`). The frame checks (type, length, separator, prefix) come first, so
    // only a string that names a configured prefix is ever hashed, and never one of another length.
    if (!hasApiKeyFrame(key, prefixes)) return MALFORMED_KEY;
    const digest = sha256(key);
    const t = now();
    const hit = verified.get(digest);
    // The address is read now, while the request is current: read after an await, a client that
    // reset its connection would have none left, and its failure would go uncounted.
    if (hit !== undefined && hit.until > t) {
      const entry = records.fresh(hit.id, t);
      if (entry !== undefined && entry.hash === hit.hash) return accept(entry, t);
      return verifyHit({ plaintext: key, digest, id: hit.id, ip: client?.ip }, hit, t);
    }
    const parsed = parseApiKey(key, prefixes); // body characters and checksum
    if (!parsed.ok) return parsed;
    return verifyCold({ plaintext: key, digest, id: parsed.id, ip: client?.ip });
  }

  /** A verified key whose record must be read again. */
  async function verifyHit(key: ColdKey, hit: VerifiedEntry, t: number): Promise<VerifyApiKeyResult> {
    const cached = await cachedRecord(hit.id, t);
    if (cached === 'unavailable') return fail('store_unavailable', hit.id);
    if (cached !== undefined && cached.hash === hit.hash) return accept(cached, now());
    verified.delete(key.digest); // deleted, or its hash changed: verify from scratch
    return verifyCold(key);
  }

  async function verifyCold(key: ColdKey): Promise<VerifyApiKeyResult> {
    let flight = flights.get(key.digest);
    if (!flight) {
      flight = coldVerify(key).finally(() => flights.delete(key.digest));
      flights.set(key.digest, flight);
    }
    const outcome = await flight;
    return outcome.ok ? accept(outcome.entry, now()) : outcome;
  }

  /** Unreachable by design; if a failure happens anyway, refuse (fail closed) rather than throw. */
  function failClosed(error: unknown): Failure {
    storeError('verify', error);
    return fail('store_unavailable');
  }

  return {
    verifyNow(key, client) {
      try {
        const result = verify(key, client);
        return result instanceof Promise ? result.catch(failClosed) : result;
      } catch (error) {
        return failClosed(error);
      }
    },
    lookupNow(id) {
      const t = now();
      const entry = records.fresh(id, t);
      if (entry !== undefined) return accept(entry, t);
      return cachedRecord(id, t).then((cached) => {
        if (cached === 'unavailable') return fail('store_unavailable', id);
        return cached === undefined ? fail('unknown_key', id) : accept(cached, now());
      }, failClosed);
    },
    invalidate(id) {
      records.invalidate(id);
      if (id === null) unknown.clear();
      else unknown.delete(id);
    },
  };
}
