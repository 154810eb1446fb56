// One Server-Sent Events response: messages are buffered here as text, bounded, and handed to
// Bun only when the client reads (a pull stream with no queue of its own) and at most once per
// event-loop task (all the messages of a loop turn go out as one chunk: one write, not one per
// event). A client that stops reading costs at most eventStreamBufferedBytesMax: past it, send()
// refuses and the caller counts the message as dropped. A comment line now and then keeps
// proxies from closing an idle stream.

import { eventStreamBufferedBytesMax } from "../constants.ts";

const encoder = new TextEncoder();
const heartbeat = ": keep-alive\n\n";

export class SseChannel {
  private chunks: string[] = [];
  /** Characters waiting (UTF-16 units: the bound counts ASCII JSON as bytes, close enough). */
  private bytes = 0;
  /** Set while Bun waits for data (the client read everything we had). */
  private wakePull: (() => void) | null = null;
  /** A hand-over to Bun is scheduled for the end of this task. */
  private wakeScheduled = false;
  closed = false;
  readonly response: Response;

  constructor(
    private readonly onClose: () => void,
    headers: Record<string, string>,
    /** Sent first: `retry:` for EventSource's reconnect delay, a comment saying what this is. */
    preamble: string,
  ) {
    const self = this;
    this.push(preamble);
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

  /** One `data:` message of JSON text (no newline inside); false: the client owes too much. */
  send(json: string): boolean {
    if (this.closed || this.bytes + json.length > eventStreamBufferedBytesMax) return false;
    this.push(`data: ${json}\n\n`);
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

  private push(text: string): void {
    this.chunks.push(text);
    this.bytes += text.length;
    if (this.wakePull !== null && !this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        this.wakePull?.();
      });
    }
  }

  private drainInto(controller: ReadableStreamDefaultController<Uint8Array>): void {
    const text = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join("");
    this.chunks = [];
    this.bytes = 0;
    controller.enqueue(encoder.encode(text));
  }
}
