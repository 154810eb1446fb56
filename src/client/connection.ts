// One TCP connection to a ringq server in binary mode: requests pipelined with a reqId each
// (replies may come out of order), writes coalesced per event-loop turn, AUTH on every connect,
// reconnect with exponential back-off after a drop. Uses node:net only, so it runs on Node and Bun.
// Deliberately does not retry a request that was in flight when the connection dropped: it may
// have taken effect, and only the caller knows whether repeating it is safe.

import { EventEmitter } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import {
  connectTimeoutMsDefault,
  hostDefault,
  offlineRequestsMax,
  offlineWaitMsDefault,
  portDefault,
  reconnectDelayMsMax,
  reconnectDelayMsMin,
  replySweepMs,
  replyTimeoutMsDefault,
  writeBatchBytesMax,
} from "./constants.ts";
import {
  AuthError,
  ClosedError,
  ConnectionError,
  RingqError,
  TimeoutError,
  errorFromReply,
} from "./errors.ts";
import { FrameError, FrameReader, FrameWriter } from "./framing.ts";

export interface ConnectionOptions {
  host?: string;
  port?: number;
  /** Sent as AUTH on every (re)connect when the server has AUTH_TOKENS. */
  token?: string;
  /** TCP connect plus AUTH, ms. */
  connectTimeoutMs?: number;
  /** How long a request waits for a lost connection to come back, ms (see constants.ts). */
  offlineWaitMs?: number;
  /** Time past a request's own server-side wait after which a missing reply is an error, ms. */
  replyTimeoutMs?: number;
  /** TLS to a server with TLS_CERT/TLS_KEY: true (the system's CAs), or node:tls options
   *  (`ca` for a private CA, `servername`, ...). */
  tls?: boolean | tls.ConnectionOptions;
}

/** A decoded reply map: `{reqId, ok, ...}`. */
export type Reply = Record<string, any>;

interface Pending {
  cmd: string;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  /** Server-side wait the request asked for (PULL/WAITJOB timeout), ms; 0 for plain commands. */
  waitMs: number;
  /** Time after which a missing reply is reported as a TimeoutError. */
  deadline: number;
}

