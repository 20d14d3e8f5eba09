// Another auth library declares `req.auth` globally (express-oauth2-jwt-bearer does, with its own
// type). keywarden must not declare it too: two declarations of one property are TS2717. This file
// type-checks with `pnpm typecheck` (the package's tsconfig includes test/).
import type { Request } from 'express';
import { expectTypeOf, it } from 'vitest';
import type { AuthenticatedRequest } from '../src/index.js';

declare global {
  namespace Express {
    interface Request {
      /** What express-oauth2-jwt-bearer puts there. */
      auth?: { payload: Record<string, unknown>; token: string };
    }
  }
}

it('leaves req.auth to another library, and types keywarden under a name of your choice', () => {
  expectTypeOf<Request['auth']>().toEqualTypeOf<
    { payload: Record<string, unknown>; token: string } | undefined
  >();
  expectTypeOf<AuthenticatedRequest<'apiKey'>['apiKey']>().toMatchTypeOf<{ keyId: string } | undefined>();
});
