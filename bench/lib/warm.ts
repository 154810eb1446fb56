// Untimed warm passes on a measured server (--warm=N of run.ts and scale.ts): a fresh server's
// first seconds are mostly Bun's JIT compiling on the server's own core (bench/README.md, ninth
// pass), so a figure taken then says more about the compiler than about ringq. Each pass runs
// the given loads against a queue of its own, removes that queue again, and after the last pass
// the server idles so the collector frees what the passes left. It decides nothing about what
// is measured afterwards.

import type { LoadOptions, LoadResult } from "../loadgen.ts";
import { sleep, textRequest } from "./gen.ts";

/** Most untimed passes a measurement may be given: each costs about one measured run. */
export const warmPassesMax = 10;
/** Jobs a warm pass of a push scenario sends. Bounded by count, not time: seconds of pushes
 *  leave millions of jobs, whose removal and freed memory the measured window would pay for. */
export const warmPushJobs = 300_000;
/** OBLITERATE of a warm pass's queue (a few million jobs at most) runs in steps: bounded wait. */
const warmCleanupMsMax = 60_000;
/** Idle time after the warm passes, before the measured run. */
const warmSettleMs = 2_000;

export type Load = Partial<LoadOptions> & { scenario: LoadOptions["scenario"] };

/** Checks a --warm value (an integer from 0 to warmPassesMax) before anything starts. */
export function warmPasses(raw: string): number {
  const n = Number(raw);
  if (raw === "" || !Number.isInteger(n) || n < 0 || n > warmPassesMax) throw new Error(`--warm must be an integer from 0 to ${warmPassesMax}`);
  return n;
}

/**
 * Runs `passes` untimed passes of `loads` on the server at port/pid, through `run` (a generator
 * process, or the bench's own in-process load). Pass i uses the queue `<label>-warm<i>` for every
 * load, then obliterates it; a pass with errors or a failed OBLITERATE stops the bench.
 */
export async function warmServer(
  port: number,
  pid: number,
  loads: Load[],
  passes: number,
  label: string,
  run: (load: Load & { port: number; serverPid: number }) => Promise<LoadResult>,
): Promise<void> {
  for (let i = 0; i < passes; i++) {
    const queue = `${label}-warm${i}`;
    for (const load of loads) {
      const accumulates = load.scenario === "push" || load.scenario === "pushb" || load.scenario === "conns";
      const w = await run({ ...load, ...(accumulates ? { count: warmPushJobs } : {}), port, serverPid: pid, queue, queues: 1 });
      if (w.errors > 0) throw new Error(`warm pass ${i + 1} of ${label}: ${w.errors} errors (${w.firstError ?? "?"})`);
    }
    const gone = await textRequest(port, { cmd: "OBLITERATE", queue }, warmCleanupMsMax);
    if (gone.ok !== true) throw new Error(`warm pass ${i + 1} of ${label}: OBLITERATE ${queue} failed: ${JSON.stringify(gone)}`);
  }
  if (passes > 0) await sleep(warmSettleMs);
}
