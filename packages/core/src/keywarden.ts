// The request authenticator: createKeywarden lists the stages of the request path, in the order a
// request meets them, and returns the API every adapter calls. The list (see `stages` below) is
// the one place that says what a request goes through; each stage is a module of its own under
// request/ and limits/, made once here with the settings it needs, and a request travels through
// them as one RequestContext. A stage answers a refusal or null to go on (request/pipeline.ts);
// the warm path never awaits (see util/maybe-promise.ts). A stacked middleware and a handler's
// charge run the list's tail, from the scope check and from the charge.
import type { AccountView } from './accounts/plans.js';
import type { AuthError } from './errors/auth-error.js';
import type { EventHandler, KeywardenEventType } from './events.js';
import type { KeyManager } from './keys/key-manager.js';
import {
  type KeywardenOptions,
  type KeywardenSettings,
  resolveKeywardenOptions,
} from './keywarden-options.js';
import { createCharging, type LimitStatus } from './limits/charge.js';
import {
  createMinting,
  type MintAccessTokenOptions,
  type MintedAccessToken,
  type MintResult,
} from './mint/minting.js';
import { registerEmitter } from './portal/emitter.js';
import { createAccountCheck } from './request/account-check.js';
import { createIpCheck, createPathCheck, createScopeCheck } from './request/authorize.js';
import { type Mode, RequestContext } from './request/context.js';
import { createExtraction } from './request/extract.js';
import { createHttpsGuard } from './request/guard-https.js';
import { createHolds, type Hold, type ReserveOptions, type ReserveResult } from './request/holds.js';
import { createPipeline, type Stage, stagesFrom } from './request/pipeline.js';
import { createPrincipals } from './request/principals.js';
import { createRefusals } from './request/refusals.js';
import { createStackedChecks } from './request/stacked.js';
import { createSuccess } from './request/succeed.js';
import type {
  AuthRequest,
  AuthResult,
  ChargeResult,
  Principal,
  RouteRequirements,
  StackedResult,
} from './request/types.js';
import { createKeyVerification } from './request/verify-key.js';
import { createTokenVerification } from './request/verify-token.js';
import { type MaybePromise, thenOrNow } from './util/maybe-promise.js';

