// The portable backend: Bun.listen (epoll under the hood). Always available; the fallback
// wherever io_uring is not. Connections get small integer ids; output the socket cannot take
// at once is queued per connection and sent on drain. One turn per macrotask batch of events
// (setImmediate), plus one timer for the engine's next deadline.

import { connectionsMax, outputBytesHighWater, outputBytesLowWater, shutdownFlushMs, timerDelayMsMax } from "../constants.ts";
import { listenError, type ConnId, type IoBackend, type IoHandler, type IoStats, type ListenOptions, type TlsFiles } from "./types.ts";

interface SocketData {
  id: ConnId;
}
type Sock = import("bun").Socket<SocketData>;

interface ConnOut {
  sock: Sock;
  queue: Uint8Array[];
  queued: number;
  high: boolean;
  closing: boolean;
}

export class BunBackend implements IoBackend {
  readonly name = "bun" as const;
  readonly description: string;

  constructor(private readonly tls: TlsFiles | null = null) {
    this.description = tls === null ? "bun sockets (epoll)" : "bun sockets (epoll), TLS";
  }
  private handler: IoHandler | null = null;
  private listener: import("bun").TCPSocketListener<SocketData> | null = null;
  private conns: (ConnOut | undefined)[] = [];
  private freeIds: ConnId[] = [];
  private turnScheduled = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;
  private stopping = false;
  private readonly st: IoStats = { backend: "bun", connectionsOpen: 0, connectionsAccepted: 0, bytesIn: 0, bytesOut: 0, turns: 0 };

  async listen(host: string, port: number, handler: IoHandler, opts: ListenOptions = {}): Promise<number> {
    this.handler = handler;
    const maxOpen = Math.min(opts.connectionsMax ?? connectionsMax, connectionsMax);
    try {
      this.listener = this.bunListen(host, port, handler, maxOpen);
    } catch (e) {
      // Bun's message names neither the port nor the cause ("Failed to listen at <host>").
      const code = (e as { code?: string }).code;
      throw listenError(host, port, code !== undefined && /^E[A-Z]+$/.test(code) ? code : (e as Error).message); // TLS errors keep their text
    }
    return this.listener.port;
  }

  private bunListen(host: string, port: number, handler: IoHandler, maxOpen: number): import("bun").TCPSocketListener<SocketData> {
    const self = this;
    return Bun.listen<SocketData>({
      hostname: host,
      port,
      ...(this.tls === null ? {} : { tls: { cert: Bun.file(this.tls.cert), key: Bun.file(this.tls.key) } }),
      socket: {
        open(sock) {
          // Shutting down, or over the bound: refuse by closing at once (as uring.ts does).
          if (self.stopping || self.st.connectionsOpen >= maxOpen) return void sock.terminate();
          const id = self.freeIds.pop() ?? self.conns.length;
          sock.data = { id };
          self.conns[id] = { sock, queue: [], queued: 0, high: false, closing: false };
          self.st.connectionsOpen++;
          self.st.connectionsAccepted++;
          handler.onOpen(id);
          self.schedule();
        },
        data(sock, buf) {
          self.st.bytesIn += buf.length;
          // A plain Uint8Array over the same memory: the decoder copies each payload out with
          // slice(), which on a Buffer goes through its species constructor at 2-4x the cost
          // (bench/README.md, "Where the time goes").
          handler.onData(sock.data.id, new Uint8Array(buf.buffer, buf.byteOffset, buf.length), 0, buf.length);
          self.schedule();
        },
        drain(sock) {
          self.flushQueue(sock.data.id);
          self.schedule();
        },
        close(sock) {
          self.gone(sock.data?.id);
        },
        error(sock) {
          self.gone(sock.data?.id);
        },
      },
    });
  }

  private gone(id: ConnId | undefined): void {
    if (id === undefined || this.conns[id] === undefined) return;
    this.conns[id] = undefined;
    this.freeIds.push(id);
    this.st.connectionsOpen--;
    this.handler!.onClose(id);
    this.schedule();
  }

  write(conn: ConnId, bytes: Uint8Array, offset: number, length: number): number {
    const c = this.conns[conn];
    if (c === undefined || length === 0) return c?.queued ?? 0;
    if (c.queued === 0) {
      const n = c.sock.write(bytes.subarray(offset, offset + length));
      this.st.bytesOut += Math.max(n, 0);
      if (n >= length) return 0;
      offset += Math.max(n, 0);
      length -= Math.max(n, 0);
    }
    // A real copy: the caller reuses its buffer (and Buffer#slice would be a view).
    c.queue.push(Uint8Array.prototype.slice.call(bytes, offset, offset + length));
    c.queued += length;
    if (c.queued > outputBytesHighWater) c.high = true;
    return c.queued;
  }

  private flushQueue(conn: ConnId): void {
    const c = this.conns[conn];
    if (c === undefined) return;
    while (c.queue.length > 0) {
      const head = c.queue[0]!;
      const n = c.sock.write(head);
      if (n <= 0) break;
      this.st.bytesOut += n;
      c.queued -= n;
      if (n < head.length) {
        c.queue[0] = head.subarray(n);
        break;
      }
      c.queue.shift();
    }
    if (c.queued === 0 && c.closing) c.sock.end();
    if (c.high && c.queued < outputBytesLowWater) {
      c.high = false;
      this.handler!.onWritable(conn);
    }
  }

  pendingBytes(conn: ConnId): number {
    return this.conns[conn]?.queued ?? 0;
  }

  close(conn: ConnId): void {
    const c = this.conns[conn];
    if (c === undefined) return;
    if (c.queued === 0) c.sock.end();
    else c.closing = true;
  }

  abort(conn: ConnId): void {
    this.conns[conn]?.sock.terminate();
  }

  wake(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.turnScheduled = false;
    if (this.handler === null) return;
    const now = Date.now();
    this.st.turns++;
    const delay = this.handler.onTurn(now);
    this.arm(delay === Infinity ? Infinity : now + Math.max(0, delay));
  };

  /** One timer for the next deadline; re-armed only when the deadline moves. */
  private arm(at: number): void {
    if (at === this.timerAt) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Infinity || this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.turn();
    }, Math.min(Math.max(0, at - Date.now()), timerDelayMsMax));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.listener?.stop(false);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // Let the server flush its last replies, then wait (bounded) for queued output to drain.
    this.handler?.onTurn(Date.now());
    const until = Date.now() + shutdownFlushMs;
    while (this.conns.some((c) => c !== undefined && c.queued > 0) && Date.now() < until) {
      await Bun.sleep(5);
    }
    for (const c of this.conns) c?.sock.end();
    const closeUntil = Date.now() + 200;
    while (this.st.connectionsOpen > 0 && Date.now() < closeUntil) await Bun.sleep(2);
    for (const c of this.conns) c?.sock.terminate();
    this.listener?.stop(true);
    this.handler = null;
  }

  stats(): IoStats {
    return { ...this.st };
  }
}
