// The errors the client rejects with: one class per way a call can fail, each with a stable
// `code` for programs and a message that names the command and the server address for people.
// Server error replies keep the server's own text and EXT `code`; nothing here retries.

/** Base class: every error the client produces is a RingqError. */
export class RingqError extends Error {
  override name = "RingqError";
  constructor(
    message: string,
    /** Stable code: the server's EXT code (e.g. "INVALID", "NOT_FOUND") or a client one below. */
    readonly code: string,
    /** The command the error answers, when there is one. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The TCP connection could not be made, or was lost before the reply came (code CONNECTION). */
export class ConnectionError extends RingqError {
  override name = "ConnectionError";
  constructor(message: string, command?: string, cause?: unknown) {
    super(message, "CONNECTION", command);
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** AUTH was refused, or the server requires a token and none was given (code AUTH_FAILED/AUTH_REQUIRED). */
export class AuthError extends RingqError {
  override name = "AuthError";
}

/** The server answered `ok: false`: a validation error, unknown id, stale lock, ... (server's code). */
export class CommandError extends RingqError {
  override name = "CommandError";
}

/** No reply within the client's reply timeout, or a wait (WAITJOB) ran out (code TIMEOUT). */
export class TimeoutError extends RingqError {
  override name = "TimeoutError";
  constructor(message: string, command?: string) {
    super(message, "TIMEOUT", command);
  }
}

/** The Queue/Worker/connection was closed by the user (code CLOSED). */
export class ClosedError extends RingqError {
  override name = "ClosedError";
  constructor(message: string, command?: string) {
    super(message, "CLOSED", command);
  }
}

/** waitUntilFinished: the job ended in failure; message is the job's failure reason (code JOB_FAILED). */
export class JobFailedError extends RingqError {
  override name = "JobFailedError";
  constructor(message: string, readonly jobId: string) {
    super(message, "JOB_FAILED", "WAITJOB");
  }
}

/** Some entries of an addBulk were rejected; the others were added (PUSHB is not all-or-nothing). */
export class BulkAddError extends RingqError {
  override name = "BulkAddError";
  constructor(
    message: string,
    /** Per input entry: the added job's id, or null where the server rejected it. */
    readonly ids: (string | null)[],
    /** Per input entry: the server's reason, or null where it was added. */
    readonly errors: (string | null)[],
  ) {
    super(message, "BULK_PARTIAL", "PUSHB");
  }
}

/** Codes the server uses for authentication problems (src/errors.ts). */
const authCodes = new Set(["AUTH_REQUIRED", "AUTH_FAILED"]);

/** Turn an `ok: false` reply into the matching error class. */
export function errorFromReply(command: string, reply: { error?: unknown; code?: unknown }): RingqError {
  const text = typeof reply.error === "string" && reply.error !== "" ? reply.error : "request failed";
  let code = typeof reply.code === "string" ? reply.code : "";
  // Servers without EXT codes (flashQ) only send text; recognise the two texts callers branch on.
  if (code === "") {
    if (/^authentication required/i.test(text)) code = "AUTH_REQUIRED";
    else if (/^unknown command/i.test(text)) code = "UNKNOWN_COMMAND";
    else code = "SERVER";
  }
  if (authCodes.has(code)) return new AuthError(`${command}: ${text}`, code, command);
  return new CommandError(`${command}: ${text}`, code, command);
}

/**
 * Thrown by a processor after `job.moveToDelayed(...)` (BullMQ's DelayedError): the job was
 * handed back delayed, so the Worker confirms nothing for it.
 */
export class DelayedError extends RingqError {
  override name = "DelayedError";
  constructor(message = "job moved to delayed by its processor") {
    super(message, "DELAYED");
  }
}

/** Thrown by a processor after `job.moveToWait()` (BullMQ's WaitingError): nothing is confirmed. */
export class WaitingError extends RingqError {
  override name = "WaitingError";
  constructor(message = "job moved back to waiting by its processor") {
    super(message, "WAITING");
  }
}

/**
 * Thrown by a processor (BullMQ's UnrecoverableError): the job fails now with no further
 * attempt, whatever `attempts` says (FAIL with `unrecoverable`).
 */
export class UnrecoverableError extends RingqError {
  override name = "UnrecoverableError";
  constructor(message = "unrecoverable error") {
    super(message, "UNRECOVERABLE");
  }
}

/**
 * Thrown by a processor after `worker.rateLimit(ms)` (BullMQ's Worker.RateLimitError()): the job
 * goes back to the queue with no attempt counted, to run when the hold ends.
 */
export class RateLimitError extends RingqError {
  override name = "RateLimitError";
  constructor(message = "rate limit exceeded") {
    super(message, "RATE_LIMITED");
  }
}

/**
 * BullMQ's WaitingChildrenError (thrown after job.moveToWaitingChildren) cannot be honoured: the
 * server has no command that moves an active job to waiting-children (a flow's parent waits
 * from the start: add it with FlowProducer). Constructing one throws this refusal instead, so a
 * processor that relies on it fails loudly rather than leaving its job active.
 */
const waitingChildrenRefusal =
  "WaitingChildrenError: an active job cannot be moved to waiting-children on ringq (add the parent with its children through FlowProducer)";

export class WaitingChildrenError extends RingqError {
  override name = "WaitingChildrenError";
  constructor(_message?: string) {
    super(waitingChildrenRefusal, "NOT_SUPPORTED");
    throw new RingqError(waitingChildrenRefusal, "NOT_SUPPORTED");
  }
}
