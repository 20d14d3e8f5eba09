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

/** The most stages a list holds (the request path has seven; room for the checks to come). */
export const MAX_STAGES = 10;

/** A position the list leaves empty: goes on. */
const PASS: Stage = () => null;

/**
 * Runs `stages` in order over a context, then `finish`; the first answer that is not null ends it.
 *
 * Written out position by position rather than as a loop over the list: each position is then a
 * call site of its own, which sees one stage (two or three across the request path and its
 * slices), so V8 inlines it. A loop's one call site sees every stage and calls them without
 * inlining: `bench/paired-builds.mjs` measured the loop 3-14% slower than the
 * stages calling each other directly, and this within about 2% of it (the fastest rounds, a warm
 * key and token).
 */
export function createPipeline<R>(
  stages: readonly Stage[],
  finish: (ctx: RequestContext) => R,
): (ctx: RequestContext) => MaybePromise<Refused | R> {
  if (stages.length > MAX_STAGES) throw new RangeError(`a pipeline holds at most ${MAX_STAGES} stages`);
  const [s0 = PASS, s1 = PASS, s2 = PASS, s3 = PASS, s4 = PASS, s5 = PASS, s6 = PASS, s7 = PASS] = stages;
  const [, , , , , , , , s8 = PASS, s9 = PASS] = stages;

  /** A stage's answer that is not null: the refusal now, or the run going on once it settles. */
  function answered(ctx: RequestContext, answer: MaybePromise<Refused | null>, next: number) {
    if (!(answer instanceof Promise)) return answer as Refused;
    return answer.then((settled) => settled ?? runFrom(ctx, next));
  }

  function runFrom(ctx: RequestContext, first: number): MaybePromise<Refused | R> {
    let answer: MaybePromise<Refused | null> = null;
    if (first <= 0) answer = s0(ctx);
    if (answer !== null) return answered(ctx, answer, 1);
    if (first <= 1) answer = s1(ctx);
    if (answer !== null) return answered(ctx, answer, 2);
    if (first <= 2) answer = s2(ctx);
    if (answer !== null) return answered(ctx, answer, 3);
    if (first <= 3) answer = s3(ctx);
    if (answer !== null) return answered(ctx, answer, 4);
    if (first <= 4) answer = s4(ctx);
    if (answer !== null) return answered(ctx, answer, 5);
    if (first <= 5) answer = s5(ctx);
    if (answer !== null) return answered(ctx, answer, 6);
    if (first <= 6) answer = s6(ctx);
    if (answer !== null) return answered(ctx, answer, 7);
    if (first <= 7) answer = s7(ctx);
    if (answer !== null) return answered(ctx, answer, 8);
    if (first <= 8) answer = s8(ctx);
    if (answer !== null) return answered(ctx, answer, 9);
    if (first <= 9) answer = s9(ctx);
    if (answer !== null) return answered(ctx, answer, 10);
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
