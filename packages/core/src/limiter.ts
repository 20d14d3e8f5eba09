// A counting semaphore with a bounded queue. Hand-written (25 lines) because the common packages
// (p-limit, p-queue) are ESM-only, which the CommonJS build could not load on Node 20 < 20.19,
// and none of them rejects at once when the queue is full, which is what fail-closed needs here.

/** Thrown by {@link Limiter.run} when the queue is full. */
export class LimiterBusyError extends Error {
  override readonly name = 'LimiterBusyError';
}

export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly queued: number;
}

export function createLimiter(maxActive: number, maxQueued: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run(task) {
      if (active < maxActive) active++;
      else if (waiting.length >= maxQueued) throw new LimiterBusyError('keywarden: hash queue is full');
      else await new Promise<void>((resume) => waiting.push(resume)); // the slot is handed over, see below
      try {
        return await task();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active--;
      }
    },
  };
}
