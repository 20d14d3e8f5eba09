// The demo's sign-in, standing for the provider's own login: `POST /your-server/session` with
// `{"owner": "alice"}` (as application/json only) starts a session and sets a signed, HttpOnly,
// SameSite=Lax cookie carrying its random id; `DELETE` ends the session. The key portal reads the
// owner from it (`resolveOwner`). Two demo owners only.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Plans, PortalPolicy } from '@keywarden/core';
import { ApiError } from './errors.js';

export const DEMO_OWNERS = ['alice', 'bob'] as const;

/**
 * The examples' plans: what an account may do over all its keys (each key's own limits apply too).
 * The demo's two customers are on one each: alice on `free`, bob on `pro`.
 */
export const PLANS: Plans = {
  free: { rateLimits: [{ limit: 60, windowSeconds: 60 }], quota: { limit: 50, period: 'month' }, maxKeys: 2 },
  pro: {
    rateLimits: [{ limit: 600, windowSeconds: 60 }],
    quota: { limit: 10_000, period: 'month' },
    maxKeys: 10,
  },
};

/** The demo's accounts and their plans. */
export const DEMO_ACCOUNTS: Readonly<Record<(typeof DEMO_OWNERS)[number], keyof typeof PLANS & string>> = {
  alice: 'free',
  bob: 'pro',
};
const COOKIE = 'demo_session';

/** What customers may do with their keys in the examples' portal (mounted at /account/api-keys/). */
export const PORTAL_POLICY: PortalPolicy = {
  maxKeysPerOwner: 5,
  scopes: ['images:read', 'images:write'],
  paths: ['/v3/*', '/v1/*'],
  rateLimit: { limit: 600, windowSeconds: 60 },
  quota: { limit: 1000, period: 'month' },
  rotationGraceSeconds: { default: 3600, max: 86_400 },
};

export interface Sessions {
  /**
   * Signs `body.owner` in: a new session (a random id, never one seen before) and the Set-Cookie
   * value carrying it. A 415 unless the body is `application/json` (a cross-site form can send
   * only text/plain, urlencoded or multipart without a preflight), a 400 for anyone but the demo
   * owners.
   */
  signIn(body: unknown, contentType: string | undefined): { owner: string; cookie: string };
  /** Ends the session the Cookie header carries (it never works again) and clears the cookie. */
  signOut(cookieHeader: string | undefined): string;
  /** The signed-in owner of a request's Cookie header, or null. */
  ownerOf(cookieHeader: string | undefined): string | null;
}

const SESSION_SECONDS = 86_400;
/** Sessions kept at once; the oldest ends first beyond it. */
const MAX_SESSIONS = 10_000;

/**
 * Demo sessions in this process's memory: a random id per sign-in, signed in the cookie, and the
 * owner it belongs to here. Signing out deletes it, so a copied cookie dies with the session.
 */
export function createSessions(secret: string, now: () => number = Date.now): Sessions {
  const sign = (id: string) => createHmac('sha256', `session:${secret}`).update(id).digest('base64url');
  const sessions = new Map<string, { owner: string; until: number }>();
  /** The session id a Cookie header carries, when its signature holds. */
  function idOf(cookieHeader: string | undefined): string | null {
    for (const part of (cookieHeader ?? '').split(';')) {
      const [name, value] = part.trim().split('=', 2);
      if (name !== COOKIE || !value) continue;
      const dot = value.lastIndexOf('.');
      const id = value.slice(0, dot);
      const given = Buffer.from(value.slice(dot + 1));
      const expected = Buffer.from(sign(id));
      if (dot > 0 && given.length === expected.length && timingSafeEqual(given, expected)) return id;
    }
    return null;
  }
  return {
    signIn(body, contentType) {
      if (!/^application\/json\s*(;|$)/i.test(contentType ?? ''))
        throw new ApiError(415, 'unsupported_media_type', 'Send {"owner": "..."} as application/json');
      const owner = (body as { owner?: unknown } | null)?.owner;
      if (typeof owner !== 'string' || !(DEMO_OWNERS as readonly string[]).includes(owner))
        throw new ApiError(
          400,
          'unknown_owner',
          `Sign in as one of the demo owners: ${DEMO_OWNERS.join(', ')}`,
        );
      const id = randomBytes(18).toString('base64url');
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      sessions.set(id, { owner, until: now() + SESSION_SECONDS * 1000 });
      return {
        owner,
        cookie: `${COOKIE}=${id}.${sign(id)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_SECONDS}`,
      };
    },
    signOut(cookieHeader) {
      const id = idOf(cookieHeader);
      if (id !== null) sessions.delete(id);
      return `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
    },
    ownerOf(cookieHeader) {
      const id = idOf(cookieHeader);
      const session = id === null ? undefined : sessions.get(id);
      if (session === undefined) return null;
      if (session.until <= now()) {
        sessions.delete(id!);
        return null;
      }
      return session.owner;
    },
  };
}
