import { AuthError } from '@keywarden/core';
import { renderProblem } from '@keywarden/core/integration-kit';

/** A 4xx answer of the image API, rendered as application/problem+json by every example. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (`retry-after`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  get body() {
    return {
      type: `urn:example:error:${this.code}`,
      title: this.message,
      status: this.status,
      detail: this.message,
      code: this.code,
    };
  }
}

/**
 * Status, headers and body for an error thrown by the service (or keywarden's own refusal, such as
 * a quota the call cannot fit in); anything unexpected is a bare 500.
 */
export function renderApiError(error: unknown): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  if (error instanceof AuthError) return renderProblem(error);
  const status =
    (error as { statusCode?: unknown; status?: unknown } | null)?.statusCode ??
    (error as { status?: unknown })?.status;
  const api =
    error instanceof ApiError
      ? error
      : typeof status === 'number' && status >= 400 && status < 500
        ? new ApiError(status, 'bad_request', 'Bad request') // a framework's own 4xx (body limits, bad URLs)
        : new ApiError(500, 'internal_error', 'Internal error');
  return {
    status: api.status,
    headers: { ...api.headers, 'content-type': 'application/problem+json' },
    body: JSON.stringify(api.body),
  };
}
