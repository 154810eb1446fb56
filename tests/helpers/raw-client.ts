// Test helper: a raw TCP client for the conformance suite. Like wire.ts, but built for volume:
// its input buffer grows geometrically (no concat per chunk), it can stop reading (slow-reader
// tests), send one frame in many small writes (frames spanning many server recv buffers), and
// disconnect abruptly (RST). Every wait is bounded so a missing reply fails instead of hanging.

import * as net from "node:net";
import { pack, unpack } from "msgpackr";
import { rng } from "./rng.ts";

export function frame(obj: unknown): Buffer {
  const body = pack(obj);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export function line(obj: unknown): Buffer {
  return Buffer.from(JSON.stringify(obj) + "\n");
}

export class RawClient {
  private buf = Buffer.alloc(64 * 1024);
  private start = 0;
  private end = 0;
  private waiters: (() => void)[] = [];
  /** Bytes received over the connection's life. */
  bytesIn = 0;
  closed = false;
  error: Error | null = null;

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => this.append(d));
    sock.on("close", () => {
      this.closed = true;
      this.wake();
    });
    sock.on("error", (e) => {
      this.error = e;
    });
  }

  static connect(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${host}:${port} took over ${timeoutMs} ms`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        resolve(new RawClient(s));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  get buffered(): number {
    return this.end - this.start;
  }

  private append(d: Buffer): void {
    this.bytesIn += d.length;
    if (this.end + d.length > this.buf.length) {
      const live = this.end - this.start;
      const size = Math.max(this.buf.length, (live + d.length) * 2);
      const next = size > this.buf.length ? Buffer.alloc(size) : this.buf;
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    d.copy(this.buf, this.end);
    this.end += d.length;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms (${this.buffered} bytes buffered)`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Raw bytes of the next binary frame's body, or undefined if it has not fully arrived. */
  private takeFrameBody(): Buffer | undefined {
    if (this.end - this.start < 4) return undefined;
    const len = this.buf.readUInt32BE(this.start);
    if (this.end - this.start < 4 + len) return undefined;
    const body = this.buf.subarray(this.start + 4, this.start + 4 + len);
    this.start += 4 + len;
    return body;
  }

  async frame(timeoutMs = 10_000): Promise<any> {
    const body = await this.until(() => this.takeFrameBody(), timeoutMs, "reply frame");
    return unpack(body);
  }

  /** The next binary reply and the size of its body on the wire. */
  async frameWithSize(timeoutMs = 10_000): Promise<{ size: number; body: any }> {
    const body = await this.until(() => this.takeFrameBody(), timeoutMs, "reply frame");
    return { size: body.length, body: unpack(body) };
  }

  async line(timeoutMs = 10_000): Promise<any> {
    const text = await this.until(() => {
      const nl = this.buf.indexOf(10, this.start);
      if (nl < 0 || nl >= this.end) return undefined;
      const s = this.buf.toString("utf8", this.start, nl);
      this.start = nl + 1;
      return s;
    }, timeoutMs, "reply line");
    return JSON.parse(text);
  }

  /** The next n binary replies, decoded. */
  async frames(n: number, timeoutMs = 10_000): Promise<any[]> {
    const out: any[] = [];
    for (let i = 0; i < n; i++) out.push(await this.frame(timeoutMs));
    return out;
  }

  async lines(n: number, timeoutMs = 10_000): Promise<any[]> {
    const out: any[] = [];
    for (let i = 0; i < n; i++) out.push(await this.line(timeoutMs));
    return out;
  }

  send(data: string | Uint8Array): void {
    this.sock.write(data);
  }

  /** Binary round trip. */
  async call(obj: unknown, timeoutMs?: number): Promise<any> {
    this.send(frame(obj));
    return this.frame(timeoutMs);
  }

  /** Text round trip. */
  async ask(obj: unknown, timeoutMs?: number): Promise<any> {
    this.send(line(obj));
    return this.line(timeoutMs);
  }

  /**
   * Sends bytes as many separate writes of 1..maxPiece bytes, yielding to the event loop
   * between writes so they leave as separate segments and reach the server in many reads.
   */
  async sendInPieces(bytes: Uint8Array, maxPiece: number, seed = 1): Promise<number> {
    const next = rng(seed);
    let writes = 0;
    for (let p = 0; p < bytes.length; writes++) {
      const n = Math.min(bytes.length - p, 1 + Math.floor(next() * maxPiece));
      const flushed = this.sock.write(bytes.subarray(p, p + n));
      p += n;
      if (!flushed) await new Promise<void>((r) => this.sock.once("drain", () => r()));
      else await new Promise<void>((r) => setImmediate(r));
    }
    return writes;
  }

  /** Stop reading from the socket: the kernel buffers fill and the server must hold back. */
  /** True if nothing arrives within ms. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buffered === 0;
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }

  /** Resolves true once the server has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    return this.until(() => (this.closed ? true : undefined), timeoutMs, "close");
  }

  /** Graceful close (FIN). */
  close(): void {
    this.sock.destroy();
  }

  /** Abrupt close: RST where the runtime supports it, so unread data is thrown away. */
  reset(): void {
    const s = this.sock as net.Socket & { resetAndDestroy?: () => void };
    if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
    else s.destroy();
  }
}
