// RINGQ_IO=auto's check for io_uring, and the real ring once every stage passed: the shim loads,
// the kernel takes the ring flags and opcodes, a buffer ring registers, and a loopback
// accept/recv/send/close runs through a throwaway ring within uringProbeTimeoutMs. A failure is a
// reason (the stage and errno) and a remedy for the operator; select.ts falls back with them.

import type { Pointer } from "bun:ffi";
import {
  uringCommandsMax,
  uringCompletionsMax,
  uringCqEntries,
  uringDirectFilesSlack,
  uringProbeTimeoutMs,
  uringRecvBufferBytes,
  uringRecvBuffers,
  uringSendChunkBytes,
  uringSendChunks,
  uringSqEntries,
  connectionsMax,
} from "../constants.ts";
import { fdLimit } from "./fd-limit.ts";
import { CREATE_OUT_INTS, errnoName, openShim, shimPath, STAGE_NAMES, type Shim } from "./uring-abi.ts";
import { UringBackend } from "./uring.ts";

export type Probe = { ok: true; backend: UringBackend } | { ok: false; reason: string; remedy: string };

const remedyBuild = "install gcc and liburing-dev (apt-get install gcc liburing-dev), then run: bun run build:ffi";
const remedyKernel =
  "io_uring needs Linux >= 6.1 with io_uring enabled (sysctl kernel.io_uring_disabled=0); under Docker, run with the seccomp profile in README.md (Docker)";

/**
 * Everything RINGQ_IO=auto checks before choosing io_uring: the shim loads, the kernel takes the
 * ring flags and opcodes, a buffer ring registers, and a loopback accept/recv/send/close runs
 * through a throwaway ring within uringProbeTimeoutMs. Then the real ring is created.
 * RINGQ_URING_SHIM overrides the shim's path (tests use it to force the fallback).
 */
export async function probeUring(): Promise<Probe> {
  const path = process.env.RINGQ_URING_SHIM || shimPath;
  let shim: Shim;
  try {
    shim = openShim(path);
  } catch (e) {
    const remedy = process.env.RINGQ_URING_SHIM
      ? `RINGQ_URING_SHIM=${path} is set: point it at a built libringq_uring.so, or unset it to use ${shimPath}`
      : remedyBuild;
    return { ok: false, reason: `shim not loadable: ${(e as Error).message}`, remedy };
  }
  // RINGQ_URING_FILES=direct: direct descriptors, when the probe's ring took a file table and
  // its accepted socket inherited TCP_NODELAY (there is no fd to set it on). The default is
  // plain fds (constants.ts says why).
  const filesEnv = process.env.RINGQ_URING_FILES;
  if (filesEnv !== undefined && filesEnv !== "" && filesEnv !== "direct" && filesEnv !== "plain") {
    return { ok: false, reason: `RINGQ_URING_FILES=${filesEnv} is not direct or plain`, remedy: "set RINGQ_URING_FILES=direct or plain, or unset it" };
  }
  const wanted = filesEnv === "direct";
  const out = new Int32Array(CREATE_OUT_INTS);
  const err = shim.ringq_probe(out, uringProbeTimeoutMs, wanted ? 1 : 0);
  if (err !== 0 || out[0] !== 0) {
    const stage = STAGE_NAMES[out[0]!] ?? `stage ${out[0]}`;
    return { ok: false, reason: `${stage} ${errnoName(out[2]!)}`, remedy: remedyKernel };
  }
  // The kernel refuses a file table larger than RLIMIT_NOFILE (EMFILE).
  const probedFiles = out[3] === 1;
  const files = wanted && probedFiles ? Math.min(connectionsMax + uringDirectFilesSlack, fdLimit() ?? Infinity) : 0;
  const ctx = shim.ringq_create(
    uringSqEntries, uringCqEntries, uringRecvBuffers, uringRecvBufferBytes,
    uringSendChunks * uringSendChunkBytes, uringCommandsMax, uringCompletionsMax, files, out,
  );
  if (ctx === null) {
    const stage = STAGE_NAMES[out[0]!] ?? `stage ${out[0]}`;
    return { ok: false, reason: `${stage} ${errnoName(out[2]!)} (server ring)`, remedy: remedyKernel };
  }
  const direct = wanted && probedFiles && out[4] === 0;
  const fileTable = !wanted ? "plain fds"
    : !probedFiles ? "plain fds (RINGQ_URING_FILES=direct, but the probe's file table or TCP_NODELAY inheritance failed)"
    : out[4] !== 0 ? `plain fds (RINGQ_URING_FILES=direct, but a file table of ${files}: ${errnoName(out[4]!)})`
    : "direct descriptors (RINGQ_URING_FILES=direct)";
  return { ok: true, backend: new UringBackend(shim, ctx as Pointer, out[1]!, out[3]!, direct, fileTable) };
}

