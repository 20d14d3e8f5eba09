// The links between keywarden's own objects that their public types do not show, all declared
// here and listed in ARCHITECTURE.md ("Links between parts"). Each is found by the identity of the
// object it belongs to (a WeakMap, so it never keeps that object alive and never shows on its
// public surface). The consequence, by design: an object of another make, or one of ours wrapped in
// another object (a Proxy, a spread copy), has none of these links, and the parts that read one
// fall back to the public interface, as noted per link. Nothing else in the code base links parts
// this way.
import type { EventHandler } from './events.js';
import type { EntryPath } from './keys/entry-path.js';
import type { CounterSlots } from './limits/slots.js';
import type { Meter } from './usage/meter.js';
import type { UsageStore } from './usage/usage-store.js';

/**
 * Key manager -> the verifier's cached entries, which the request path reads directly (no
 * `ApiKeyInfo` made per request). Set by `createKeyManager`; read by the key and token stages.
 * Without it: the manager's public `verifyNow` / `lookupNow`, same answers, an info object a request.
 */
export const ENTRY_PATHS = new WeakMap<object, EntryPath>();

/** What meters count for a key manager's keys, and where they write. */
export interface Metering {
  store: UsageStore;
  meters: Set<Meter>;
}

/**
 * Key manager -> the usage meters of every keywarden that authenticates with it, so that
 * `keys.usage` flushes the counts not yet written before it reads. Set by `createKeywarden`.
 * Without it: `keys.usage` reads the key store's own usage store, counts not yet written left out.
 */
export const METERINGS = new WeakMap<object, Metering>();

/**
 * keywarden -> its event hub, so that the key portal's audit events go where the authenticator's
 * go. Set by `createKeywarden`; read by `createPortal`. Without it: no `portal.action` events.
 */
export const EMITTERS = new WeakMap<object, EventHandler>();

/**
 * Limit store -> the slots where it keeps keys' and accounts' counters in typed arrays (the memory
 * store), so that a limited key or account costs no counter objects. Set by
 * `createMemoryLimitStore`; read by the charge stage. Without it: counters by name through the
 * store's `consume`.
 */
export const COUNTER_SLOTS = new WeakMap<object, CounterSlots>();
