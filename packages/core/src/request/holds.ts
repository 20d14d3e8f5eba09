// Holds: units a handler reserves before expensive work, then commits (the work was done: the
// units stay spent and are metered) or releases (it failed: the units go back to every counter
// they were charged to). Reserving is a handler's charge (the stages from the account check on,
// units only), so the units count against every limit at once and nothing is over-admitted
// while the work runs. A hold left open is released after its timeout; `close()` releases the
// open ones.
//
// Idempotency: with an Idempotency-Key, the first reserve claims a marker counter of limit 1 in
// the limit store (under the account's hash tag, or the key lineage's without one; the key's
// SHA-256 in the name, so no client text reaches a store key) that lives 24 hours; a retry finds
// it taken and gets a hold that charges nothing. A released hold gives its marker back, so a
// retry of work that failed is charged then. With Redis the marker is shared: a retry on another
// instance finds it too.

import { createHash } from 'node:crypto';
import { AuthError } from '../errors/auth-error.js';
import type { KeywardenSettings } from '../keywarden-options.js';
import type { Charging } from '../limits/charge.js';
import type { LimitCounter } from '../limits/limit-store.js';
import { type MaybePromise, thenOrNow } from '../util/maybe-promise.js';
import { integerOption } from '../util/options.js';
import type { RequestContext } from './context.js';
import type { Refused } from './refusals.js';
import type { AuthRequest, Principal } from './types.js';

/** How long an Idempotency-Key is remembered. */
const IDEMPOTENCY_MS = 86_400_000;
/** A hold neither committed nor released is released after this. */
const DEFAULT_TIMEOUT_MS = 300_000;
/** Idempotency-Key: 1 to 255 visible ASCII characters (what Stripe and the IETF draft accept). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Options of {@link Principal.reserve} and {@link Keywarden.reserve}. */
export interface ReserveOptions {
  /**
   * The request's `Idempotency-Key` header as the framework gives it (`req.headers['idempotency-key']`):
   * pass it on routes that opt in. A retried request with the same key within 24 hours, from the
   * same account (or the same key, for a key without one), gets a hold that charges nothing
   * (`reused`), unless the first was released. 1 to 255 visible ASCII characters; anything else
   * (or the header twice) is refused with 400 `invalid_request`. Undefined: no idempotency.
   */
  idempotencyKey?: string | readonly string[] | undefined;
  /**
   * A hold neither committed nor released is released after this many ms (within a quarter of a
   * second), with a `hold.expired` event; a commit after that does nothing (the units went back):
   * give work that may run long a longer timeout. @default 300000
   */
  timeoutMs?: number;
  /** The request being served, for a refusal's event (method, path, address). */
  request?: AuthRequest;
}

/** Where a {@link Hold} stands. */
export type HoldState = 'held' | 'committed' | 'released';

/**
 * Units reserved against every limit of a key and its account until the work they pay for is
 * done: `commit()` when it succeeded (metered then), `release()` when it failed (given back).
 * Once committed or released a hold stays so: later calls do nothing.
 *
 * @example
 * ```ts
 * const hold = await getAuth(req).reserve(2);
 * try {
 *   res.send(await upscale(image));
 *   hold.commit();
 * } catch (error) {
 *   await hold.release(); // failed work costs nothing
 *   throw error;
 * }
 * ```
 */
export interface Hold {
  /** Units held. */
  readonly units: number;
  readonly state: HoldState;
  /**
   * True when an earlier request with the same Idempotency-Key holds (or spent) the units: this
   * hold charged nothing, and its commit and release do nothing.
   */
  readonly reused: boolean;
  /** The RateLimit headers as the reservation left them (empty when nothing was charged). */
  readonly headers: Readonly<Record<string, string>>;
  /** The work was done: the units stay spent, and are metered as used. */
  commit(): void;
  /** The work failed: the units go back to every counter they were charged to. */
  release(): Promise<void>;
}

/** Outcome of {@link Keywarden.reserve}. */
export type ReserveResult = { ok: true; hold: Hold } | { ok: false; error: AuthError };

