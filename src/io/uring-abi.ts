// The TypeScript mirror of ffi/ringq_uring.h (user_data packing, command records, completion
// quads, regions, probe stages) plus the dlopen of the shim. Change both files together.
// No state and no policy here: uring.ts decides what to submit and what a completion means.

import { dlopen, FFIType } from "bun:ffi";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const shimPath = join(import.meta.dir, "..", "..", "ffi", "build", "libringq_uring.so");

// user_data: op:4 | gen:14 | slot:14 (all int32 arithmetic, no BigInt).
export const UD_SLOT_BITS = 14;
export const UD_GEN_MASK = (1 << 14) - 1;
export const UD_SLOT_MASK = (1 << UD_SLOT_BITS) - 1;
export const ud = (op: number, gen: number, slot: number): number =>
  (op << 28) | ((gen & UD_GEN_MASK) << UD_SLOT_BITS) | (slot & UD_SLOT_MASK);
export const udOp = (u: number): number => u >>> 28;
export const udGen = (u: number): number => (u >>> UD_SLOT_BITS) & UD_GEN_MASK;
export const udSlot = (u: number): number => u & UD_SLOT_MASK;

export const OP_ACCEPT = 1;
export const OP_RECV = 2;
export const OP_SEND = 3;
export const OP_CANCEL = 4;
export const OP_CLOSE = 5;
export const OP_POLL = 6;
export const OP_IGNORE = 7;

export const CMD_INTS = 5;
export const CMD_ACCEPT = 1;
export const CMD_RECV = 2;
export const CMD_SEND = 3;
export const CMD_RECYCLE = 4;
export const CMD_CLOSE = 5;
export const CMD_CANCEL = 6;
export const CMD_POLL = 7;
/** a = first pair in REGION_IOVS, b = pairs: one send gathering chunks apart in the arena. */
export const CMD_SENDV = 8;
/** Most [offset, length] pairs one SENDV carries. */
export const SEND_IOVS = 16;

export const CQE_INTS = 4;
/** ringq_create's out array: [stage, mode, errno, doorbell pipe fd, file-table errno]. */
export const CREATE_OUT_INTS = 5;
/** From liburing's io_uring.h. */
export const CQE_F_BUFFER = 1;
export const CQE_F_MORE = 2;
export const CQE_BUFFER_SHIFT = 16;

export const REGION_CMDS = 0;
export const REGION_CQES = 1;
export const REGION_RECV = 2;
export const REGION_SEND = 3;
export const REGION_STATS = 4;
export const REGION_IOVS = 5;

export const STAT_ENTERS = 0;
export const STAT_SQES = 1;
export const STAT_CQES = 2;
export const STAT_RUNS = 3;
export const STAT_SENDVS = 4;

export const MODE_NAMES: Record<number, string> = {
  1: "SINGLE_ISSUER|DEFER_TASKRUN",
  2: "COOP_TASKRUN|TASKRUN_FLAG",
};

export const STAGE_NAMES: Record<number, string> = {
  1: "io_uring_setup",
  2: "IORING_FEAT_EXT_ARG",
  3: "opcode probe (accept/recv/send/close/cancel/poll)",
  4: "io_uring_register_buf_ring",
  5: "memory for the ring",
  6: "loopback self-test",
  7: "loopback self-test timeout",
  8: "eventfd/pipe/relay thread",
};

const symbols = {
  ringq_probe: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  ringq_create: {
    args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr],
    returns: FFIType.ptr,
  },
  ringq_destroy: { args: [FFIType.ptr], returns: FFIType.void },
  ringq_region: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
  ringq_region_bytes: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ringq_send_copy: { args: [FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  ringq_mode: { args: [FFIType.ptr], returns: FFIType.i32 },
  ringq_set_notify: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.void },
  ringq_run: { args: [FFIType.ptr, FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  ringq_submit: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  ringq_listen: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  ringq_local_port: { args: [FFIType.i32], returns: FFIType.i32 },
  ringq_close_fd: { args: [FFIType.i32], returns: FFIType.i32 },
} as const;

export type Shim = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

const opened = new Map<string, Shim>();

/** dlopen once per path and process; throws with dlopen's message. */
export function openShim(path = shimPath): Shim {
  let shim = opened.get(path);
  if (shim) return shim;
  if (!existsSync(path)) throw new Error(`${path} not found`);
  shim = dlopen(path, symbols).symbols;
  opened.set(path, shim);
  return shim;
}

/** errno values the backend reports by name. */
export const ERRNO: Record<number, string> = {
  1: "EPERM", 12: "ENOMEM", 13: "EACCES", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 38: "ENOSYS",
  95: "EOPNOTSUPP", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 110: "ETIMEDOUT",
};
export const errnoName = (e: number): string => ERRNO[e] ?? `errno ${e}`;
