// One TCP connection to a ringq server in binary mode: requests pipelined with a reqId each
// (replies may come out of order), writes coalesced per event-loop turn, AUTH on every connect,
// reconnect with exponential back-off after a drop. Uses node:net only, so it runs on Node and Bun.
// Deliberately does not retry a request that was in flight when the connection dropped: it may
// have taken effect, and only the caller knows whether repeating it is safe.

import { EventEmitter } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import {
  frameBytesMax,
  offlineRequestsMax,
  reconnectDelayMsMax,
  reconnectDelayMsMin,
  replySweepMs,
  writeBatchBytesMax,
} from "./constants.ts";
import { type Pending, type Reply, RequestTable } from "./connection-requests.ts";
import { AuthError, ClosedError, ConnectionError, RingqError, errorFromReply } from "./errors.ts";
import { FrameReader } from "./framing.ts";
import { FrameEncoder, FrameTooLarge } from "./msgpack-encode.ts";
import { type ConnectionOptions, parseConnectionOptions } from "./connection-options.ts";

export type { Reply } from "./connection-requests.ts";
export type { ConnectionOptions } from "./connection-options.ts";

type State = "idle" | "connecting" | "ready" | "reconnecting" | "failed" | "closing" | "closed";

/**
 * Events: `ready` (connected and authenticated), `reconnecting` (delayMs, error), `statechange`,
 * `event` (a job event pushed by the server after SUBSCRIBE),
 * `error` (only emitted when someone listens; callers also get every error as a rejection).
 */
export class Connection extends EventEmitter {
  readonly host: string;
  readonly port: number;
  private readonly token: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly tls: tls.ConnectionOptions | null;

  private state: State = "idle";
  /** close() was called: no new requests; parked ones still go out if a connect is under way. */
  private closeRequested = false;
  private socket: net.Socket | null = null;
  private everConnected = false;
  private failedAttempts = 0;
  private lastError: Error | null = null;
  /** Set when AUTH was refused: every later request fails with it; no reconnect. */
  private fatal: RingqError | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;

  private readonly requests: RequestTable;
  private readonly encoder = new FrameEncoder(frameBytesMax, writeBatchBytesMax);
  private flushScheduled = false;
  /** Date.now() of the first request of this event-loop turn: one clock read per write. */
  private turnNow = 0;
  private readonly flushNow = () => this.flush();
  private readonly reader = new FrameReader((m) => this.onFrame(m));
  private closeWaiter: (() => void) | null = null;
  /** Date.now() when the last bytes arrived: the time of every reply they hold, read once. */
  receivedAt = 0;

