// The io_uring backend: accept/recv/send through the ring of ffi/ringq_uring.c, driven by the
// hybrid main-thread loop of docs/architecture.md. One FFI call (one io_uring_enter) per loop
// iteration: commands written into C memory become SQEs, completions come back as int32 quads.
//
// Waiting. The loop never leaves the thread to Bun for long: when it has nothing to do it waits
// in the ring, bounded by the engine's next deadline and uringIdleWaitMaxMs, and a multishot
// POLL on Bun's own epoll fd (found and validated at start-up) ends that wait the moment Bun has
// work (a signal, a timer's socket, an in-process client). Where that POLL cannot be validated it
// uses the doorbell instead: when idle it hands the thread back to Bun and the ring's eventfd,
// relayed by the shim to a pipe Bun reads, brings it back on the next completion.
//
// Memory the kernel sees (commands, completions, recv buffers, send arena) is allocated in C and
// wrapped once; per-connection state lives in typed arrays indexed by slot; no BigInt, no
// per-message allocation on the hot path.

import type { Pointer } from "bun:ffi";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { release } from "node:os";
import {
  connectionsMax,
  outputBytesHighWater,
  outputBytesLowWater,
  shutdownFlushMs,
  uringIdleWaitLongMs,
  uringIdleWaitMaxMs,
  uringIdleWaitsBeforeLong,
  uringListenBacklog,
  uringRecvBufferBytes,
  uringSendChunkBytes,
  uringSendChunks,
  uringSendChunksPerConnectionMax,
  uringSendChunksReserve,
  uringSendChunksSmall,
  uringSendBytesMax,
  uringSliceMs,
  uringStopAbortMs,
} from "../constants.ts";
import {
  CMD_ACCEPT,
  CMD_CANCEL,
  CMD_CLOSE,
  CMD_POLL,
  CMD_RECV,
  CMD_RECYCLE,
  CMD_SEND,
  CQE_BUFFER_SHIFT,
  CQE_F_BUFFER,
  CQE_F_MORE,
  CQE_INTS,
  errnoName,
  MODE_NAMES,
  OP_ACCEPT,
  OP_CANCEL,
  OP_CLOSE,
  OP_IGNORE,
  OP_POLL,
  OP_RECV,
  OP_SEND,
  SEND_IOVS,
  type Shim,
  ud,
  udGen,
  udOp,
  udSlot,
  UD_GEN_MASK,
} from "./uring-abi.ts";
import { SendArena } from "./uring-output.ts";
import { UringRing } from "./uring-ring.ts";
import { Doorbell, validateBunPoll, type BunPoll } from "./uring-wake.ts";
import { AcceptBackoff } from "./accept-backoff.ts";
import { listenError, type ConnId, type IoBackend, type IoHandler, type IoStats, type ListenOptions } from "./types.ts";

// Slot states.
const FREE = 0;
const OPEN = 1;
/** close() asked: output still draining, then the close is submitted. */
const DRAINING = 2;
/** cancel+close submitted; the slot is freed once the close (and any send) completed. */
const CLOSING = 3;

const LISTENER_SLOT = 0;

export class UringBackend extends UringRing implements IoBackend {
  readonly name = "uring" as const;
  /** Completed at listen() with how Bun's work ends a wait in the ring. */
  description: string;
  private readonly out: SendArena;

  // Per-slot connection state (slot 0 is the listener).
  private readonly fd = new Int32Array(connectionsMax + 1);
  private readonly gen = new Int32Array(connectionsMax + 1);
  private readonly state = new Uint8Array(connectionsMax + 1);
  private readonly sending = new Uint8Array(connectionsMax + 1);
  private readonly closed = new Uint8Array(connectionsMax + 1);
  private readonly high = new Uint8Array(connectionsMax + 1);
  private readonly queuedSend = new Uint8Array(connectionsMax + 1);
  private readonly freeSlots: number[] = [];
  /** Slots with output written since their last send was submitted. */
  private readonly toSend: number[] = [];
  /** Slots whose peer sent EOF in this iteration: closed (after a flush) once onTurn ran. */
  private readonly eof: number[] = [];
  private readonly queueSendFn = (slot: number): void => this.queueSend(slot);

