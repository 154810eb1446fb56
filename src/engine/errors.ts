// Client errors the engine reports: a message for people and a stable code for programs
// (PROTOCOL.md EXT `code`). Thrown by engine operations, turned into error replies by dispatch.

export type ErrorCode =
  | "NOT_FOUND"
  | "INVALID_STATE"
  | "STALE_LOCK"
  | "DUPLICATE"
  | "INVALID"
  | "LIMIT"
  | "TIMEOUT"
  | "JOB_FAILED"
  | "AUTH_REQUIRED"
  | "AUTH_FAILED"
  | "UNKNOWN_COMMAND"
  | "BAD_FRAME"
  | "TOO_LARGE"
  | "BUSY";

export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
