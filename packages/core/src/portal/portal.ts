// The self-service key portal's JSON API, framework-free: each adapter resolves the signed-in
// owner (from the provider's own session), hands the request here and writes the answer back.
// Everything is scoped to that owner: another owner's key id answers 404, never 403, so ids
// cannot be probed. State-changing calls need the custom header and, when the browser sends an
// Origin, the request's own origin: a cross-site form or fetch can send neither.
import type { AccountView } from '../accounts/plans.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../errors/auth-error.js';
import { KeywardenConfigError } from '../errors/config-error.js';
import type { KeyManager } from '../keys/key-manager.js';
import { type ApiKeyInfo, boundsOf, type KeyBounds, normalizeCidr } from '../keys/key-record.js';
import type { Keywarden } from '../keywarden.js';
import { cidrsWithin } from '../request/ip-allowlist.js';
import type { UsageDay } from '../usage/usage-store.js';
import { optionsObject } from '../util/options.js';
import { emitterOf } from './emitter.js';
import { PORTAL_PAGE, PORTAL_PAGE_HEADERS } from './page.js';
import { type PortalPolicy, pathsAllowed, type ResolvedPolicy, resolvePolicy } from './policy.js';

/** One request to the portal, as an adapter passes it. */
export interface PortalRequest {
  method: string;
  /** The path below where the portal is mounted, without the query: `''`, `keys`, `keys/<id>/rotate`. */
  path: string;
  /** The query string, without `?`. */
  query?: string;
  /** Request headers, lower-case names. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The body: bytes or text as received (preferred), an object a body parser made, or undefined. */
  body?: unknown;
  /** The signed-in owner your `resolveOwner` found; null answers 401. */
  owner: string | null;
  /** This server's own origin as the request reached it (`https://example.com`), for the CSRF check. */
  origin: string;
}

/** The portal's answer, for the adapter to write as is. */
export interface PortalResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Options of {@link createPortal}. */
export interface PortalOptions {
  /** What customers may do with their keys (owners without an account, or on a plan `plans` does not name). */
  policy?: PortalPolicy;
  /**
   * The policy of each plan's accounts, by plan name: what the owners of an account on that plan
   * may do. The account's `maxKeys` (its plan's, or its own) replaces `maxKeysPerOwner`.
   * @default every plan gets `policy`
   */
  plans?: Readonly<Record<string, PortalPolicy>>;
  /** Origins besides the request's own allowed to make state-changing calls (your app's other hosts). @default [] */
  allowedOrigins?: readonly string[];
}

/** The portal made by {@link createPortal}. */
export interface Portal {
  /** Answers one request; never rejects. */
  handle(request: PortalRequest): Promise<PortalResponse>;
}

/** The header every state-changing call must carry (value `1`). */
export const PORTAL_CSRF_HEADER = 'x-keywarden-portal';

const MAX_BODY = 16 * 1024;
const ID = /^[A-Za-z0-9]{1,64}$/;
const DAY_MS = 86_400_000;
const CHANGES = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

class PortalError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign in first',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Body too large',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Unavailable',
};

function problem(error: PortalError): PortalResponse {
  const body = {
    type: PROBLEM_TYPE_BASE + error.code,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
  };
  return {
    status: error.status,
    headers: { ...error.headers, 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

function json(status: number, value: unknown): PortalResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(value),
  };
}

const header = (request: PortalRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : (value as string | undefined);
};

/** The refusal of a state-changing call a cross-site page could have made, or null. */
function crossSite(request: PortalRequest, allowed: readonly string[]): PortalError | null {
  if (!CHANGES.has(request.method)) return null;
  if (header(request, PORTAL_CSRF_HEADER) !== '1')
    return new PortalError(403, 'csrf', `State-changing calls need the header ${PORTAL_CSRF_HEADER}: 1`);
  const origin = header(request, 'origin');
  if (origin !== undefined && origin !== request.origin && !allowed.includes(origin))
    return new PortalError(403, 'csrf', 'This call came from another origin');
  return null;
}

function parseBody(body: unknown): Record<string, unknown> {
  let value = body;
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const text = Buffer.from(value).toString('utf8');
    if (text.length > MAX_BODY)
      throw new PortalError(413, 'body_too_large', `The body must be at most ${MAX_BODY} bytes`);
    if (text.trim() === '') return {};
    try {
      value = JSON.parse(text);
    } catch {
      throw new PortalError(400, 'invalid_json', 'The body is not valid JSON');
    }
  }
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new PortalError(400, 'invalid_body', 'The body must be a JSON object');
  return value as Record<string, unknown>;
}

