// Error codes (docs/protocol.md EXT `code`) and the client error that carries one: a message for
// people and a stable code for programs. The engine throws ClientError for refused requests;
// dispatch turns it into an error reply; INTERNAL is for programmer errors only (logged with
// their stack and counted by the server, never used for a client's mistake). HTTP maps the same
// codes to statuses. One module so that every layer speaks the same vocabulary.

export const errorCodes = [
  "NOT_FOUND",
  "INVALID_STATE",
  "STALE_LOCK",
  "DUPLICATE",
  "INVALID",
  "LIMIT",
  "TIMEOUT",
  "JOB_FAILED",
  "JOB_CANCELLED",
  "AUTH_REQUIRED",
  "AUTH_FAILED",
  "UNKNOWN_COMMAND",
  "BAD_FRAME",
  "TOO_LARGE",
  "BUSY",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type ErrorReply = {
  ok: false;
  error: string;
  code: ErrorCode;
};

export function errorReply(code: ErrorCode, message: string): ErrorReply {
  return { ok: false, error: message, code };
}

/** The reply to a request that hit a programmer error; the details go to the log, not the client. */
export const internalErrorReply: ErrorReply = errorReply("INTERNAL", "Internal error while handling the request; it was logged");
