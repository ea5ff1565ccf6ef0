import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The one error shape of the API: `{ error: { code, message, details? } }`. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Thrown by a handler (or the router) to answer with an error; anything else becomes a logged 500. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** 404 for anything the caller may not see as well as for what does not exist: no existence leak. */
export function notFound(what: string): ApiError {
  return new ApiError(404, 'not_found', `${what} not found.`);
}

export function conflict(message: string, code = 'conflict'): ApiError {
  return new ApiError(409, code, message);
}

export function badRequest(message: string, code = 'invalid_request', details?: unknown): ApiError {
  return new ApiError(400, code, message, details);
}
