// The demo's sign-in, standing for the provider's own login: `POST /your-server/session` with
// `{"owner": "alice"}` sets a signed, HttpOnly, SameSite=Lax cookie naming the owner; `DELETE`
// clears it. The key portal reads the owner from it (`resolveOwner`). Two demo owners only.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PortalPolicy } from '@keywarden/core';
import { ApiError } from './errors.js';

export const DEMO_OWNERS = ['alice', 'bob'] as const;
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
  /** The Set-Cookie value signing `body.owner` in; a 400 for anyone but the demo owners. */
  signIn(body: unknown): { owner: string; cookie: string };
  /** The Set-Cookie value that clears the session. */
  signOut(): string;
  /** The signed-in owner of a request's Cookie header, or null. */
  ownerOf(cookieHeader: string | undefined): string | null;
}

export function createSessions(secret: string): Sessions {
  const sign = (owner: string) => createHmac('sha256', `session:${secret}`).update(owner).digest('base64url');
  return {
    signIn(body) {
      const owner = (body as { owner?: unknown } | null)?.owner;
      if (typeof owner !== 'string' || !(DEMO_OWNERS as readonly string[]).includes(owner))
        throw new ApiError(
          400,
          'unknown_owner',
          `Sign in as one of the demo owners: ${DEMO_OWNERS.join(', ')}`,
        );
      return {
        owner,
        cookie: `${COOKIE}=${owner}.${sign(owner)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400`,
      };
    },
    signOut: () => `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`,
    ownerOf(cookieHeader) {
      for (const part of (cookieHeader ?? '').split(';')) {
        const [name, value] = part.trim().split('=', 2);
        if (name !== COOKIE || !value) continue;
        const dot = value.lastIndexOf('.');
        const owner = value.slice(0, dot);
        const given = Buffer.from(value.slice(dot + 1));
        const expected = Buffer.from(sign(owner));
        if (dot > 0 && given.length === expected.length && timingSafeEqual(given, expected)) return owner;
      }
      return null;
    },
  };
}