  constructor(options: ConnectionOptions = {}) {
    super();
    const o = parseConnectionOptions(options);
    this.host = o.host;
    this.port = o.port;
    this.token = o.token;
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.tls = o.tls;
    this.requests = new RequestTable(this.address, o.replyTimeoutMs, o.offlineWaitMs);
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  /** Connect (if not yet) and resolve once a PING round trip worked. */
  async waitUntilReady(): Promise<void> {
    await this.request("PING", {});
  }

  /**
   * Send one command: `fields` is the request map without `cmd`/`reqId` (not modified).
   * `waitMs` is the server-side wait the command asks for (PULL/PULLB/WAITJOB timeout) so the
   * client's own reply deadline starts after it.
   */
  request(cmd: string, fields: Record<string, unknown>, waitMs = 0): Promise<Reply> {
    return this.call(cmd, fields, undefined, waitMs);
  }

  /** request(), resolving to `map(reply)` instead of the reply: one promise per call. */
  call<T>(cmd: string, fields: Record<string, unknown>, map: ((reply: Reply) => T) | undefined, waitMs = 0): Promise<T> {
    if (this.closeRequested || this.state === "closing" || this.state === "closed") {
      return Promise.reject(new ClosedError(`${cmd}: the connection to ${this.address} is closed`, cmd));
    }
    if (this.fatal !== null) {
      return Promise.reject(new AuthError(`${cmd}: ${this.fatal.message}`, this.fatal.code, cmd));
    }
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { cmd, resolve, reject, map, waitMs, deadline: 0 };
      if (this.state === "ready") {
        this.sendNow(p, fields);
        return;
      }
      if (!this.requests.park(p, fields, Date.now())) {
        reject(new ConnectionError(`${cmd}: not connected to ${this.address} and ${offlineRequestsMax} requests already wait for it`, cmd));
        return;
      }
      if (this.state === "idle") this.connect();
    });
  }

  /**
   * Send what was issued before close() (waiting, bounded, for a connect in progress), wait
   * (bounded) for replies in flight, then close; stop reconnecting. Requests issued after close()
   * fail with ClosedError. `waitForRepliesMs` bounds each of the two waits.
   */
  async close(waitForRepliesMs = 2_000): Promise<void> {
    if (this.state === "closed") return;
    if (this.closeRequested) {
      await new Promise<void>((resolve) => this.once("closed", resolve));
      return;
    }
    this.closeRequested = true;
    // `q.add(...); await q.close()` right after construction: the add is parked until the first
    // connect; send it rather than drop it. A connect that fails rejects the parked requests.
    const deadline = Date.now() + waitForRepliesMs;
    while (this.requests.parked > 0 && (this.state === "connecting" || this.state === "reconnecting") && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.off("statechange", wake);
          resolve();
        };
        const timer = setTimeout(wake, deadline - Date.now());
        this.on("statechange", wake);
      });
    }
    this.state = "closing";
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const { p } of this.requests.takeParked()) p.reject(new ClosedError(`${p.cmd}: closed before it was sent`, p.cmd));
    // A parked PULL or WAITJOB could hold close() for its whole timeout; it is abandoned instead.
    this.requests.failWaiting((p) => new ClosedError(`${p.cmd}: connection closed while waiting`, p.cmd));
    this.flush();
    if (this.socket !== null && this.requests.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitForRepliesMs);
        this.closeWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.closeWaiter = null;
    this.stopTimers();
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    this.requests.failInFlight((p) => new ClosedError(`${p.cmd}: connection closed before the reply`, p.cmd));
    this.state = "closed";
    this.emit("closed");
  }

  // ---- sending ----

  private sendNow(p: Pending, fields: Record<string, unknown>): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.turnNow = Date.now();
      // One write per event-loop turn: everything issued in this turn shares a syscall.
      setImmediate(this.flushNow);
    }
    const reqId = this.requests.add(p, this.turnNow);
    try {
      this.encoder.frame(p.cmd, reqId, fields);
    } catch (err) {
      this.requests.drop(reqId);
      if (err instanceof FrameTooLarge) p.reject(new RingqError(`${p.cmd}: ${err.message}`, "TOO_LARGE", p.cmd));
      else p.reject(new RingqError(`${p.cmd}: cannot encode the request: ${(err as Error).message}`, "INVALID", p.cmd));
      return;
    }
    if (this.encoder.length >= writeBatchBytesMax) this.flush();
  }

  /** Write everything issued so far now, instead of at the end of this event-loop turn. */
  flush(): void {
    this.flushScheduled = false;
    const bytes = this.encoder.take();
    if (bytes !== null && this.socket !== null) this.socket.write(bytes);
  }

  // ---- connecting ----

  private connect(): void {
    this.state = "connecting";
    this.startSweep();
    const socket: net.Socket = this.tls === null
      ? net.createConnection({ host: this.host, port: this.port })
      : tls.connect({ ...this.tls, host: this.host, port: this.port });
    this.socket = socket;
    socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => {
      socket.destroy(new Error(`no connection within ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    socket.once(this.tls === null ? "connect" : "secureConnect", () => {
      if (this.socket !== socket) return;
      socket.setKeepAlive(true, 10_000);
      if (this.token === undefined) this.onReady();
      else this.authenticate(socket);
    });
    socket.on("data", (chunk: Uint8Array) => {
      this.receivedAt = Date.now();
      try {
        this.reader.push(chunk);
      } catch (err) {
        // A stream we cannot parse cannot be resynchronised: drop it and reconnect.
        this.lastError = err as Error;
        socket.destroy(err as Error);
      }
    });
    socket.on("error", (err) => {
      this.lastError = err;
    });
    socket.on("close", () => this.onSocketClose(socket));
  }

  private authenticate(socket: net.Socket): void {
    const p: Pending = {
      cmd: "AUTH",
      waitMs: 0,
      deadline: 0,
      map: undefined,
      resolve: () => {
        if (this.socket === socket) this.onReady();
      },
      reject: (err) => {
        if (this.socket !== socket) return;
        if (err instanceof ConnectionError) return; // the close handler reports it
        this.fatal = new AuthError(
          `authentication to ringq at ${this.address} failed: ${err.message.replace(/^AUTH: /, "")}`,
          "AUTH_FAILED",
          "AUTH",
        );
        this.state = "failed";
        for (const { p: parked } of this.requests.takeParked()) {
          parked.reject(new AuthError(`${parked.cmd}: ${this.fatal.message}`, "AUTH_FAILED", parked.cmd));
        }
        this.emitError(this.fatal);
        socket.destroy();
      },
    };
    this.sendNow(p, { token: this.token });
    this.flush();
  }

  private onReady(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.state = "ready";
    this.everConnected = true;
    this.failedAttempts = 0;
    for (const { p, fields } of this.requests.takeParked()) this.sendNow(p, fields);
    this.emit("ready");
    this.emit("statechange");
  }

  private onSocketClose(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    queueMicrotask(() => this.emit("statechange"));
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.reader.reset();
    this.encoder.clear();
    this.flushScheduled = false;
    const was = this.state;
    const reason = this.lastError?.message ?? "closed by the server";
    this.lastError = null;

    if (was === "closing" || was === "closed") {
      this.requests.failInFlight((p) => new ClosedError(`${p.cmd}: connection closed before the reply`, p.cmd));
      this.closeWaiter?.();
      return;
    }
    this.requests.failInFlight(
      (p) =>
        new ConnectionError(
          `${p.cmd}: connection to ringq at ${this.address} lost before the reply (${reason}); ` +
            `the command may or may not have taken effect`,
          p.cmd,
        ),
    );
    if (was === "failed") {
      this.stopTimers();
      return;
    }
    if (!this.everConnected) {
      // Never reached the server: likely a wrong address or a server that is down. Say so now
      // instead of making every caller wait; the next request tries again.
      const err = new ConnectionError(`cannot connect to ringq at ${this.address}: ${reason}`);
      this.state = "idle";
      for (const { p } of this.requests.takeParked()) {
        p.reject(new ConnectionError(`${p.cmd}: cannot connect to ringq at ${this.address}: ${reason}`, p.cmd, err));
      }
      this.stopTimers();
      this.emitError(err);
      return;
    }
    const delayMs = Math.min(reconnectDelayMsMax, reconnectDelayMsMin * 2 ** this.failedAttempts);
    // Jitter so a fleet of workers does not reconnect in lock-step after a server restart.
    const jittered = Math.round(delayMs * (0.5 + Math.random() / 2));
    this.failedAttempts++;
    this.state = "reconnecting";
    const err = new ConnectionError(`connection to ringq at ${this.address} lost: ${reason}; reconnecting`);
    this.emit("reconnecting", jittered, err);
    this.emitError(err);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === "reconnecting") this.connect();
    }, jittered);
  }

  // ---- replies ----

  private onFrame(message: Record<string, unknown>): void {
    let reqId = message.reqId;
    // The fast decoder hands back the decimal reqIds this client sends as numbers; a frame read
    // by msgpackr (one with extension types) has the string.
    if (typeof reqId === "string" && /^\d{1,15}$/.test(reqId)) reqId = Number(reqId);
    if (typeof reqId === "number") {
      // A reply to a request that already timed out settles nothing.
      if (this.requests.settle(reqId, message) && this.closeWaiter !== null && this.requests.inFlight === 0) this.closeWaiter();
      return;
    }
    // A pushed job event (SUBSCRIBE): not a reply; QueueEvents listens for these.
    if (typeof message.event === "string") {
      this.emit("event", message);
      return;
    }
    // Every request carries a reqId, so this is a connection-level error from the server.
    if (message.ok === false) this.emitError(errorFromReply("server", message));
  }

  // ---- deadlines ----

  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => {
      this.requests.sweep(Date.now());
      if (this.requests.inFlight === 0 && this.closeWaiter !== null) this.closeWaiter();
    }, replySweepMs);
    // The sweep alone must not keep a process alive; sockets and reconnect timers do that.
    (this.sweepTimer as { unref?: () => void }).unref?.();
  }

  private stopTimers(): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private emitError(err: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", err);
  }
}