function only(body: Record<string, unknown>, fields: readonly string[]): void {
  const unknown = Object.keys(body).filter((field) => !fields.includes(field));
  if (unknown.length > 0) throw new PortalError(400, 'invalid_body', `Unknown fields: ${unknown.join(', ')}`);
}

function stringArray(body: Record<string, unknown>, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new PortalError(400, 'invalid_parameter', `${field} must be an array of strings`);
  return value;
}

function wholeSeconds(
  body: Record<string, unknown>,
  field: string,
  min: number,
  max: number | null,
): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < min ||
    (max !== null && value > max)
  )
    throw new PortalError(
      400,
      'invalid_parameter',
      `${field} must be whole seconds from ${min}${max === null ? '' : ` to ${max}`}`,
    );
  return value;
}

/** A key as its owner sees it: never a hash, never a plaintext. */
function view(key: ApiKeyInfo) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    environment: key.environment,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    replacedBy: key.replacedBy,
    scopes: key.scopes,
    paths: key.paths,
    ips: key.ips,
    rateLimit: key.rateLimit,
    quota: key.quota,
  };
}

const active = (key: ApiKeyInfo, now: number) =>
  (key.revokedAt === null || key.revokedAt.getTime() > now) &&
  (key.expiresAt === null || key.expiresAt.getTime() > now);

/**
 * The self-service key portal for a provider's signed-in customers: list, create, rename or
 * narrow, rotate and revoke their own keys, and read their usage, within a {@link PortalPolicy}.
 * Adapters mount it (`auth.portal(...)` on Express, Koa and Node, `keywardenPortal` on Fastify);
 * this is the framework-free core they share.
 *
 * @example
 * ```ts
 * const portal = createPortal(keywarden, { policy: { scopes: ['images:read'], quota: { limit: 50, period: 'month' } } });
 * const answer = await portal.handle({ method: 'GET', path: 'keys', headers: {}, owner: 'alice', origin: 'https://example.com' });
 * ```
 */
export function createPortal(keywarden: Keywarden, options: PortalOptions = {}): Portal {
  const policy = resolvePolicy(options.policy);
  const byPlan = new Map<string, ResolvedPolicy>();
  for (const [plan, planPolicy] of Object.entries(
    optionsObject('plans', options.plans, Object.keys(options.plans ?? {})),
  ))
    byPlan.set(plan, resolvePolicy(planPolicy));
  const allowedOrigins = options.allowedOrigins ?? [];
  const emit = emitterOf(keywarden);
  const shared = { keywarden, keys: keywarden.keys, serialized: perOwnerQueue() };

  /** The owner's account and the policy it gets; a suspended account changes nothing. */
  async function scoped(request: PortalRequest, owner: string): Promise<Context> {
    let account: AccountView | null;
    try {
      account = await keywarden.accountOf(owner);
    } catch {
      throw new PortalError(503, 'unavailable', 'Your account cannot be read right now; try again later');
    }
    if (account === null) return { ...shared, policy, account };
    if (account.status === 'suspended' && CHANGES.has(request.method))
      throw new PortalError(403, 'account_suspended', 'Your account is suspended: its keys cannot change');
    const own = byPlan.get(account.plan) ?? policy;
    const maxKeysPerOwner = account.maxKeys ?? own.maxKeysPerOwner;
    return {
      ...shared,
      policy: maxKeysPerOwner === own.maxKeysPerOwner ? own : { ...own, maxKeysPerOwner },
      account,
    };
  }

  return {
    async handle(request) {
      try {
        const segments = request.path.split('/').filter(Boolean);
        // The page itself is the same for everyone (it asks the API, which answers 401 to nobody).
        if (segments.length === 0 && (request.method === 'GET' || request.method === 'HEAD'))
          return { status: 200, headers: { ...PORTAL_PAGE_HEADERS }, body: PORTAL_PAGE };
        if (request.owner === null)
          throw new PortalError(401, 'sign_in_required', 'Sign in to manage your API keys');
        const refused = crossSite(request, allowedOrigins);
        if (refused) throw refused;
        const route = ROUTES.find((r) => r.match(segments));
        if (!route) throw new PortalError(404, 'not_found', 'No such portal route');
        const run = route.methods[request.method];
        if (!run)
          throw new PortalError(405, 'method_not_allowed', `Use ${Object.keys(route.methods).join(' or ')}`, {
            allow: Object.keys(route.methods).join(', '),
          });
        const context = await scoped(request, request.owner);
        const answer = await run(context, { request, owner: request.owner, id: segments[1] ?? '' });
        if (answer.action)
          emit({
            type: 'portal.action',
            time: new Date(),
            owner: request.owner,
            action: answer.action,
            keyId: answer.keyId!,
          });
        return answer.response;
      } catch (error) {
        if (error instanceof PortalError) return problem(error);
        if (error instanceof KeywardenConfigError)
          return problem(new PortalError(400, 'invalid_parameter', error.message));
        return problem(new PortalError(500, 'internal_error', 'The portal could not answer; try again'));
      }
    },
  };
}

