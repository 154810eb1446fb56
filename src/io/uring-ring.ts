// The ring itself, below connections: the shim's C regions wrapped once (commands, completions,
// recv buffers, send arena, stats), the command buffer that becomes SQEs, one run = one
// io_uring_enter, and the fail-stop for a ring that errors. The connection logic (uring.ts)
// builds on it; nothing here knows about slots or the server.

import { toArrayBuffer, type Pointer } from "bun:ffi";
import { uringCommandsMax } from "../constants.ts";
import type { ArenaMemory } from "./uring-output.ts";
import { CMD_INTS, CMD_SENDV, errnoName, REGION_CMDS, REGION_CQES, REGION_IOVS, REGION_RECV, REGION_STATS, STAT_CQES, STAT_ENTERS, STAT_RUNS, STAT_SENDVS, STAT_SQES, type Shim } from "./uring-abi.ts";

export class UringRing {
  protected readonly cmds: Int32Array;
  readonly cqes: Int32Array;
  protected readonly recv: Uint8Array;
  /** The send arena, written through the shim: never wrapped as an ArrayBuffer, whose whole
   *  length JSC would count as heap (64 MiB, mostly untouched, made its collector let that much
   *  more garbage pile up: the io_uring server's RSS after 300k pushes, 484-487 B a job against
   *  335-372 with a quarter of the arena). */
  protected readonly sendMemory: ArenaMemory;
  private readonly shimStats: Float64Array;
  protected ncmd = 0;
  /** SENDV's [offset, length] pairs for the commands queued so far (niov pairs used). */
  private readonly iovs: Int32Array;
  private niov = 0;
  /** Set by fail(); the loop throws it at the end of the iteration. */
  protected fatal: Error | null = null;

  constructor(
    protected readonly shim: Shim,
    protected readonly ctx: Pointer,
  ) {
    // Memory the kernel reads or writes lives in C; each region is wrapped once for the
    // process's life (small JS typed arrays can move, docs/architecture.md, I/O).
    const region = (id: number): ArrayBuffer => {
      const p = shim.ringq_region(ctx, id)!;
      return toArrayBuffer(p, 0, shim.ringq_region_bytes(ctx, id));
    };
    this.cmds = new Int32Array(region(REGION_CMDS));
    this.cqes = new Int32Array(region(REGION_CQES));
    this.recv = new Uint8Array(region(REGION_RECV));
    this.sendMemory = {
      copyIn: (dst, src, srcOff, n) => {
        const err = shim.ringq_send_copy(ctx, dst, src, src.length, srcOff, n);
        if (err !== 0) throw new Error(`io_uring: send-arena copy refused (${err}): ${n} bytes at ${dst}`);
      },
    };
    this.shimStats = new Float64Array(region(REGION_STATS));
    this.iovs = new Int32Array(region(REGION_IOVS));
  }

  /** Queues one command record; a full buffer is submitted first (one extra enter). */
  cmd(op: number, fd: number, u: number, a: number, b: number): void {
    if (this.ncmd === uringCommandsMax) this.submitNow();
    const i = this.ncmd++ * CMD_INTS;
    const c = this.cmds;
    c[i] = op;
    c[i + 1] = fd;
    c[i + 2] = u;
    c[i + 3] = a;
    c[i + 4] = b;
  }

  /** Queues one send gathering `count` [offset, length] pairs of `pairs` (count >= 1). */
  sendv(fd: number, u: number, pairs: Int32Array, count: number): void {
    // Both buffers are flushed together, so the pairs this command names are never overwritten.
    if (this.ncmd === uringCommandsMax || 2 * (this.niov + count) > this.iovs.length) this.submitNow();
    const v = this.iovs;
    for (let i = 0, j = 2 * this.niov; i < 2 * count; i++, j++) v[j] = pairs[i]!;
    this.cmd(CMD_SENDV, fd, u, this.niov, count);
    this.niov += count;
  }

  private submitNow(): void {
    const err = this.shim.ringq_submit(this.ctx, this.ncmd);
    this.ncmd = 0;
    this.niov = 0;
    if (err < 0) this.fail(`io_uring submit failed: ${errnoName(-err)}`);
  }

  /** One run: submits the queued commands and waits for waitNr completions, at most timeoutUs;
   *  the completions are left in cqes. */
  run(waitNr: number, timeoutUs: number): number {
    const n = this.shim.ringq_run(this.ctx, this.ncmd, waitNr, timeoutUs);
    this.ncmd = 0;
    this.niov = 0;
    if (n < 0) this.fail(`io_uring_enter failed: ${errnoName(-n)}`);
    return n < 0 ? 0 : n;
  }

  protected fail(message: string): void {
    this.fatal ??= new Error(`${message}. The server cannot continue on io_uring; restart it with RINGQ_IO=bun`);
  }

  /** io_uring_enter calls made so far (bench and tests: syscalls per request). */
  enters(): number {
    return this.shimStats[STAT_ENTERS]!;
  }

  /** The shim's counters, for /metrics (read when scraped, nothing counted on the way). */
  shimCounters(): { enters: number; sqes: number; cqes: number; runs: number; gatheredSends: number } {
    const s = this.shimStats;
    return { enters: s[STAT_ENTERS]!, sqes: s[STAT_SQES]!, cqes: s[STAT_CQES]!, runs: s[STAT_RUNS]!, gatheredSends: s[STAT_SENDVS]! };
  }
}