/** The request authenticator made by {@link createKeywarden}. */
export interface Keywarden {
  /**
   * Authenticates one request: resolves to the principal and headers to set, or to an
   * {@link AuthError} carrying status, headers and problem body. Never rejects for any request.
   */
  authenticate(input: AuthRequest, route?: RouteRequirements): Promise<AuthResult>;
  /**
   * {@link Keywarden.authenticate} that answers without a promise when it can (a warm key or token
   * without limits): the adapters use it on the request path. Never throws.
   */
  authenticateNow(input: AuthRequest, route?: RouteRequirements): AuthResult | Promise<AuthResult>;
  /**
   * Where a key's rate limit and quota stand now (used, remaining, reset time), read from the
   * limit store without charging anything (the counters of its rotation lineage: what its
   * predecessors spent counts): for a usage page or a support tool. Resolves null for
   * an unknown key; rejects when the key store or the limit store cannot answer.
   *
   * @example
   * ```ts
   * const status = await keywarden.peekLimits(keyId);
   * if (status?.quota) console.log(`${status.quota.remaining} of ${status.quota.limit} left`);
   * ```
   */
  peekLimits(keyId: string): Promise<LimitStatus | null>;
  /**
   * The account an owner id names, as a request of its keys sees it now: its status, plan and the
   * limits its plan and overrides give it. Null when the owner has no account; rejects when its
   * plan is not in `plans` (its keys are refused then) or the store cannot answer.
   *
   * @example
   * ```ts
   * const account = await keywarden.accountOf('alice');
   * if (account) console.log(account.plan, account.quota?.limit, account.maxKeys);
   * ```
   */
  accountOf(ownerId: string): Promise<AccountView | null>;
  /**
   * The framework-free handler behind `POST /v3/auth/access-token/`: authenticates the request with
   * an API key (never a token; the key's path patterns do not apply to this route, its IP allowlist
   * does), validates the body, and mints a token within the key's paths and scopes.
   * @param body - The raw body (string or bytes; preferred) or a parsed object.
   */
  handleMintRequest(input: AuthRequest, body: unknown): Promise<MintResult>;
  /**
   * Mints an access token for a key from server code. Throws an {@link AuthError}
   * (`invalid_request` or `insufficient_scope`, with `detail`) for options the key does not allow,
   * `invalid_credentials` when the key is not valid, and a `TypeError` when tokens are not configured.
   */
  mintAccessToken(keyId: string, options?: MintAccessTokenOptions): Promise<MintedAccessToken>;
  /**
   * Charges `units` quota units to the key behind `principal` (a token's: its key), all or
   * nothing, from a handler whose cost depends on the request's body: an image tool charged per
   * output variant. It does not count a request against the rate limit (the request's own
   * authentication did). A refusal is keywarden's 429 `quota_exceeded` with `Retry-After` and the
   * RateLimit headers (or 503 when the counter store cannot answer and limits fail closed); a key
   * without a quota is always admitted, and its units metered. `request` is the request being
   * served, for the refusal's event (method, path, address). Synchronous with the memory store.
   *
   * @example
   * ```ts
   * const charged = await keywarden.chargeUnits(getAuth(req), 3 * variants.length, request);
   * if (!charged.ok) throw charged.error; // your error handler renders it (status, headers, body)
   * res.set(charged.headers);
   * ```
   */
  chargeUnits(
    principal: Principal,
    units: number,
    request?: AuthRequest,
  ): ChargeResult | Promise<ChargeResult>;
  /**
   * Reserves `units` quota units of the key behind `principal` (a token's: its key) and of its
   * account, against every limit at once, before work whose success is not known yet: the hold
   * is committed when the work is done (the units stay spent and are metered) or released when it
   * failed (the units come back; a hold neither is released after `timeoutMs`). A refusal is the
   * same as {@link Keywarden.chargeUnits}'s (429, 402 `credits_exhausted`, 503). With
   * `idempotencyKey`, a retry within 24 hours gets a hold that charges nothing (`reused`).
   * Synchronous with the memory store (without an Idempotency-Key). `principal.reserve(units,
   * options)` is the same, throwing the error.
   *
   * @example
   * ```ts
   * const reserved = await keywarden.reserve(getAuth(req), 2, { idempotencyKey: req.get('idempotency-key') });
   * if (!reserved.ok) throw reserved.error;
   * const { hold } = reserved;
   * try { await work(); hold.commit(); } catch (error) { await hold.release(); throw error; }
   * ```
   */
  reserve(
    principal: Principal,
    units: number,
    options?: ReserveOptions,
  ): ReserveResult | Promise<ReserveResult>;
  /**
   * Checks a route's requirements against a principal an earlier middleware already established
   * (a router-wide middleware, then a stricter route): null when met, else the refusal.
   */
  checkRoute(principal: Principal, route: RouteRequirements | undefined): AuthError | null;
  /**
   * For a stacked middleware (a router-wide `authenticate()`, then a route's own): checks the
   * route's scopes against the principal the earlier one established, then charges the quota
   * units its `cost` adds over `charged`, the cost already charged on this request, so that a
   * route's cost is never lost to the middleware before it. Answers at once when nothing is left
   * to charge.
   */
  authorizeAgain(
    input: AuthRequest,
    principal: Principal,
    route: RouteRequirements | undefined,
    charged: number,
  ): StackedResult | Promise<StackedResult>;
  /** Whether `tokens` was configured (adapters mount the mint route only then). */
  readonly tokensEnabled: boolean;
  /** Whether plain HTTP is refused (`requireHttps`), so adapters can warn about an untrusted proxy. */
  readonly httpsRequired: boolean;
  /** The key manager given in the options. */
  readonly keys: KeyManager;
  /**
   * Adds a listener of events of `types` (default: every type), besides the `onEvent` options:
   * this authenticator's (`auth.failed`, `limit.exceeded`, ...) and its key manager's
   * (`store.error`, key lifecycle). Per-request events are built only while someone listens to
   * their type, so a listener of failures costs successful requests nothing. Returns the
   * function that removes the listener. Adapters use it to log to the application's logger.
   *
   * @example
   * ```ts
   * keywarden.subscribe((event) => logger.info(event, 'keywarden refused'), ['auth.failed']);
   * ```
   */
  subscribe(listener: EventHandler, types?: readonly KeywardenEventType[]): () => void;
  /**
   * Writes the usage counted and not written yet (see the `usage` option). Call it on shutdown,
   * after the server stopped taking requests; it closes no store. Counting goes on if more
   * requests come.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => server.close(() => keywarden.close()));
   * ```
   */
  close(): Promise<void>;
}

/**
 * Creates the request authenticator: the core's one entry point, which every adapter calls.
 *
 * Order of checks: HTTPS rule; exactly one well-formed credential; the key (or token) itself; the
 * key's IP allowlist; its path patterns against the raw path; its account (suspended, on a known
 * plan); the route's required scopes; the key's rate limit and quota and its account's.
 *
 * @example
 * ```ts
 * const keywarden = createKeywarden({ keys: createKeyManager({ store }) });
 * const result = await keywarden.authenticate(
 *   { method: 'GET', url: '/v3/files/a.png', headers: { authorization: `Token ${key}` } },
 *   { scopes: ['images:read'] },
 * );
 * if (!result.ok) console.log(result.error.status, result.error.body);
 * ```
 */
