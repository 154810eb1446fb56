// Test helper: which I/O backends the conformance suite can run here, decided once per test file.
// io_uring counts as available when ringq itself says so: a server started with RINGQ_IO=auto
// prints `IO backend: io_uring ...`. Otherwise the uring variant is skipped and the reason is
// printed, together with what the kernel says to a raw io_uring_setup (so a fallback caused by a
// ringq bug on a kernel that has io_uring is visible, not hidden behind the skip).
// RINGQ_TEST_REQUIRE_URING=1 turns the skip into a failure (for CI machines known to have it).

import { afterAll, beforeAll } from "bun:test";
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { RawClient } from "./raw-client.ts";
import { ServerProcess } from "./server-process.ts";

export const backendNames = ["bun", "uring"] as const;
export type BackendName = (typeof backendNames)[number];

/** One way of running the server under test: a backend and the settings that pick its paths. */
export interface Variant {
  name: string;
  io: BackendName;
  /** Over the test process's environment; undefined removes a variable. */
  env: Record<string, string | undefined>;
}

export const variants: readonly Variant[] = [
  { name: "bun", io: "bun", env: {} },
  // The uring loop's idle wait ends on a POLL of Bun's epoll fd where that validates at listen,
  // else on the ring's eventfd doorbell; the third variant forces the doorbell path. Accepted
  // connections are plain fds unless RINGQ_URING_FILES=direct; the third variant also asks for
  // direct descriptors, so both paths of each choice run the whole suite.
  { name: "uring", io: "uring", env: { RINGQ_URING_WAKE: undefined, RINGQ_URING_FILES: undefined } },
  { name: "uring, doorbell, direct descriptors", io: "uring", env: { RINGQ_URING_WAKE: "doorbell", RINGQ_URING_FILES: "direct" } },
];

/**
 * One server for the tests of a describe block on one variant: started before them, stopped
 * after (also when they fail). `set` receives it; the returned function opens a raw client to it.
 */
export function serverPerSuite(variant: Pick<Variant, "io" | "env">, set: (s: ServerProcess) => void = () => {}): () => Promise<RawClient> {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await ServerProcess.start({ io: variant.io, env: variant.env });
    set(server);
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => RawClient.connect(server!.port);
}

export interface Availability {
  available: boolean;
  /** Why not (the server's `IO backend:` line), or the line naming io_uring. */
  reason: string;
}

export interface KernelProbe {
  ok: boolean;
  detail: string;
}

const SYS_io_uring_setup = 425n; // the same number on every architecture since Linux 5.1
const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
const IORING_SETUP_DEFER_TASKRUN = 1 << 13;

/**
 * Asks the kernel directly (libc syscall through bun:ffi, no ringq code): can this process create
 * a ring with the flags ringq requires? Independent of the shim, so it tells a kernel that lacks
 * io_uring apart from a ringq that fails to use it.
 */
export function probeKernelUring(): KernelProbe {
  try {
    const libc = dlopen("libc.so.6", {
      syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr], returns: FFIType.i64 },
      __errno_location: { args: [], returns: FFIType.ptr },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    });
    try {
      const params = new Uint8Array(120); // struct io_uring_params
      const view = new DataView(params.buffer);
      view.setUint32(8, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, true);
      const fd = Number(libc.symbols.syscall(SYS_io_uring_setup, 8n, ptr(params)));
      if (fd < 0) {
        const errno = read.i32(libc.symbols.__errno_location()!, 0);
        const name = ({ 1: "EPERM", 12: "ENOMEM", 22: "EINVAL", 38: "ENOSYS" } as Record<number, string>)[errno];
        return { ok: false, detail: `io_uring_setup(SINGLE_ISSUER|DEFER_TASKRUN) failed: errno ${errno}${name ? ` ${name}` : ""}` };
      }
      libc.symbols.close(fd);
      return { ok: true, detail: "io_uring_setup(SINGLE_ISSUER|DEFER_TASKRUN) works" };
    } finally {
      libc.close();
    }
  } catch (e) {
    return { ok: false, detail: `could not call io_uring_setup: ${(e as Error).message}` };
  }
}

let cached: Promise<Availability> | null = null;

/** Starts ringq with RINGQ_IO=auto once and reads which backend it chose. */
export function uringAvailability(): Promise<Availability> {
  cached ??= (async () => {
    const s = await ServerProcess.start({ io: "auto" });
    try {
      const io = s.ioLine;
      if (/^IO backend: io_uring/.test(io)) return { available: true, reason: io };
      return { available: false, reason: io };
    } finally {
      await s.stop();
    }
  })();
  return cached;
}

/** Availability of each backend, printing why a variant is skipped. */
export async function availableBackends(suite: string): Promise<Record<BackendName, Availability>> {
  const uring = await uringAvailability();
  if (!uring.available) {
    const kernel = probeKernelUring();
    const msg =
      `[${suite}] SKIP uring backend: RINGQ_IO=auto started with "${uring.reason}"; ` +
      `kernel probe: ${kernel.detail}` +
      (kernel.ok ? " (so the kernel has io_uring: the fallback is ringq's or the shim's, not the kernel's)" : "");
    if (process.env.RINGQ_TEST_REQUIRE_URING === "1") throw new Error(`${msg}; RINGQ_TEST_REQUIRE_URING=1`);
    console.warn(msg);
  }
  return { bun: { available: true, reason: "always available" }, uring };
}