export interface HoldParts {
  charging: Charging;
  /** A handler's charge of `units` (no request counted), not metered: the context, or the refusal. */
  charge(
    principal: Principal,
    units: number,
    request: AuthRequest | undefined,
  ): MaybePromise<Refused | RequestContext>;
  keyOf(principal: Principal): { lineageId: string; ownerId: string | null } | undefined;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The one value of an Idempotency-Key header, or the refusal; undefined: none given. */
function idempotencyKeyOf(value: ReserveOptions['idempotencyKey']): string | undefined | AuthError {
  if (value === undefined) return undefined;
  const one = typeof value === 'string' ? value : value.length === 1 ? value[0] : undefined;
  if (typeof one === 'string' && IDEMPOTENCY_KEY.test(one)) return one;
  return new AuthError(
    'invalid_request',
    {},
    'Idempotency-Key must be one header of 1 to 255 visible ASCII characters',
  );
}

/** The marker counter of an Idempotency-Key: the owner's hash tag, the key's digest, 24 hours. */
function markerOf(key: { lineageId: string; ownerId: string | null }, idempotencyKey: string, now: number) {
  const tag = key.ownerId === null ? key.lineageId : `a:${encodeURIComponent(key.ownerId)}`;
  const digest = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
  return { key: `kw:{${tag}}:idem:${digest}`, limit: 1, cost: 1, resetAt: now + IDEMPOTENCY_MS };
}

/** What the holds of one keywarden share: settling, giving back, and the open ones to expire. */
interface HoldBook {
  settings: KeywardenSettings;
  charging: Charging;
  /** Open holds: each one's deadline is checked by a sweep a quarter of a second. */
  open: Set<OpenHold>;
  storeFailed(error: unknown): void;
  dropMarker(marker: LimitCounter | null): Promise<void>;
  /** Starts the sweep, if it is not running. */
  watch(): void;
}

/**
 * A hold over what a charge took (a class: a warm reserve makes one object, no closures, and no
 * timer of its own: the book's sweep expires it).
 */
class OpenHold implements Hold {
  readonly units: number;
  readonly reused = false;
  readonly headers: Readonly<Record<string, string>>;
  state: HoldState = 'held';
  /** When it is released unless settled (the keywarden clock, epoch ms). */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly #ctx: RequestContext;
  readonly #marker: LimitCounter | null;
  readonly #book: HoldBook;

  constructor(ctx: RequestContext, held: { marker: LimitCounter | null; timeoutMs: number }, book: HoldBook) {
    this.units = ctx.units;
    this.headers = ctx.headers;
    this.timeoutMs = held.timeoutMs;
    this.deadline = ctx.at + held.timeoutMs;
    this.#ctx = ctx;
    this.#marker = held.marker;
    this.#book = book;
    book.open.add(this);
    book.watch();
  }

  commit(): void {
    if (this.state !== 'held') return;
    this.state = 'committed';
    this.#book.open.delete(this);
    const { meter } = this.#book.settings;
    const { keyId, account, units, onCredits, at } = this.#ctx;
    if (meter === null || units === 0 || keyId === null) return;
    meter.admitted(keyId, units, 0, at);
    if (account === null) return;
    meter.accountAdmitted(account.id, units, 0, at);
    if (onCredits > 0) meter.accountCredits(account.id, onCredits, at);
  }