export function createKeywarden(options: KeywardenOptions): Keywarden {
  const settings = resolveKeywardenOptions(options);
  const refusals = createRefusals(settings);
  const principals = createPrincipals((principal, units, options) =>
    thenOrNow(holds.reserve(principal, units, options), null, holdOrThrow),
  );
  const charging = createCharging(settings, refusals);
  const verifyKey = createKeyVerification(settings, { refusals, principals });
  const verifyToken = createTokenVerification(settings, { refusals, principals });
  const checkScopes = createScopeCheck(refusals);
  const accountCheck = createAccountCheck(settings, refusals);

  /** The request path, in order. Each stage answers a refusal or null to go on. */
  const stages: readonly Stage[] = [
    createHttpsGuard(settings, refusals), //   403 https_required
    createExtraction(settings, refusals), //   401 missing_credentials, 400 invalid_request
    (ctx) => (ctx.kind === 'access_token' ? verifyToken(ctx) : verifyKey(ctx)), // 401, 429, 503
    createIpCheck(refusals, principals), //    403 ip_not_allowed
    createPathCheck(refusals), //              403 path_not_allowed
    accountCheck.stage, //                     403 account_suspended, 503 (unknown plan, store down)
    checkScopes, //                            403 insufficient_scope
    charging.stage, //                         429 rate_limited / quota_exceeded, 503
  ];
  const run = createPipeline(stages, createSuccess(settings));

  function authenticate(
    input: AuthRequest,
    route: RouteRequirements | undefined,
    mode: Mode,
  ): MaybePromise<AuthResult> {
    return run(new RequestContext(input, route, mode, settings.now()));
  }

  function authenticateNow(input: AuthRequest, route?: RouteRequirements): MaybePromise<AuthResult> {
    try {
      const result = authenticate(input, route, 'request');
      return result instanceof Promise ? result.catch(refusals.failClosed) : result;
    } catch {
      return refusals.failClosed();
    }
  }

  const stacked = createStackedChecks(settings, {
    refusals,
    principals,
    fromAccount: stagesFrom(stages, accountCheck.stage),
  });
  const holds = createHolds(settings, {
    charging,
    charge: stacked.reserveUnits,
    keyOf: principals.keyOf,
  });
  const minting = createMinting(settings, { refusals, authenticate });
  const stopPurging = schedulePurge(settings);
  const keywarden: Keywarden = {
    keys: settings.keys,
    tokensEnabled: settings.tokens !== null,
    httpsRequired: settings.requireHttps,
    subscribe(listener, types) {
      const own = settings.events.subscribe(listener, types);
      // A key manager of another make may not take subscribers.
      const ofKeys =
        typeof settings.keys.subscribe === 'function' ? settings.keys.subscribe(listener, types) : null;
      return () => {
        own();
        ofKeys?.();
      };
    },
    authenticateNow,
    authenticate: (input, route) => Promise.resolve(authenticateNow(input, route)),
    accountOf: (ownerId) => accountCheck.viewOfOwner(ownerId),
    async peekLimits(keyId) {
      const key = await settings.keys.get(keyId);
      return key === null ? null : charging.peek(key, await accountCheck.accountOfOwner(key.ownerId));
    },
    async close() {
      stopPurging();
      await holds.releaseAll(); // their work will not finish now
      await settings.meter?.close();
    },
    checkRoute: stacked.checkRoute,
    authorizeAgain: stacked.authorizeAgain,
    chargeUnits: stacked.chargeUnits,
    reserve: holds.reserve,
    handleMintRequest: minting.handleMintRequest,
    mintAccessToken: minting.mintAccessToken,
  };
  registerEmitter(keywarden, settings.emit); // the portal's audit events go where this one's go
  return keywarden;
}

/** A reserve's answer as `principal.reserve` gives it: the hold, or the refusal thrown. */
function holdOrThrow(_: null, reserved: ReserveResult): Hold {
  if (!reserved.ok) throw reserved.error;
  return reserved.hold;
}

const PURGE_FIRST_MS = 60_000;
const PURGE_EVERY_MS = 86_400_000;

/**
 * Purges the key manager's revoked and expired keys past its retention: a minute after start (a
 * server restarted every day still purges), then once a day; timers that never keep the process
 * alive. A failure is a `store.error` event (operation `purge`) and the next day tries again.
 * Returns the function that stops it.
 */
function schedulePurge(settings: KeywardenSettings): () => void {
  const { keys, emit, now } = settings;
  if (typeof keys.purge !== 'function' || keys.purgeAfterDays === null) return () => {};
  const run = () => {
    keys.purge().catch((error: unknown) =>
      emit({
        type: 'store.error',
        time: new Date(now()),
        operation: 'purge',
        message: (error as Error)?.message ?? 'error',
      }),
    );
  };
  let daily: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    run();
    daily = setInterval(run, PURGE_EVERY_MS);
    daily.unref();
  }, PURGE_FIRST_MS);
  first.unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}