interface Answer {
  response: PortalResponse;
  /** An action to audit, with its key. */
  action?: 'create' | 'update' | 'rotate' | 'revoke';
  keyId?: string;
}

/** What every route works with. */
interface Context {
  keywarden: Keywarden;
  keys: KeyManager;
  /** The policy of the signed-in owner: its account's plan's, else the portal's. */
  policy: ResolvedPolicy;
  /** The owner's account; null without one. */
  account: AccountView | null;
  /** Runs an owner's count-then-create steps one at a time in this process. */
  serialized: <T>(owner: string, task: () => Promise<T>) => Promise<T>;
}

/**
 * One queue per owner: two parallel creations (or rotations) by one owner would otherwise both count
 * the keys before either made one, and both pass the limit. Across instances, creation also checks
 * again after it (see `create`).
 */
function perOwnerQueue() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(owner: string, task: () => Promise<T>): Promise<T> => {
    const run = (tails.get(owner) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => {});
    tails.set(owner, tail);
    void tail.then(() => {
      if (tails.get(owner) === tail) tails.delete(owner);
    });
    return run;
  };
}
type Run = (ctx: Context, call: { request: PortalRequest; owner: string; id: string }) => Promise<Answer>;
interface Route {
  match(segments: string[]): boolean;
  methods: Record<string, Run>;
}

/** The owner's key, or 404 (also for another owner's key: ids cannot be probed). */
async function own(ctx: Context, owner: string, id: string): Promise<ApiKeyInfo> {
  const key = ID.test(id) ? await ctx.keys.get(id) : null;
  if (key === null || key.ownerId !== owner) throw new PortalError(404, 'not_found', 'No such key');
  return key;
}

/** A key with where its quota stands (null without a quota, or when the limit store cannot answer). */
async function withUsage(ctx: Context, key: ApiKeyInfo) {
  let usage = null;
  if (key.quota !== null) {
    const quota = (await ctx.keywarden.peekLimits(key.id).catch(() => null))?.quota;
    if (quota)
      usage = {
        period: key.quota.period,
        used: quota.used,
        remaining: quota.remaining,
        resetAt: quota.resetAt,
      };
  }
  return { ...view(key), usage };
}

/**
 * Scopes, paths and addresses a customer chose, checked against what they may choose within: the
 * key's bounds (what an operator gave it), or the policy for a key made in the portal (null).
 */
function narrowed(policy: ResolvedPolicy, bounds: KeyBounds | null, body: Record<string, unknown>) {
  const widest = bounds ?? { scopes: policy.scopes, paths: policy.paths, ips: [] };
  const scopes = stringArray(body, 'scopes');
  if (scopes && !scopes.every((scope) => widest.scopes.includes(scope))) {
    const allowed = widest.scopes.join(', ') || '(none)';
    throw new PortalError(400, 'scope_not_allowed', `Scopes may only be among: ${allowed}`);
  }
  const paths = stringArray(body, 'paths');
  if (paths && (paths.length === 0 || !pathsAllowed(paths, widest.paths)))
    throw new PortalError(400, 'path_not_allowed', `Paths must lie within: ${widest.paths.join(', ')}`);
  const chosen = stringArray(body, 'ips');
  const ips = chosen?.map((ip) => normalizeCidr(ip));
  if (ips?.some((ip) => ip === null))
    throw new PortalError(400, 'invalid_parameter', 'ips must be IP addresses or CIDR blocks');
  if (ips && !cidrsWithin(ips as string[], widest.ips))
    throw new PortalError(
      400,
      'ips_not_allowed',
      `Addresses must lie within: ${widest.ips.join(', ')} (set when the key was made)`,
    );
  return { scopes, paths, ips: ips as string[] | undefined };
}

