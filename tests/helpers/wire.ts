// Test helper: a raw TCP client for transcript tests. Sends bytes, reads JSON lines or
// length-prefixed MessagePack frames, with a bounded wait so a missing reply fails the test
// instead of hanging it. Also: encoders for frames and lines.

import * as net from "node:net";
import { pack, unpack } from "msgpackr";

export function frame(obj: unknown): Buffer {
  const body = pack(obj);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export function line(obj: unknown): string {
  return JSON.stringify(obj) + "\n";
}

export class Wire {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wakeAll();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wakeAll();
    });
    sock.on("error", () => {});
  }

  static connect(port: number, host = "127.0.0.1"): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new Wire(s)));
      s.once("error", reject);
    });
  }

  private wakeAll() {
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
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(data: string | Uint8Array): void {
    this.sock.write(data);
  }

  async line(timeoutMs = 3000): Promise<any> {
    const text = await this.until(() => {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return undefined;
      const s = this.buf.subarray(0, nl).toString();
      this.buf = this.buf.subarray(nl + 1);
      return s;
    }, timeoutMs, "reply line");
    return JSON.parse(text);
  }

  async frame(timeoutMs = 3000): Promise<any> {
    return this.until(() => {
      if (this.buf.length < 4) return undefined;
      const len = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + len) return undefined;
      const body = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      return unpack(body);
    }, timeoutMs, "reply frame");
  }

  /** Text-mode round trip. */
  async ask(obj: unknown): Promise<any> {
    this.send(line(obj));
    return this.line();
  }

  /** Binary-mode round trip. */
  async call(obj: unknown): Promise<any> {
    this.send(frame(obj));
    return this.frame();
  }

  /** Resolves true once the server has closed the connection. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    await this.until(() => (this.closed ? true : undefined), timeoutMs, "close");
    return true;
  }

  /** True if nothing arrives within ms. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf.length === 0;
  }

  close(): void {
    this.sock.destroy();
  }
}
