// How many connections this process can really hold: the file descriptor limit (RLIMIT_NOFILE,
// read from /proc/self/limits) less the descriptors already open and a reserve for the rest of
// the server (the database and its WAL, the HTTP port, accepts in flight). Serving more than
// that ends in EMFILE, where accept loops spin and accepted clients hang; below it, a connection
// over the bound is accepted and closed at once, so its client learns at once.

import { readdirSync, readFileSync } from "node:fs";
import { connectionsMax, fdReserve } from "../constants.ts";

export interface ConnectionBound {
  /** Connections served at once. */
  max: number;
  /** Why it is below connectionsMax, for the start-up line; null when it is not. */
  reason: string | null;
}

/** The soft RLIMIT_NOFILE, or null where /proc does not say. */
export function fdLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (m === null || m[1] === "unlimited") return null;
    return Number(m[1]);
  } catch {
    return null;
  }
}

export function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}

export function connectionBound(limit = fdLimit(), open = openFds()): ConnectionBound {
  if (limit === null) return { max: connectionsMax, reason: null };
  const room = limit - open - fdReserve;
  if (room >= connectionsMax) return { max: connectionsMax, reason: null };
  return {
    max: Math.max(1, room),
    reason: `file descriptor limit ${limit} (raise it: ulimit -n, or LimitNOFILE= under systemd)`,
  };
}
