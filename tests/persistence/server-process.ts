// Test helpers for durability at the process level: a real `bun src/main.ts` child on a free
// 127.0.0.1 port with a DATA_PATH, its stderr kept for failure messages, and a small MessagePack
// client that pipelines requests by reqId and fails every pending request when the socket dies
// (a reply never received is, for the crash test, an unacknowledged request).
// It does not check anything itself; crash.test.ts and retention.test.ts do.

import type { Subprocess } from "bun";
import * as net from "node:net";
import { pack, unpack } from "msgpackr";
import { freePort } from "../helpers/ports.ts";

const repoRoot = new URL("../..", import.meta.url).pathname;
const startTimeoutMs = 20_000;
const replyTimeoutMs = 15_000;

export { freePort };

const live = new Set<Subprocess>();

/** Kills every server a test started and did not stop (afterEach: also runs when a test failed). */
export async function killAllServers(): Promise<void> {
  const all = [...live];
  live.clear();
  for (const p of all) p.kill("SIGKILL");
  await Promise.all(all.map((p) => p.exited));
}

export class ServerProcess {
  private text = "";
  readonly exited: Promise<number>;
  private readonly drained: Promise<void>;

  private constructor(readonly proc: Subprocess<"ignore", "ignore", "pipe">, readonly port: number) {
    this.drained = this.readStderr();
    this.exited = proc.exited.then(async (code) => {
      live.delete(proc);
      await this.drained;
      return code;
    });
  }

  /** Starts the server; does not wait for it (see listening()). */
  static async spawn(env: Record<string, string>): Promise<ServerProcess> {
    const port = await freePort();
    const full: Record<string, string | undefined> = { ...process.env, HOST: "127.0.0.1", TCP_PORT: String(port), RINGQ_IO: "bun", HTTP_PORT: "0", ...env };
    const proc = Bun.spawn([process.execPath, "src/main.ts"], { cwd: repoRoot, env: full, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    live.add(proc);
    return new ServerProcess(proc, port);
  }

  /** Starts the server and waits for its start-up line. */
  static async start(env: Record<string, string>): Promise<ServerProcess> {
    const s = await ServerProcess.spawn(env);
    await s.listening();
    return s;
  }

  get log(): string {
    return this.text;
  }

  private async readStderr(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stderr) {
      if (this.text.length < 256 * 1024) this.text += dec.decode(chunk, { stream: true });
    }
  }

  /** Resolves with the start-up line; rejects if the process exits first or takes too long. */
  async listening(): Promise<string> {
    const deadline = Date.now() + startTimeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const line = this.text.split("\n").find((l) => l.includes(" listening on "));
      if (line !== undefined) return line;
      if (exited) throw new Error(`server exited before listening: ${this.text}`);
      if (Date.now() > deadline) throw new Error(`server not listening after ${startTimeoutMs} ms: ${this.text}`);
      await Bun.sleep(5);
    }
  }

  /** kill -9: no shutdown code runs. */
  async crash(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  /** Graceful stop; returns the exit code. */
  async stop(): Promise<number> {
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

export class ConnectionLost extends Error {}

/** Binary-mode client: every request gets a reqId; replies are matched by it (any order). */
export class FrameClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<string, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private nextReq = 0;
  closed = false;
  private readonly lost: Promise<never>;
  private markLost: (e: Error) => void = () => {};

  private constructor(private readonly sock: net.Socket) {
    this.lost = new Promise<never>((_, reject) => (this.markLost = reject));
    this.lost.catch(() => {}); // observed by whoever awaits whenLost(), if anyone
    sock.setNoDelay(true);
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("close", () => this.fail());
    sock.on("error", () => this.fail());
  }

  static connect(port: number): Promise<FrameClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: "127.0.0.1" }, () => {
        s.off("error", reject);
        resolve(new FrameClient(s));
      });
      s.once("error", reject);
    });
  }

  get inFlight(): number {
    return this.pending.size;
  }

  call(req: Record<string, unknown>): Promise<any> {
    if (this.closed) return Promise.reject(new ConnectionLost("connection closed"));
    const reqId = String(++this.nextReq);
    const body = pack({ ...req, reqId });
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length, 0);
    this.sock.write(Buffer.concat([head, body]));
    return new Promise((resolve, reject) => {
      // A server that stops answering fails the test with the command's name, not a test timeout.
      const t = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new Error(`no reply to ${req.cmd} within ${replyTimeoutMs} ms`));
      }, replyTimeoutMs);
      this.pending.set(reqId, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
    });
  }

  /** Rejects with ConnectionLost when the connection dies. */
  whenLost(): Promise<never> {
    return this.lost;
  }

  /** A call whose reply must be ok: true. */
  async ok(req: Record<string, unknown>): Promise<any> {
    const r = await this.call(req);
    if (r.ok !== true) throw new Error(`${req.cmd} failed: ${JSON.stringify(r)}`);
    return r;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let p = 0;
    while (this.buf.length - p >= 4) {
      const len = this.buf.readUInt32BE(p);
      if (this.buf.length - p - 4 < len) break;
      const reply = unpack(this.buf.subarray(p + 4, p + 4 + len)) as { reqId?: string };
      p += 4 + len;
      const w = reply.reqId === undefined ? undefined : this.pending.get(reply.reqId);
      if (w === undefined) throw new Error(`reply to no request: ${JSON.stringify(reply)}`);
      this.pending.delete(reply.reqId!);
      w.resolve(reply);
    }
    this.buf = p === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(p);
  }

  private fail(): void {
    if (this.closed) return;
    this.closed = true;
    this.markLost(new ConnectionLost("connection lost"));
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const w of all) w.reject(new ConnectionLost("connection lost before the reply"));
  }

  close(): void {
    this.sock.destroy();
    this.fail();
  }
}
