// One Server-Sent Events response: messages are buffered here, bounded, and handed to Bun only
// when the client reads (a pull stream with no queue of its own), so a client that stops reading
// costs at most eventStreamBufferedBytesMax: past it, send() refuses and the caller counts the
// message as dropped. A comment line now and then keeps proxies from closing an idle stream.

import { eventStreamBufferedBytesMax } from "../constants.ts";

const encoder = new TextEncoder();
const dataPrefix = encoder.encode("data: ");
const messageEnd = encoder.encode("\n\n");
const heartbeat = encoder.encode(": keep-alive\n\n");

export class SseChannel {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  /** Set while Bun waits for data (the client read everything we had). */
  private wakePull: (() => void) | null = null;
  closed = false;
  readonly response: Response;

  constructor(
    private readonly onClose: () => void,
    headers: Record<string, string>,
    /** Sent first: `retry:` for EventSource's reconnect delay, a comment saying what this is. */
    preamble: string,
  ) {
    const self = this;
    this.push(encoder.encode(preamble));
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (self.closed) return controller.close();
          if (self.bytes > 0) return self.drainInto(controller);
          return new Promise<void>((resolve) => {
            self.wakePull = () => {
              self.wakePull = null;
              if (self.closed) controller.close();
              else self.drainInto(controller);
              resolve();
            };
          });
        },
        cancel() {
          self.close();
        },
      },
      { highWaterMark: 0 },
    );
    this.response = new Response(stream, {
      status: 200,
      headers: {
        ...headers,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // nginx buffers responses unless told not to; an event stream must not wait.
        "x-accel-buffering": "no",
      },
    });
  }

  /** Bytes waiting for the client. */
  get buffered(): number {
    return this.bytes;
  }

  /** One `data:` message of JSON bytes (no newline inside); false: the client owes too much. */
  send(json: Uint8Array): boolean {
    if (this.closed || this.bytes + json.length > eventStreamBufferedBytesMax) return false;
    this.push(dataPrefix, json, messageEnd);
    return true;
  }

  /** A comment line, unless the stream already has data waiting. */
  keepAlive(): void {
    if (!this.closed && this.bytes === 0) this.push(heartbeat);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.chunks = [];
    this.bytes = 0;
    this.wakePull?.();
    this.onClose();
  }

  private push(...parts: Uint8Array[]): void {
    for (const p of parts) {
      this.chunks.push(p);
      this.bytes += p.length;
    }
    this.wakePull?.();
  }

  private drainInto(controller: ReadableStreamDefaultController<Uint8Array>): void {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.chunks = [];
    this.bytes = 0;
    controller.enqueue(out);
  }
}