  async release(): Promise<void> {
    if (this.state !== 'held') return;
    this.state = 'released';
    const book = this.#book;
    book.open.delete(this);
    const { key, account, terms, units, onCredits, at } = this.#ctx;
    if (key !== null && units > 0) {
      try {
        await book.charging.giveBack({ key, account, terms, units, onCredits, at });
      } catch (error) {
        book.storeFailed(error); // the units stay spent: under the limit, never over
      }
    }
    await book.dropMarker(this.#marker);
  }

  /** Released at its deadline, with an event. */
  expire(): void {
    const { emit, now } = this.#book.settings;
    emit({
      type: 'hold.expired',
      time: new Date(now()),
      keyId: this.#ctx.keyId ?? '',
      units: this.units,
      timeoutMs: this.timeoutMs,
    });
    void this.release();
  }
}

/** A retry's hold (its Idempotency-Key found taken): nothing charged, nothing to settle. */
const reusedHold = (units: number): Hold => ({
  units,
  state: 'committed',
  reused: true,
  headers: NO_HEADERS,
  commit() {},
  release: async () => {},
});

const SWEEP_MS = 250;

export function createHolds(settings: KeywardenSettings, parts: HoldParts) {
  const { limitStore, emit, now, failOpen } = settings;
  const { charging } = parts;
  const open = new Set<OpenHold>();
  let sweeper: NodeJS.Timeout | null = null;

  /** Releases the holds past their deadline; stops once none is open (started again by the next). */
  function sweep(): void {
    const t = now();
    for (const hold of open) if (hold.deadline <= t) hold.expire();
    if (open.size === 0 && sweeper !== null) {
      clearInterval(sweeper);
      sweeper = null;
    }
  }

  /** A store call that failed: reported; the caller fails closed (or open). */
  function storeFailed(error: unknown): void {
    emit({
      type: 'store.error',
      time: new Date(now()),
      operation: 'limits',
      message: (error as Error)?.message ?? 'error',
    });
  }

  /** Gives a marker back (a released hold, a refused reserve): a retry is charged then. */
  async function dropMarker(marker: LimitCounter | null): Promise<void> {
    if (marker === null) return;
    try {
      await limitStore.giveBack?.([marker], now());
    } catch (error) {
      storeFailed(error);
    }
  }

  const book: HoldBook = {
    settings,
    charging,
    open,
    storeFailed,
    dropMarker,
    watch() {
      if (sweeper !== null) return;
      sweeper = setInterval(sweep, SWEEP_MS);
      sweeper.unref();
    },
  };

  /** What the charge answered: the hold, or the refusal (its marker given back for a retry). */
  function settle(
    held: { marker: LimitCounter | null; timeoutMs: number },
    charged: Refused | RequestContext,
  ): MaybePromise<ReserveResult> {
    if (!('ok' in charged)) return { ok: true, hold: new OpenHold(charged, held, book) };
    return held.marker === null ? charged : dropMarker(held.marker).then(() => charged);
  }

  /** A reserve with an Idempotency-Key: the marker first (a retry's is taken: charged nothing). */
  async function reserveOnce(
    principal: Principal,
    units: number,
    options: ReserveOptions & { marker: LimitCounter; timeoutMs: number },
  ): Promise<ReserveResult> {
    let marker: LimitCounter | null = options.marker;
    try {
      const { allowed } = await limitStore.consume([marker], now());
      if (!allowed) return { ok: true, hold: reusedHold(units) };
    } catch (error) {
      storeFailed(error);
      if (!failOpen) return { ok: false, error: new AuthError('auth_unavailable', { 'retry-after': '1' }) };
      marker = null; // fail open: charged as a request without the header
    }
    return settle(
      { marker, timeoutMs: options.timeoutMs },
      await parts.charge(principal, units, options.request),
    );
  }

  /**
   * Holds `units`: at once when the limit store answers at once (the memory store, a request
   * without an Idempotency-Key), so a warm reserve and commit stay synchronous.
   */
  function reserve(
    principal: Principal,
    units: number,
    options: ReserveOptions = {},
  ): MaybePromise<ReserveResult> {
    integerOption('reserve.units', units, 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
    const timeoutMs = integerOption('reserve.timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, {
      max: 2 ** 31 - 1,
    });
    const idempotencyKey = idempotencyKeyOf(options.idempotencyKey);
    if (idempotencyKey instanceof AuthError) return { ok: false, error: idempotencyKey };
    const key = parts.keyOf(principal);
    if (idempotencyKey !== undefined && key !== undefined) {
      const marker = markerOf(key, idempotencyKey, now());
      return reserveOnce(principal, units, { ...options, marker, timeoutMs });
    }
    return thenOrNow(parts.charge(principal, units, options.request), { marker: null, timeoutMs }, settle);
  }

  return {
    reserve,
    /** Releases every hold still open (on shutdown: their work will not finish). */
    async releaseAll(): Promise<void> {
      await Promise.all([...open].map((hold) => hold.release()));
      sweep(); // stops the sweep: none is open
    },
  };
}
