// Readers for /proc/<pid>: resident memory (VmRSS) and CPU time (utime+stime), plus whether
// taskset can pin processes here. Linux only; elsewhere the readers return null and the bench
// prints "n/a" rather than guessing. No sampling loops: callers read before and after.

import { readFileSync, readdirSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import * as os from "node:os";

/** Resident set size of pid in bytes (VmRSS), or null when /proc is not readable. */
export function readRssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

let clockTicksPerSecondCached = 0;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on nearly every Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicksPerSecondCached === 0) {
    try {
      clockTicksPerSecondCached = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicksPerSecondCached = 100;
    }
  }
  return clockTicksPerSecondCached;
}

/** CPU time (user + system) used by pid so far, in milliseconds, or null. */
export function readCpuMs(pid: number): number | null {
  const c = readCpuSplitMs(pid);
  return c === null ? null : c.userMs + c.sysMs;
}

/** User and kernel CPU time used by pid so far (all threads), in milliseconds, or null. */
export function readCpuSplitMs(pid: number): { userMs: number; sysMs: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm (field 2) may hold spaces and parentheses: count fields after the LAST ')'.
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]); // field 14
    const stime = Number(rest[12]); // field 15
    const k = 1000 / clockTicksPerSecond();
    return { userMs: utime * k, sysMs: stime * k };
  } catch {
    return null;
  }
}

/** Page-size granularity of RSS and tick granularity of CPU: say so next to derived figures. */
export const cpuResolutionMs = () => 1000 / clockTicksPerSecond();

let pinCached: boolean | null = null;
/** True when taskset exists and the machine has at least two cores to split. */
export function canPin(): boolean {
  if (pinCached === null) {
    pinCached = os.cpus().length >= 2 && ["/usr/bin/taskset", "/bin/taskset", "/usr/local/bin/taskset"].some((p) => existsSync(p));
  }
  return pinCached;
}

let niceness = 0;
/**
 * Scheduling priority for the server and generator (`nice -n N`, negative needs root): on a
 * machine shared with other work, -10 keeps the bench's two processes on their cores. 0 = as is.
 */
export function setNiceness(n: number): void {
  niceness = n;
}
export function getNiceness(): number {
  return niceness;
}

/** argv prefix that pins a command to one core (and sets its niceness), or [] when neither applies. */
export function pinPrefix(core: number): string[] {
  return [...(niceness !== 0 ? ["nice", "-n", String(niceness)] : []), ...(canPin() ? ["taskset", "-c", String(core)] : [])];
}

/** One line describing the machine, for result files and README figures. */
export function machineLine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.replace(/\s+/g, " ").trim() ?? "unknown cpu";
  return `${cpus.length} x ${model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}`;
}

/**
 * CPU pressure (PSI "some avg10"): % of the last 10 s in which some runnable task waited for a
 * core. Above ~20% other work on the machine competes with the bench: figures are noisy.
 */
export function cpuPressurePct(): number | null {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * CPU time per thread name of pid so far (ms, summed over threads of the same name): tells the
 * main thread from JIT compiler, GC helper and allocator threads. {} when /proc is not readable.
 */
export function readThreadCpuMs(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const k = 1000 / clockTicksPerSecond();
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const comm = tid === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out[comm] = (out[comm] ?? 0) + (Number(rest[11]) + Number(rest[12])) * k;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}
