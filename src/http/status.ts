// The HTTP status of each error code (errors.ts), so REST clients can branch on the status and
// still read the same stable `code` a TCP client gets. One table: docs/http.md and the OpenAPI
// document are written from it too.

import type { ErrorCode } from "../errors.ts";

export const statusOfCode: Record<ErrorCode, number> = {
  INVALID: 400,
  BAD_FRAME: 400,
  AUTH_REQUIRED: 401,
  AUTH_FAILED: 403,
  NOT_FOUND: 404,
  UNKNOWN_COMMAND: 404,
  // A job's state forbids the request, or the request collides with another job.
  INVALID_STATE: 409,
  STALE_LOCK: 409,
  DUPLICATE: 409,
  // WAITJOB: the job ended failed; the request itself was fine, its answer is the failure.
  JOB_FAILED: 409,
  // The job was cancelled while its worker held it (HEARTBEAT, ACK, FAIL, PARTIAL).
  JOB_CANCELLED: 409,
  // WAITJOB (or another wait) ran out of time before the job finished.
  TIMEOUT: 408,
  TOO_LARGE: 413,
  // A bound of the server was hit (sizes, counts, depth): see the message for which.
  LIMIT: 429,
  BUSY: 429,
  INTERNAL: 500,
};

/** Status for an error reply; an unknown code (a programmer error) is 500. */
export function statusOf(code: unknown): number {
  return (statusOfCode as Record<string, number>)[code as string] ?? 500;
}
