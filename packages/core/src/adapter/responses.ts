// What an adapter sends, decided once for all of them.
import type { MintResult } from '../mint/minting.js';
import { type ProblemResponse, renderProblem } from './http.js';

/**
 * The bytes of a mint result: the token response (200, JSON, `cache-control: no-store`) or the
 * refusal's problem document. Every adapter sends this as is.
 *
 * @example
 * ```ts
 * const { status, headers, body } = renderMintResult(await keywarden.handleMintRequest(input, raw));
 * res.writeHead(status, headers).end(body);
 * ```
 */
export function renderMintResult(result: MintResult): ProblemResponse {
  if (!result.ok) return renderProblem(result.error);
  return {
    status: result.status,
    headers: { ...result.headers, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(result.body),
  };
}