  private handler: IoHandler | null = null;
  private listenFd = -1;
  /** Connections served at once (listen's bound); more are closed as they are accepted. */
  private maxOpen = connectionsMax;
  private log: (line: string) => void = (line) => console.error(line);
  /** Bun's epoll fds whose POLL ends a wait (validated at listen); none: doorbell mode. */
  private bunPoll: BunPoll = { fds: [], candidates: [] };
  private readonly doorbell: Doorbell;
  private bunHasWork = false;
  /** wake() was called since the last iteration: do not wait in the ring. */
  private woken = false;
  /** Waits in a row that ended with nothing to do. */
  private idleWaits = 0;
  private turnScheduled = false;
  private deadlineAt = 0;
  private stopping = false;
  private ended = false;
  private readonly st: IoStats = { backend: "uring", connectionsOpen: 0, connectionsAccepted: 0, bytesIn: 0, bytesOut: 0, turns: 0 };

  /** Accepted connections are direct descriptors (RINGQ_URING_FILES=direct), not fds.
   *  `fileTable` says which, and why, for the start-up line. */
  constructor(shim: Shim, ctx: Pointer, mode: number, doorbellFd: number, private readonly direct: boolean, fileTable: string) {
    super(shim, ctx);
    this.out = new SendArena(
      this.sendMemory, uringSendChunkBytes, uringSendChunks,
      connectionsMax + 1, uringSendChunksPerConnectionMax, uringSendChunksReserve, uringSendChunksSmall,
      uringSendBytesMax, SEND_IOVS,
    );
    for (let s = connectionsMax; s >= 1; s--) this.freeSlots.push(s);
    this.doorbell = new Doorbell(shim, ctx, doorbellFd, (i) => this.complete(i), () => this.wake());
    this.description = `io_uring (kernel-level async, ${MODE_NAMES[mode] ?? `mode ${mode}`}, ${fileTable}, kernel ${release()})`;
  }

  // ---- listen and start-up validation ----

  async listen(host: string, port: number, handler: IoHandler, opts: ListenOptions = {}): Promise<number> {
    this.handler = handler;
    this.maxOpen = Math.min(opts.connectionsMax ?? connectionsMax, connectionsMax);
    this.log = opts.log ?? this.log;
    // The shim takes numeric addresses only: resolve names (localhost, a hostname) here.
    const numericHost = isIP(host) ? host : (await lookup(host)).address;
    const fd = this.shim.ringq_listen(Buffer.from(`${numericHost}\0`), port, uringListenBacklog);
    if (fd < 0) throw listenError(host, port, errnoName(-fd));
    this.listenFd = fd;
    this.cmd(CMD_ACCEPT, fd, ud(OP_ACCEPT, 0, LISTENER_SLOT), 0, 0);
    // RINGQ_URING_WAKE=doorbell skips the POLL (tests use it to run the doorbell path).
    if (process.env.RINGQ_URING_WAKE !== "doorbell") {
      this.bunPoll = await validateBunPoll(this, LISTENER_SLOT);
    }
    this.description = `${this.description}, ${this.bunPoll.fds.length > 0 ? "POLL on Bun's epoll" : "eventfd doorbell"}`;
    this.schedule();
    return this.shim.ringq_local_port(fd);
  }

  // ---- the loop ----

  private schedule(): void {
    if (this.turnScheduled || this.ended) return;
    this.turnScheduled = true;
    setImmediate(this.turn);
  }

