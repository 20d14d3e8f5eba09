// The driver of the request path: one ordered list of stages, run over one RequestContext. A stage
// answers null to hand the context on, or an answer (a refusal) that ends the run; it may answer
// later (a promise, when a store or a hash must be awaited), and the driver goes on from the next
// stage once it settles. A run where every stage answers at once stays synchronous: no promise, no
// microtask turn, no closure (the warm path; see util/maybe-promise.ts). Past the last stage, the
// run's `finish` makes the answer (the request path's success; a handler charge's result).
import type { MaybePromise } from '../util/maybe-promise.js';
import type { RequestContext } from './context.js';
import type { Refused } from './refusals.js';

/**
 * One check of the request path: null to go on (having filled in what it found in `ctx`), or the
 * refusal; a promise of either when it must wait.
 */
export type Stage = (ctx: RequestContext) => MaybePromise<Refused | null>;

/** Runs `stages` in order over a context, then `finish`; the first answer that is not null ends it. */
export function createPipeline<R>(
  stages: readonly Stage[],
  finish: (ctx: RequestContext) => R,
): (ctx: RequestContext) => MaybePromise<Refused | R> {
  const count = stages.length;
  function runFrom(ctx: RequestContext, first: number): MaybePromise<Refused | R> {
    for (let i = first; i < count; i++) {
      const answer = stages[i]!(ctx);
      if (answer === null) continue;
      if (answer instanceof Promise) {
        const next = i + 1;
        return answer.then((settled) => settled ?? runFrom(ctx, next));
      }
      return answer;
    }
    return finish(ctx);
  }
  return (ctx) => runFrom(ctx, 0);
}

/** The stages from `first` on: a slice for a run that starts with a principal already known. */
export function stagesFrom(stages: readonly Stage[], first: Stage): readonly Stage[] {
  const at = stages.indexOf(first);
  if (at === -1) throw new Error('stagesFrom: the stage is not in the list');
  return stages.slice(at);
}
