import { describe, expect, it } from 'vitest';
import { RequestContext } from '../../src/request/context.js';
import { createPipeline, MAX_STAGES, type Stage, stagesFrom } from '../../src/request/pipeline.js';
import type { Refused } from '../../src/request/refusals.js';

const refusal = (tag: string): Refused => ({ ok: false, error: { code: tag } as never });
const context = () => new RequestContext({ method: 'GET', url: '/x', headers: [] }, undefined, 'request', 0);

describe('the pipeline driver', () => {
  it('runs every stage in order and answers at once when every stage does', () => {
    const seen: string[] = [];
    const stage =
      (name: string): Stage =>
      () => {
        seen.push(name);
        return null;
      };
    const run = createPipeline([stage('a'), stage('b'), stage('c')], () => 'done');
    const answer = run(context());
    expect(answer).toBe('done'); // not a promise: the warm path stays synchronous
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('stops at the first refusal, now or later, and never runs a stage after it', async () => {
    const seen: string[] = [];
    const later: Stage = () => {
      seen.push('later');
      return Promise.resolve(refusal('no'));
    };
    const after: Stage = () => {
      seen.push('after');
      return null;
    };
    const run = createPipeline([later, after], () => 'done');
    const answer = run(context());
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual(refusal('no'));
    expect(seen).toEqual(['later']);
    const now = createPipeline([() => refusal('now'), after], () => 'done');
    expect(now(context())).toEqual(refusal('now'));
    expect(seen).toEqual(['later']);
  });

  it('goes on from the next stage once a stage that waits says null', async () => {
    const seen: string[] = [];
    const run = createPipeline(
      [
        (ctx) => {
          seen.push('waits');
          return new Promise((resolve) =>
            setTimeout(() => {
              ctx.units = 7;
              resolve(null);
            }, 5),
          );
        },
        (ctx) => {
          seen.push(`then ${ctx.units}`);
          return null;
        },
      ],
      (ctx) => ctx.units * 2,
    );
    expect(await run(context())).toBe(14);
    expect(seen).toEqual(['waits', 'then 7']);
  });

  it('runs a list of the most stages it holds, each once, and refuses a longer one', () => {
    let calls = 0;
    const counted: Stage = () => {
      calls++;
      return null;
    };
    const full = Array.from({ length: MAX_STAGES }, () => counted);
    expect(createPipeline(full, () => 'done')(context())).toBe('done');
    expect(calls).toBe(MAX_STAGES);
    expect(() => createPipeline([...full, counted], () => 'done')).toThrow(RangeError);
  });

  it('gives a slice of the list from a stage on, and refuses a stage not in it', () => {
    const a: Stage = () => null;
    const b: Stage = () => null;
    const c: Stage = () => null;
    expect(stagesFrom([a, b, c], b)).toEqual([b, c]);
    expect(() => stagesFrom([a, b], c)).toThrow(/not in the list/);
  });
});
