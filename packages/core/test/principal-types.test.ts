// Type-level test (checked by `tsc` in the typecheck task): users type their metadata by
// declaration merging, and the principal picks it up.
import { expectTypeOf, it } from 'vitest';
import type { AuthResult, Principal } from '../src/index.js';

declare module '../src/request/types.js' {
  interface KeyMetadata {
    plan?: 'free' | 'pro';
  }
}

it('a merged KeyMetadata field is typed on the principal', () => {
  expectTypeOf<Principal['metadata']['plan']>().toEqualTypeOf<'free' | 'pro' | undefined>();
  expectTypeOf<Extract<AuthResult, { ok: true }>['principal']>().toEqualTypeOf<Principal>();
  expectTypeOf<Principal['kind']>().toEqualTypeOf<'api_key' | 'access_token'>();
});
