// The queue of cold verifications (argon2 hashes): at most `maxActive` run at once, and waiting
// tasks are served round-robin across clients, so one client's flood of cold keys cannot starve
// another client's single key (a FIFO made a legitimate key wait behind 1,000 pipelined guesses).
// Hand-written (about 40 lines) because the common packages (p-limit, p-queue) are ESM-only,
// which the CommonJS build could not load on Node 20 < 20.19, none of them is fair across
// callers, and none rejects at once when the queue is full, which is what fail-closed needs here.

/** Thrown by {@link FairQueue.run} when the queue is full. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export interface FairQueue {
  /** Runs `task` when a slot is free and it is `client`'s turn; rejects at once when the queue is full. */
  run<T>(client: string, task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly queued: number;
}

export function createFairQueue(maxActive: number, maxQueued: number): FairQueue {
  let active = 0;
  let queued = 0;
  // Clients with waiting tasks, in turn order (a Map keeps insertion order): the next slot goes
  // to the first client, which then moves to the back if it has more waiting.
  const waiting = new Map<string, (() => void)[]>();

  function handOver(): void {
    const first = waiting.entries().next();
    if (first.done) {
      active--;
      return;
    }
    const [client, tasks] = first.value;
    waiting.delete(client);
    const resume = tasks.shift()!;
    if (tasks.length > 0) waiting.set(client, tasks);
    queued--;
    resume(); // the slot passes to it without being freed
  }

  return {
    get active() {
      return active;
    },
    get queued() {
      return queued;
    },
    async run(client, task) {
      if (active < maxActive) active++;
      else if (queued >= maxQueued) throw new QueueFullError('keywarden: hash queue is full');
      else {
        queued++;
        await new Promise<void>((resume) => {
          const tasks = waiting.get(client);
          if (tasks) tasks.push(resume);
          else waiting.set(client, [resume]);
        });
      }
      try {
        return await task();
      } finally {
        handOver();
      }
    },
  };
}
