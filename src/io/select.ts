// Picks the I/O backend once at start-up (RINGQ_IO=auto|uring|bun) and says why.
// auto tries io_uring (uring-probe.ts probes: dlopen the shim, ring flags, opcodes, buffer ring,
// loopback self-test) and falls back to Bun sockets with the reason and the remedy.
// A forced `uring` that is unavailable is a start-up error.

import type { IoBackend, TlsFiles } from "./types.ts";
import { BunBackend } from "./bun.ts";

export type IoMode = "auto" | "uring" | "bun";

export interface Selection {
  backend: IoBackend;
  /** One line for the start-up log: which backend and why. */
  logLine: string;
}

export async function selectBackend(mode: IoMode, tls: TlsFiles | null = null): Promise<Selection> {
  if (mode === "bun") {
    const backend = new BunBackend(tls);
    return { backend, logLine: `IO backend: ${backend.description}: RINGQ_IO=bun` };
  }
  if (tls !== null) {
    if (mode === "uring") {
      throw new Error("RINGQ_IO=uring with TLS (TLS_CERT/TLS_KEY): the io_uring path has no TLS; unset RINGQ_IO (auto picks Bun sockets for TLS) or the TLS files");
    }
    const backend = new BunBackend(tls);
    return { backend, logLine: `IO backend: ${backend.description}: TLS is configured (TLS_CERT/TLS_KEY) and the io_uring path has no TLS` };
  }
  const { probeUring } = await import("./uring-probe.ts");
  const probe = await probeUring();
  if (probe.ok) {
    const backend = probe.backend;
    // A getter: the description is completed at listen() (how Bun's work wakes the ring).
    return { backend, get logLine() { return `IO backend: ${backend.description}`; } };
  }
  if (mode === "uring") {
    throw new Error(`RINGQ_IO=uring but io_uring is unavailable: ${probe.reason}. ${probe.remedy}`);
  }
  const backend = new BunBackend();
  return {
    backend,
    logLine: `IO backend: ${backend.description}: io_uring unavailable (${probe.reason}); ${probe.remedy}`,
  };
}
