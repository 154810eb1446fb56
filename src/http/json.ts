// Replies as JSON for HTTP, SSE and WebSocket: the text-mode writer of the TCP protocol does the
// conversion (Raw payloads decoded, jobs through job-wire's plain form), so a job reads the same
// over every transport. One reply is bounded by the protocol's frame limit, as on TCP.

import { frameBytesMax } from "../constants.ts";
import type { Reply } from "../dispatch/context.ts";
import { internalErrorReply } from "../errors.ts";
import { ReplyTooLarge, ReplyWriter } from "../protocol/writer.ts";

/** Scratch kept between replies; replaced after a big one so it does not hold 16 MiB forever. */
let scratch = new ReplyWriter(frameBytesMax);
const scratchKeptBytesMax = 1 << 20;

/** The reply as JSON bytes (UTF-8, no newline); null when it would exceed the frame limit. A
 *  value that cannot be encoded (a programmer error) throws. */
export function replyJson(reply: object): Uint8Array | null {
  const w = scratch;
  w.reset();
  try {
    w.line(reply);
  } catch (e) {
    if (e instanceof ReplyTooLarge) return null;
    throw e;
  } finally {
    if (w.buf.length > scratchKeptBytesMax) scratch = new ReplyWriter(frameBytesMax);
  }
  return w.buf.slice(0, w.pos - 1);
}

/** replyJson for a reply that must go out: a too-large one becomes TOO_LARGE, a failure INTERNAL
 *  (reported through onError). */
export function replyJsonOrError(reply: Reply, onError: (e: unknown) => void): { bytes: Uint8Array; code: string | null } {
  try {
    const bytes = replyJson(reply);
    if (bytes === null) return { bytes: tooLargeJson, code: "TOO_LARGE" };
    return { bytes, code: reply.ok === false ? String(reply.code) : null };
  } catch (e) {
    onError(e);
    return { bytes: internalJson, code: "INTERNAL" };
  }
}

const encoder = new TextEncoder();
const tooLargeJson = encoder.encode(JSON.stringify({
  ok: false,
  error: `Reply too large: it would exceed the frame limit of ${frameBytesMax} bytes; ask for fewer items (limit, count, ids)`,
  code: "TOO_LARGE",
}));
const internalJson = encoder.encode(JSON.stringify(internalErrorReply));
