// The event hub of each authenticator, for the portal's audit events: a link kept beside the
// authenticator, not on its public surface (see links.ts).
import type { EventHandler } from '../events.js';
import { EMITTERS as emitters } from '../links.js';

export function registerEmitter(keywarden: object, emit: EventHandler): void {
  emitters.set(keywarden, emit);
}

/** The hub `keywarden` reports to; a no-op for an authenticator of another make. */
export function emitterOf(keywarden: object): EventHandler {
  return emitters.get(keywarden) ?? (() => {});
}