/** The owner's active keys, as of now. */
async function activeCount(keys: KeyManager, owner: string): Promise<number> {
  return keys.count({ ownerId: owner, activeAt: new Date() });
}

/**
 * The owner's keys made (created or rotated) within the policy's window: at its limit, 429 with the
 * seconds until the oldest of them leaves the window. Counted from the store, so it holds across
 * instances, and revoking a key gives no creation back.
 */
async function checkCreations(ctx: Context, owner: string): Promise<void> {
  const { limit, windowSeconds } = ctx.policy.keyCreations;
  const now = Date.now();
  const since = now - windowSeconds * 1000;
  const recent = (await ctx.keys.list({ ownerId: owner }))
    .map((key) => key.createdAt.getTime())
    .filter((at) => at > since)
    .sort((a, b) => a - b);
  if (recent.length < limit) return;
  const retry = Math.max(1, Math.ceil((recent[recent.length - limit]! - since) / 1000));
  throw new PortalError(
    429,
    'too_many_creations',
    `You may make at most ${limit} keys in ${windowSeconds} s; try again in ${retry} s`,
    { 'retry-after': String(retry) },
  );
}

const tooMany = (policy: ResolvedPolicy, hint: string) =>
  new PortalError(409, 'too_many_keys', `You may hold at most ${policy.maxKeysPerOwner} keys; ${hint}`);

/** The environment of a new key: one the policy lists, else the key manager's default. */
function environmentOf(policy: ResolvedPolicy, chosen: unknown): { environment?: string } {
  const allowed = policy.environments ?? [];
  if (chosen === undefined) return allowed.length > 0 ? { environment: allowed[0]! } : {};
  if (typeof chosen !== 'string' || !allowed.includes(chosen))
    throw new PortalError(
      400,
      'invalid_parameter',
      `environment may be: ${allowed.join(', ') || 'only the default'}`,
    );
  return { environment: chosen };
}

/** The portal's page of keys: 50 unless `limit` (1 to 100) says otherwise. */
const KEYS_PAGE = 50;

/**
 * `limit=N&after=<id>`: a page of the owner's keys, oldest first. `after` must be one of the
 * owner's own keys (another owner's id is a 400 like an unknown one, so the cursor tells nothing
 * about keys that are not theirs).
 */
async function pageAsked(ctx: Context, owner: string, query: string | undefined) {
  const params = new URLSearchParams(query ?? '');
  const limitText = params.get('limit') ?? String(KEYS_PAGE);
  if (!/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 100)
    throw new PortalError(400, 'invalid_parameter', 'limit must be a whole number from 1 to 100');
  const after = params.get('after');
  if (after !== null) {
    const key = ID.test(after) ? await ctx.keys.get(after) : null;
    if (key === null || key.ownerId !== owner)
      throw new PortalError(400, 'invalid_parameter', 'after must be the id of one of your keys');
  }
  return { limit: Number(limitText), after };
}

const list: Run = async (ctx, { owner, request }) => {
  const { limit, after } = await pageAsked(ctx, owner, request.query);
  // One more than asked tells whether another page follows.
  const mine = await ctx.keys.list({
    ownerId: owner,
    limit: limit + 1,
    ...(after === null ? {} : { after }),
  });
  const page = mine.slice(0, limit);
  return {
    response: json(200, {
      keys: await Promise.all(page.map((key) => withUsage(ctx, key))),
      next: mine.length > limit ? page.at(-1)!.id : null,
    }),
  };
};

