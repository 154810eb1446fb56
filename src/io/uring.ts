// io_uring backend: placeholder until the shim lands (issue 3). probeUring reports unavailable.
import type { IoBackend } from "./types.ts";

export type UringProbe =
  | { ok: true; backend: IoBackend }
  | { ok: false; reason: string; remedy: string };

export async function probeUring(): Promise<UringProbe> {
  return { ok: false, reason: "shim not built yet", remedy: "run `bun run build:ffi`" };
}
