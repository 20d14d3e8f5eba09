// Which meters count for a key manager, so that `keys.usage` reads what every authenticator that
// uses the manager counted, including counts not yet written. A link kept beside the manager, not
// on it (see links.ts).
import { type Metering, METERINGS as registry } from '../links.js';
import type { Meter } from './meter.js';
import type { UsageStore } from './usage-store.js';

/** `meter` counts requests verified by `keys` and writes them to `store`. */
export function registerMeter(keys: object, store: UsageStore, meter: Meter): void {
  const metering = registry.get(keys);
  if (metering === undefined) registry.set(keys, { store, meters: new Set([meter]) });
  else metering.meters.add(meter);
}

export function meteringOf(keys: object): Metering | undefined {
  return registry.get(keys);
}
