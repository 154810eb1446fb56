// How Bun's own work ends a wait in the ring (docs/architecture.md, the hybrid loop). Preferred: a multishot
// POLL on Bun's epoll fd, found in /proc/self/fd and validated at start-up by making Bun's loop
// busy and seeing which POLL fires. Where none validates, the doorbell: when idle the loop hands
// the thread back to Bun, and the ring's eventfd (relayed by the shim to a pipe Bun reads) or the
// next deadline calls it back. Nothing here knows about connections.

import type { Pointer } from "bun:ffi";
import { readdirSync, readlinkSync } from "node:fs";
import { timerDelayMsMax, uringBunPollValidateMs } from "../constants.ts";
import { CMD_CANCEL, CMD_POLL, CQE_INTS, OP_IGNORE, OP_POLL, type Shim, ud, udGen, udOp, UD_GEN_MASK } from "./uring-abi.ts";

/** What validation needs of the ring (the backend's own command and run functions). */
export interface WakeRing {
  readonly cqes: Int32Array;
  cmd(op: number, fd: number, u: number, a: number, b: number): void;
  /** One run: submits the commands, waits for waitNr completions at most timeoutUs. */
  run(waitNr: number, timeoutUs: number): number;
  /** Handles completion i of the last run (anything but the validation's POLLs). */
  complete(i: number): void;
}

export interface BunPoll {
  /** The epoll fds whose POLL fired at validation (empty: use the doorbell). */
  fds: number[];
  /** Every candidate fd, by the index its POLL carries in user_data's generation field. */
  candidates: number[];
}

/**
 * Arms a multishot POLL on each of Bun's epoll fds, makes Bun's loop busy (a loopback connect
 * through Bun.listen/Bun.connect) and keeps the fds whose POLL fired within the bound; the others
 * are cancelled. `slot` is the user_data slot the POLLs carry.
 */
export async function validateBunPoll(ring: WakeRing, slot: number): Promise<BunPoll> {
  const candidates: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === "anon_inode:[eventpoll]") candidates.push(Number(name));
    } catch {
      // closed while listing
    }
  }
  if (candidates.length === 0 || candidates.length > UD_GEN_MASK) return { fds: [], candidates: [] };
  // Drain what the ring already has (the first accept's submission) before validating.
  ring.run(0, 0);
  candidates.forEach((fd, i) => ring.cmd(CMD_POLL, fd, ud(OP_POLL, i, slot), 0, 0));
  ring.run(0, 0);
  const fired = new Set<number>();
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
  const client = Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {}, open() {} } });
  const until = Date.now() + uringBunPollValidateMs;
  while (fired.size === 0 && Date.now() < until) {
    const n = ring.run(1, 1000 * Math.max(1, until - Date.now()));
    for (let i = 0; i < n; i++) {
      const u = ring.cqes[i * CQE_INTS]!;
      if (udOp(u) === OP_POLL) fired.add(candidates[udGen(u)]!);
      else ring.complete(i); // nothing else is open yet, but keep the accept path honest
    }
  }
  (await client).end();
  server.stop(true);
  for (const fd of candidates) if (!fired.has(fd)) ring.cmd(CMD_CANCEL, fd, ud(OP_IGNORE, 0, slot), 0, 0);
  return { fds: [...fired], candidates };
}

/** Doorbell mode, idle: park until the ring's eventfd (relayed to a pipe) or a deadline wakes us. */
export class Doorbell {
  parked = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reader: { read(): Promise<{ done: boolean }>; cancel(): Promise<void> } | null = null;
  private reading = false;

  constructor(
    private readonly shim: Shim,
    private readonly ctx: Pointer,
    private readonly fd: number,
    /** Handles completion i of a run. */
    private readonly complete: (i: number) => void,
    /** Asks for a loop turn. */
    private readonly wake: () => void,
  ) {}

  /** Returns false when a completion arrived meanwhile (handled): the loop goes on instead. */
  park(delayMs: number): boolean {
    this.shim.ringq_set_notify(this.ctx, 1);
    // A completion that raced the toggle would ring no bell: look once more before sleeping.
    const n = this.shim.ringq_run(this.ctx, 0, 0, 0);
    if (n > 0) {
      this.shim.ringq_set_notify(this.ctx, 0);
      for (let i = 0; i < n; i++) this.complete(i);
      return false;
    }
    this.parked = true;
    this.listen();
    if (delayMs !== Infinity) this.timer = setTimeout(this.wake, Math.min(delayMs, timerDelayMsMax));
    return true;
  }

  unpark(): void {
    this.parked = false;
    this.shim.ringq_set_notify(this.ctx, 0);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.reader?.cancel().catch(() => {});
  }

  private listen(): void {
    if (this.reading || this.fd < 0) return;
    const reader = (this.reader ??= Bun.file(this.fd).stream().getReader());
    this.reading = true;
    reader.read().then(
      (r) => {
        this.reading = false;
        if (!r.done) this.wake();
      },
      () => {
        this.reading = false;
      },
    );
  }
}