const create: Run = async (ctx, { request, owner }) => {
  const { policy, keys } = ctx;
  const body = parseBody(request.body);
  only(body, ['name', 'environment', 'scopes', 'paths', 'ips', 'expires_in']);
  if (typeof body.name !== 'string' || body.name.trim() === '')
    throw new PortalError(400, 'invalid_parameter', 'name is required');
  const { scopes, paths, ips } = narrowed(policy, null, body);
  const environment = environmentOf(policy, body.environment);
  const expiresIn =
    wholeSeconds(body, 'expires_in', 60, policy.maxExpiresInSeconds) ?? policy.maxExpiresInSeconds;
  const created = await ctx.serialized(owner, async () => {
    if ((await activeCount(keys, owner)) >= policy.maxKeysPerOwner) throw tooMany(policy, 'revoke one first');
    await checkCreations(ctx, owner);
    const made = await keys.create({
      name: body.name as string,
      ...environment,
      scopes: scopes ?? policy.scopes,
      paths: paths ?? policy.paths,
      ips: ips ?? [],
      ...(expiresIn !== null ? { expiresIn } : {}),
      rateLimit: policy.rateLimit,
      quota: policy.quota,
      ownerId: owner,
      portalBounds: null, // the policy bounds what its owner may choose later
    });
    // Another instance may have counted at the same time: the later key goes again (both may).
    if ((await activeCount(keys, owner)) > policy.maxKeysPerOwner) {
      await keys.delete(made.record.id);
      throw tooMany(policy, 'revoke one first');
    }
    return made;
  });
  const response = json(201, { key: created.key, record: view(created.record) });
  return { response, action: 'create', keyId: created.record.id };
};

const update: Run = async (ctx, { request, owner, id }) => {
  const key = await own(ctx, owner, id);
  const body = parseBody(request.body);
  only(body, ['name', 'scopes', 'paths', 'ips']);
  if (Object.keys(body).length === 0)
    throw new PortalError(400, 'invalid_body', 'Give name, scopes, paths or ips');
  if (body.name !== undefined && (typeof body.name !== 'string' || body.name.trim() === ''))
    throw new PortalError(400, 'invalid_parameter', 'name must be a non-empty string');
  if (!active(key, Date.now()))
    throw new PortalError(409, 'key_inactive', 'A revoked or expired key cannot change');
  const bounds = boundsOf(key);
  const { scopes, paths, ips } = narrowed(ctx.policy, bounds, body);
  const updated = await ctx.keys.update(id, {
    ...(body.name !== undefined ? { name: body.name as string } : {}),
    ...(scopes ? { scopes } : {}),
    ...(paths ? { paths } : {}),
    ...(ips ? { ips } : {}),
    portalBounds: bounds, // a customer's change keeps what it may narrow from
  });
  if (updated === null) throw new PortalError(404, 'not_found', 'No such key');
  return { response: json(200, { record: view(updated) }), action: 'update', keyId: id };
};

const rotate: Run = async (ctx, { request, owner, id }) => {
  await own(ctx, owner, id);
  const body = parseBody(request.body);
  only(body, ['grace_seconds']);
  const grace = wholeSeconds(body, 'grace_seconds', 0, ctx.policy.graceMax) ?? ctx.policy.graceDefault;
  const rotated = await ctx.serialized(owner, async () => {
    const current = await own(ctx, owner, id); // as of now, after any rotation queued before this one
    if (current.replacedBy !== null)
      throw new PortalError(
        409,
        'key_replaced',
        `This key was replaced by ${current.replacedBy}; rotate that one`,
      );
    if (!active(current, Date.now()))
      throw new PortalError(409, 'key_inactive', 'A revoked or expired key cannot be rotated');
    // The old key stays active through its grace period, beside the new one.
    if (grace > 0 && (await activeCount(ctx.keys, owner)) >= ctx.policy.maxKeysPerOwner)
      throw tooMany(ctx.policy, 'rotate with grace_seconds 0, or revoke a key first');
    await checkCreations(ctx, owner);
    return ctx.keys.rotate(id, { gracePeriodSeconds: grace });
  });
  if (rotated === null) throw new PortalError(404, 'not_found', 'No such key');
  const old = await ctx.keys.get(id);
  const response = json(201, {
    key: rotated.key,
    record: view(rotated.record),
    old_key_expires_at: old?.expiresAt ?? null,
  });
  return { response, action: 'rotate', keyId: id };
};

const revoke: Run = async (ctx, { owner, id }) => {
  await own(ctx, owner, id);
  const revoked = await ctx.keys.revoke(id);
  if (revoked === null) throw new PortalError(404, 'not_found', 'No such key');
  return { response: json(200, { record: view(revoked) }), action: 'revoke', keyId: id };
};

