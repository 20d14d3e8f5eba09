// The event hub of each authenticator, for the portal's audit events: kept beside the
// authenticator, not on its public surface.
import type { EventHandler } from '../events.js';

const emitters = new WeakMap<object, EventHandler>();

export function registerEmitter(keywarden: object, emit: EventHandler): void {
  emitters.set(keywarden, emit);
}

/** The hub `keywarden` reports to; a no-op for an authenticator of another make. */
export function emitterOf(keywarden: object): EventHandler {
  return emitters.get(keywarden) ?? (() => {});
}