  private readonly turn = (): void => {
    this.turnScheduled = false;
    if (this.ended || this.handler === null) return;
    if (this.doorbell.parked) this.doorbell.unpark();
    const start = Date.now();
    let wait = false;
    for (;;) {
      let timeoutUs = 0;
      if (wait) {
        const left = this.deadlineAt - Date.now();
        if (this.bunPoll.fds.length === 0) {
          // Doorbell mode: hand the thread back to Bun until the ring or a deadline calls.
          if (left > 0) {
            if (this.doorbell.park(left)) return;
            this.schedule();
            return;
          }
        } else {
          // A server idle for a while waits longer: Bun's sockets and signals still end the
          // wait at once through the POLL; only Bun timers run later (see constants.ts).
          const cap = this.idleWaits >= uringIdleWaitsBeforeLong ? uringIdleWaitLongMs : uringIdleWaitMaxMs;
          timeoutUs = left <= 0 ? 0 : 1000 * Math.min(left, cap);
        }
      }
      const n = this.run(timeoutUs > 0 ? 1 : 0, timeoutUs);
      for (let i = 0; i < n; i++) this.complete(i);
      if (n > 0 || this.ncmd > 0) this.idleWaits = 0;
      else if (timeoutUs > 0) this.idleWaits++;
      const now = Date.now();
      if (n > 0 || now >= this.deadlineAt || !wait) {
        this.st.turns++;
        const delay = this.handler!.onTurn(now);
        this.deadlineAt = delay === Infinity ? Infinity : now + delay;
      }
      for (let i = 0; i < this.eof.length; i++) this.close(this.eof[i]!);
      this.eof.length = 0;
      if (this.out.hasStarved) this.out.refillStarved(this.queueSendFn);
      this.submitSends();
      if (this.fatal !== null) {
        this.ended = true;
        throw this.fatal;
      }
      if (this.bunHasWork || this.stopping || Date.now() - start >= uringSliceMs) break;
      // wake() during this iteration (the server has output or work outside an event): the next
      // run must not wait, and its onTurn flushes it.
      wait = n === 0 && this.ncmd === 0 && !this.woken;
      this.woken = false;
    }
    this.bunHasWork = false;
    this.schedule();
  };

  wake(): void {
    this.woken = true;
    this.schedule();
  }

  // ---- completions ----

  complete(i: number): void {
    const q = i * CQE_INTS;
    const u = this.cqes[q]!;
    const res = this.cqes[q + 1]!;
    const flags = this.cqes[q + 2]!;
    const op = udOp(u);
    const slot = udSlot(u);
    if (op === OP_RECV) {
      if (this.gen[slot] !== udGen(u) || this.state[slot] === FREE || this.closed[slot]) {
        if (flags & CQE_F_BUFFER) this.cmd(CMD_RECYCLE, 0, 0, flags >>> CQE_BUFFER_SHIFT, 0);
        return;
      }
      if (res > 0) {
        const bid = flags >>> CQE_BUFFER_SHIFT;
        this.st.bytesIn += res;
        this.handler!.onData(slot, this.recv, bid * uringRecvBufferBytes, res);
        this.cmd(CMD_RECYCLE, 0, 0, bid, 0);
        if (!(flags & CQE_F_MORE) && !this.closed[slot]) this.armRecv(slot);
      } else if (res === 0) {
        // The peer finished sending (maybe only half-closed): answer what it sent in this
        // batch first. Closed after this iteration's onTurn has written the replies.
        this.eof.push(slot);
      } else if (res === -105 /* ENOBUFS: every buffer lent this turn; they come back below */) {
        if (!(flags & CQE_F_MORE)) this.armRecv(slot);
      } else {
        this.abort(slot);
      }
    } else if (op === OP_SEND) {
      this.sending[slot] = 0;
      if (res > 0) {
        this.st.bytesOut += res;
        this.out.consume(slot, res);
      }
      if (this.state[slot] === CLOSING) {
        if (this.closed[slot] === 2) this.release(slot);
        return;
      }
      if (res < 0) return this.abort(slot);
      this.queueSend(slot);
      if (this.high[slot] && this.out.pending(slot) < outputBytesLowWater) {
        this.high[slot] = 0;
        this.handler!.onWritable(slot);
      }
    } else if (op === OP_ACCEPT) {
      if (res >= 0) {
        this.accepted(res);
        this.accepts.succeeded();
      } else if (res === -24 || res === -23) {
        // EMFILE/ENFILE: re-arming now would fail again at once (a core spun on it): pause.
        if (!(flags & CQE_F_MORE)) return this.accepts.failed(errnoName(-res));
      }
      if (!(flags & CQE_F_MORE) && !this.stopping && this.listenFd >= 0) this.armAccept();
    } else if (op === OP_CLOSE) {
      if (this.gen[slot] !== udGen(u) || this.state[slot] !== CLOSING) return;
      this.closed[slot] = 2;
      if (!this.sending[slot]) this.release(slot);
    } else if (op === OP_POLL) {
      this.bunHasWork = true;
      // Re-arm a kept POLL the kernel ended (a cancelled candidate's last completion is not kept).
      const fd = this.bunPoll.candidates[udGen(u)];
      if (!(flags & CQE_F_MORE) && res >= 0 && !this.stopping && fd !== undefined && this.bunPoll.fds.includes(fd)) {
        this.cmd(CMD_POLL, fd, u, 0, 0);
      }
    }
    // OP_CANCEL / OP_IGNORE: nothing waits for them.
  }

