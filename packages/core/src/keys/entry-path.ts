// How the request path verifies keys: through the verifier's cached entries when the key manager
// is keywarden's own (no info object made per request), else through the public methods of
// whatever implements `KeyManager` (their `ApiKeyInfo` serves as the view).
import { ENTRY_PATHS } from '../links.js';
import { thenOrNow } from '../util/maybe-promise.js';
import type { KeyView } from './cached-key.js';
import type { KeyManager, VerifyApiKeyResult, VerifyClient } from './key-manager.js';
import type { KeyFailure } from './verifier.js';

/** The key, or why not. */
export type KeyViewResult = KeyView | KeyFailure;

/** The request path's view of a key manager. */
export interface EntryPath {
  /** `at`: a `Date.now()` the caller read for this request, which a manager on `Date.now` may use. */
  verifyEntryNow(key: unknown, client?: VerifyClient, at?: number): KeyViewResult | Promise<KeyViewResult>;
  lookupEntryNow(id: string, at?: number): KeyViewResult | Promise<KeyViewResult>;
}

/** Records the entry path of one of keywarden's own key managers (a link: see links.ts). */
export function registerEntryPath(keys: KeyManager, path: EntryPath): void {
  ENTRY_PATHS.set(keys, path);
}

/** Whether a verification failed (a key view has no `ok`). */
export const isKeyFailure = (result: KeyViewResult): result is KeyFailure =>
  (result as KeyFailure).ok === false;

const viewOf = (_: unknown, result: VerifyApiKeyResult): KeyViewResult => (result.ok ? result.key : result);

/** The entry path of `keys`. */
export function entryPathOf(keys: KeyManager): EntryPath {
  return (
    ENTRY_PATHS.get(keys) ?? {
      verifyEntryNow: (key, client) => thenOrNow(keys.verifyNow(key, client), null, viewOf),
      lookupEntryNow: (id) => thenOrNow(keys.lookupNow(id), null, viewOf),
    }
  );
}