/** `days=N` (1 to 90, default 30): the UTC days ending today, as `from` and `to`. */
function daysAsked(query: string | undefined): { from: string; to: string } {
  const days = new URLSearchParams(query ?? '').get('days') ?? '30';
  if (!/^\d{1,2}$/.test(days) || Number(days) < 1 || Number(days) > 90)
    throw new PortalError(400, 'invalid_parameter', 'days must be a whole number from 1 to 90');
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.parse(to) - (Number(days) - 1) * DAY_MS).toISOString().slice(0, 10);
  return { from, to };
}

/** One entry a day from `from` to `to`, days without usage as zeros. */
function series(range: { from: string; to: string }, days: readonly UsageDay[]) {
  const found = new Map(days.map((day) => [day.day, day]));
  const out = [];
  for (let t = Date.parse(range.from); t <= Date.parse(range.to); t += DAY_MS) {
    const date = new Date(t).toISOString().slice(0, 10);
    const day = found.get(date);
    out.push({
      date,
      requests: day?.requests ?? 0,
      units: day?.units ?? 0,
      ...(day?.credits ? { credits: day.credits } : {}),
      refused: day?.refusals ?? {},
    });
  }
  return out;
}

const usage: Run = async (ctx, { request, owner, id }) => {
  await own(ctx, owner, id);
  const range = daysAsked(request.query);
  return { response: json(200, { days: series(range, await ctx.keys.usage(id, range)) }) };
};

/**
 * The signed-in owner's account's usage a day (every key of it, revoked ones too): requests,
 * units, the units its credits paid, refusals. 404 for an owner without an account.
 */
const accountUsage: Run = async (ctx, { request }) => {
  if (ctx.account === null) throw new PortalError(404, 'not_found', 'You have no account');
  const range = daysAsked(request.query);
  const days = await ctx.keys.accounts.usage(ctx.account.id, range);
  return { response: json(200, { days: series(range, days) }) };
};

/** What the page needs to know of the policy. */
const policyOf: Run = async ({ policy }) => {
  const { maxKeysPerOwner, scopes, paths, environments, rateLimit, quota, maxExpiresInSeconds } = policy;
  const rotationGraceSeconds = policy.graceDefault;
  const summary = {
    maxKeysPerOwner,
    scopes,
    paths,
    environments,
    rateLimit,
    quota,
    maxExpiresInSeconds,
    keyCreations: policy.keyCreations,
  };
  return {
    response: json(200, { ...summary, rotationGraceSeconds, rotationGraceMaxSeconds: policy.graceMax }),
  };
};

/**
 * The signed-in owner's account: its plan, status, limits, and where they stand (read through its
 * newest key: every key of the account charges the same counters; null before it has one, or
 * when the limit store cannot answer). `{ account: null }` for an owner without an account.
 */
const accountOf: Run = async (ctx, { owner }) => {
  const { account } = ctx;
  if (account === null) return { response: json(200, { account: null }) };
  // Any key of the account reads the account's counters: the oldest is one indexed row.
  const [first] = await ctx.keys.list({ ownerId: owner, limit: 1 });
  const standing =
    first === undefined
      ? null
      : ((await ctx.keywarden.peekLimits(first.id).catch(() => null))?.account ?? null);
  return {
    response: json(200, {
      account: {
        id: account.id,
        plan: account.plan,
        status: account.status,
        maxKeys: ctx.policy.maxKeysPerOwner,
        activeKeys: await activeCount(ctx.keys, owner),
        quota: account.quota,
        rateLimits: account.rateLimits,
        usage:
          standing === null
            ? null
            : { quota: standing.quota, rateLimits: standing.rateLimits, credits: standing.credits },
      },
    }),
  };
};

const at =
  (...shape: (string | null)[]) =>
  (segments: string[]) =>
    segments.length === shape.length && shape.every((part, i) => part === null || part === segments[i]);

/** The JSON API, relative to where the portal is mounted. */
const ROUTES: readonly Route[] = [
  { match: at('policy'), methods: { GET: policyOf } },
  { match: at('account'), methods: { GET: accountOf } },
  { match: at('account', 'usage'), methods: { GET: accountUsage } },
  { match: at('keys'), methods: { GET: list, POST: create } },
  { match: at('keys', null), methods: { PATCH: update } },
  { match: at('keys', null, 'rotate'), methods: { POST: rotate } },
  { match: at('keys', null, 'revoke'), methods: { POST: revoke } },
  { match: at('keys', null, 'usage'), methods: { GET: usage } },
];