  private armAccept(): void {
    if (!this.stopping && this.listenFd >= 0) this.cmd(CMD_ACCEPT, this.listenFd, ud(OP_ACCEPT, 0, LISTENER_SLOT), 0, 0);
  }

  private readonly accepts = new AcceptBackoff(() => {
    this.armAccept();
    this.wake();
  }, (line) => this.log(line));

  private accepted(fd: number): void {
    // Over the bound (the fd limit's share, connectionsMax) or shutting down: refuse by closing
    // at once; a direct descriptor is no fd close(2) could take, so it goes through the ring.
    const slot = this.stopping || this.st.connectionsOpen >= this.maxOpen ? undefined : this.freeSlots.pop();
    if (slot === undefined) {
      if (this.direct) this.cmd(CMD_CLOSE, fd, ud(OP_IGNORE, 0, LISTENER_SLOT), ud(OP_IGNORE, 0, LISTENER_SLOT), 0);
      else this.shim.ringq_close_fd(fd);
      return;
    }
    this.gen[slot] = (this.gen[slot]! + 1) & UD_GEN_MASK;
    this.fd[slot] = fd;
    this.state[slot] = OPEN;
    this.closed[slot] = 0;
    this.sending[slot] = 0;
    this.high[slot] = 0;
    this.st.connectionsOpen++;
    this.st.connectionsAccepted++;
    this.armRecv(slot);
    this.handler!.onOpen(slot);
  }

  private armRecv(slot: number): void {
    this.cmd(CMD_RECV, this.fd[slot]!, ud(OP_RECV, this.gen[slot]!, slot), 0, 0);
  }

  // ---- output ----

  write(conn: ConnId, bytes: Uint8Array, offset: number, length: number): number {
    if (this.state[conn] !== OPEN || this.closed[conn]) return 0;
    if (length === 0) return this.out.pending(conn);
    const pending = this.out.write(conn, bytes, offset, length);
    if (pending > outputBytesHighWater) this.high[conn] = 1;
    this.queueSend(conn);
    return pending;
  }

  private queueSend(slot: number): void {
    if (this.queuedSend[slot] || this.sending[slot]) return;
    this.queuedSend[slot] = 1;
    this.toSend.push(slot);
  }