interface Parked {
  p: Pending;
  message: Record<string, unknown>;
  since: number;
}

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
  private readonly offlineWaitMs: number;
  private readonly replyTimeoutMs: number;

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

  private readonly pending = new Map<string, Pending>();
  private offline: Parked[] = [];
  private nextReqId = 1;
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private readonly reader = new FrameReader((m) => this.onFrame(m));
  private closeWaiter: (() => void) | null = null;

  constructor(options: ConnectionOptions = {}) {
    super();
    this.host = options.host ?? hostDefault;
    this.port = options.port ?? portDefault;
    this.token = options.token;
    this.connectTimeoutMs = options.connectTimeoutMs ?? connectTimeoutMsDefault;
    this.offlineWaitMs = options.offlineWaitMs ?? offlineWaitMsDefault;
    this.replyTimeoutMs = options.replyTimeoutMs ?? replyTimeoutMsDefault;
    this.tls = options.tls === true ? {} : options.tls === false || options.tls === undefined ? null : options.tls;
  }
  private readonly tls: tls.ConnectionOptions | null;

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
   * Send one command. `message` is the request map without `cmd`/`reqId`; it is taken over
   * (both fields are written into it). `waitMs` is the server-side wait the command asks for
   * (PULL/PULLB/WAITJOB timeout) so the client's own reply deadline starts after it.
   */
  request(cmd: string, message: Record<string, unknown>, waitMs = 0): Promise<Reply> {
    if (this.closeRequested || this.state === "closing" || this.state === "closed") {
      return Promise.reject(new ClosedError(`${cmd}: the connection to ${this.address} is closed`, cmd));
    }
    if (this.fatal !== null) {
      return Promise.reject(new AuthError(`${cmd}: ${this.fatal.message}`, this.fatal.code, cmd));
    }
    message.cmd = cmd;
    return new Promise<Reply>((resolve, reject) => {
      const p: Pending = { cmd, resolve, reject, waitMs, deadline: 0 };
      if (this.state === "ready") {
        this.sendNow(p, message);
        return;
      }
      if (this.offline.length >= offlineRequestsMax) {
        reject(
          new ConnectionError(
            `${cmd}: not connected to ${this.address} and ${offlineRequestsMax} requests already wait for it`,
            cmd,
          ),
        );
        return;
      }
      this.offline.push({ p, message, since: Date.now() });
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
    while (this.offline.length > 0 && (this.state === "connecting" || this.state === "reconnecting") && Date.now() < deadline) {
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
    for (const { p } of this.offline) p.reject(new ClosedError(`${p.cmd}: closed before it was sent`, p.cmd));
    this.offline = [];
    // A parked PULL or WAITJOB could hold close() for its whole timeout; it is abandoned instead.
    for (const [id, p] of this.pending) {
      if (p.waitMs > 0) {
        this.pending.delete(id);
        p.reject(new ClosedError(`${p.cmd}: connection closed while waiting`, p.cmd));
      }
    }
    this.flush();
    if (this.socket !== null && this.pending.size > 0) {
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
    this.failPending((p) => new ClosedError(`${p.cmd}: connection closed before the reply`, p.cmd));
    this.state = "closed";
    this.emit("closed");
  }

  // ---- sending ----

  private sendNow(p: Pending, message: Record<string, unknown>): void {
    const reqId = String(this.nextReqId++);
    message.reqId = reqId;
    try {
      this.writer.append(message);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      p.reject(new RingqError(`${p.cmd}: ${err.message}`, "TOO_LARGE", p.cmd));
      return;
    }
    p.deadline = Date.now() + p.waitMs + this.replyTimeoutMs;
    this.pending.set(reqId, p);
    if (this.writer.pendingBytes >= writeBatchBytesMax) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One write per event-loop turn: everything issued in this turn shares a syscall.
      setImmediate(() => this.flush());
    }
  }

  /** Write everything issued so far now, instead of at the end of this event-loop turn. */
  flush(): void {
    this.flushScheduled = false;
    const bytes = this.writer.take();
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
        for (const { p: parked } of this.offline) {
          parked.reject(new AuthError(`${parked.cmd}: ${this.fatal.message}`, "AUTH_FAILED", parked.cmd));
        }
        this.offline = [];
        this.emitError(this.fatal);
        socket.destroy();
      },
    };
    this.sendNow(p, { cmd: "AUTH", token: this.token });
    this.flush();
  }

  private onReady(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.state = "ready";
    this.everConnected = true;
    this.failedAttempts = 0;
    const parked = this.offline;
    this.offline = [];
    for (const { p, message } of parked) this.sendNow(p, message);
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
    this.writer.take();
    this.flushScheduled = false;
    const was = this.state;
    const reason = this.lastError?.message ?? "closed by the server";
    this.lastError = null;

    if (was === "closing" || was === "closed") {
      this.failPending((p) => new ClosedError(`${p.cmd}: connection closed before the reply`, p.cmd));
      this.closeWaiter?.();
      return;
    }
    this.failPending(
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
      const parked = this.offline;
      this.offline = [];
      for (const { p } of parked) {
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
    const reqId = message.reqId;
    if (typeof reqId !== "string") {
      // A pushed job event (SUBSCRIBE): not a reply; QueueEvents listens for these.
      if (typeof message.event === "string") {
        this.emit("event", message);
        return;
      }
      // Every request carries a reqId, so this is a connection-level error from the server.
      if (message.ok === false) this.emitError(errorFromReply("server", message));
      return;
    }
    const p = this.pending.get(reqId);
    if (p === undefined) return; // reply to a request that already timed out
    this.pending.delete(reqId);
    if (message.ok === false) p.reject(errorFromReply(p.cmd, message));
    else p.resolve(message);
    if (this.pending.size === 0 && this.closeWaiter !== null) this.closeWaiter();
  }

  private failPending(make: (p: Pending) => Error): void {
    if (this.pending.size === 0) return;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(make(p));
  }

  // ---- deadlines ----

  private startSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(() => this.sweep(), replySweepMs);
    // The sweep alone must not keep a process alive; sockets and reconnect timers do that.
    (this.sweepTimer as { unref?: () => void }).unref?.();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline < now) {
        this.pending.delete(id);
        p.reject(
          new TimeoutError(
            `${p.cmd}: no reply from ringq at ${this.address} within ${p.waitMs + this.replyTimeoutMs} ms`,
            p.cmd,
          ),
        );
      }
    }
    if (this.offline.length > 0 && now - this.offline[0]!.since > this.offlineWaitMs) {
      const keep: Parked[] = [];
      for (const parked of this.offline) {
        if (now - parked.since > this.offlineWaitMs) {
          parked.p.reject(
            new ConnectionError(
              `${parked.p.cmd}: not connected to ringq at ${this.address} for ${this.offlineWaitMs} ms`,
              parked.p.cmd,
            ),
          );
        } else keep.push(parked);
      }
      this.offline = keep;
    }
    if (this.pending.size === 0 && this.closeWaiter !== null) this.closeWaiter();
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