  /** One send in flight per connection, from the head of its arena chain: a plain send when its
   *  bytes are one range of the arena, else a gathering SENDV (chunks apart; 3 sends for a 57 KB
   *  PULLB reply before it existed, bench/README.md). */
  private submitSends(): void {
    const list = this.toSend;
    for (let i = 0; i < list.length; i++) {
      const slot = list[i]!;
      this.queuedSend[slot] = 0;
      if (this.sending[slot] || this.state[slot] === FREE || this.state[slot] === CLOSING) continue;
      if (this.out.nextSend(slot)) {
        this.sending[slot] = 1;
        const u = ud(OP_SEND, this.gen[slot]!, slot);
        if (this.out.runCount === 1) this.cmd(CMD_SEND, this.fd[slot]!, u, this.out.sendOffset, this.out.sendLength);
        else this.sendv(this.fd[slot]!, u, this.out.runs, this.out.runCount);
      } else if (this.state[slot] === DRAINING && this.out.pending(slot) === 0) {
        this.submitClose(slot);
      }
    }
    list.length = 0;
  }

  pendingBytes(conn: ConnId): number {
    return this.state[conn] === FREE ? 0 : this.out.pending(conn);
  }

  // ---- closing ----

  close(conn: ConnId): void {
    if (this.state[conn] !== OPEN) return;
    this.state[conn] = DRAINING;
    this.queueSend(conn); // the send path submits the close once output is out
    this.gone(conn);
  }

  abort(conn: ConnId): void {
    const s = this.state[conn];
    if (s !== OPEN && s !== DRAINING) return;
    this.gone(conn);
    this.submitClose(conn);
  }

  /** Tells the server once; the slot lives on until the kernel is done with it. */
  private gone(slot: number): void {
    if (this.closed[slot]) return;
    this.closed[slot] = 1;
    this.st.connectionsOpen--;
    this.handler?.onClose(slot);
  }

  private submitClose(slot: number): void {
    this.state[slot] = CLOSING;
    const g = this.gen[slot]!;
    // The cancel ends the multishot recv and any in-flight send; the close is hard-linked to it.
    this.cmd(CMD_CLOSE, this.fd[slot]!, ud(OP_CANCEL, g, slot), ud(OP_CLOSE, g, slot), 0);
  }

  private release(slot: number): void {
    this.out.reset(slot);
    this.state[slot] = FREE;
    this.closed[slot] = 0;
    this.fd[slot] = -1;
    this.freeSlots.push(slot);
  }

  async stop(): Promise<void> {
    if (this.stopping || this.ended) return;
    this.stopping = true;
    if (this.handler === null) {
      // Never listened (a probe's ring): nothing to flush.
      this.ended = true;
      this.shim.ringq_destroy(this.ctx);
      return;
    }
    if (this.doorbell.parked) this.wake();
    // Stop accepting: cancel the multishot accept (it holds its own file reference), then close.
    this.cmd(CMD_CANCEL, this.listenFd, ud(OP_IGNORE, 0, LISTENER_SLOT), 0, 0);
    this.wake();
    await Bun.sleep(1);
    this.shim.ringq_close_fd(this.listenFd);
    this.listenFd = -1;
    // Turns keep running: the server flushes its last replies, the sends drain (bounded).
    const live = (): number[] => {
      const s: number[] = [];
      for (let i = 1; i <= connectionsMax; i++) if (this.state[i] !== FREE) s.push(i);
      return s;
    };
    const flushUntil = Date.now() + shutdownFlushMs;
    while (live().some((s) => this.out.pending(s) > 0) && Date.now() < flushUntil) await Bun.sleep(2);
    for (const s of live()) {
      if (this.out.pending(s) > 0) this.abort(s);
      else this.close(s);
    }
    this.wake();
    const closeUntil = Date.now() + uringStopAbortMs;
    while (live().length > 0 && Date.now() < closeUntil) await Bun.sleep(2);
    this.ended = true;
    this.doorbell.stop();
    this.accepts.stop();
    this.handler = null;
    // queue_exit cancels what is left; the memory goes with the ring.
    this.shim.ringq_destroy(this.ctx);
  }

  stats(): IoStats {
    return { ...this.st };
  }
}
