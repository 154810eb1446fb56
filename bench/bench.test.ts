// Keeps the bench from rotting: the generator's hand-built frames decode to what they claim,
// the statistics and the SVG writer give sane output, and one tiny load run against a real
// server finishes without errors. No timing is asserted anywhere (figures belong to the bench).

import { describe, expect, test } from "bun:test";
import { unpack } from "msgpackr";
import { AckBatchFrame, jobData, pullBatchFrame, pushBatchFrame, pushFrame, runLoad } from "./loadgen.ts";
import { percentileSorted, summarizeLatency, median } from "./lib/stats.ts";
import { renderChart } from "./lib/svg.ts";
import { startServer } from "./lib/server.ts";

const body = (frame: Uint8Array) => {
  const len = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
  expect(len).toBe(frame.length - 4);
  return unpack(frame.subarray(4)) as Record<string, unknown>;
};

describe("load generator frames", () => {
  test("job data has the asked size and ends with a patchable float64 t", () => {
    const d = jobData(100);
    expect(d.length).toBe(100);
    const v = unpack(d) as { p: string; t: number };
    expect(v.t).toBe(0);
    new DataView(d.buffer).setFloat64(d.length - 8, 1234.5);
    expect((unpack(d) as { t: number }).t).toBe(1234.5);
  });

  test("PUSH ends with the data's t, so the latency stamp can be patched in the frame", () => {
    const f = pushFrame("q", jobData(100));
    expect(body(f)).toMatchObject({ cmd: "PUSH", queue: "q" });
    new DataView(f.buffer).setFloat64(f.length - 8, 42);
    expect((body(f).data as { t: number }).t).toBe(42);
  });

  test("PUSHB, PULLB and the in-place ACKB decode to their commands", () => {
    expect((body(pushBatchFrame("q", jobData(100), 3)).jobs as unknown[]).length).toBe(3);
    expect(body(pullBatchFrame("q", 100, 0))).toEqual({ cmd: "PULLB", queue: "q", count: 100, timeout: 0 });
    const ack = new AckBatchFrame(4);
    expect(body(ack.fill([1, 2, 3], 3))).toEqual({ cmd: "ACKB", ids: [1, 2, 3] });
    expect(body(ack.fill([70000], 1))).toEqual({ cmd: "ACKB", ids: [70000] });
  });
});

describe("stats and chart", () => {
  test("median and nearest-rank percentiles", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const s = Float64Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(summarizeLatency(s, 1000)).toMatchObject({ n: 1000, p50: 500, p99: 990, p999: 999, max: 1000 });
    expect(percentileSorted([], 50)).toBeNaN();
  });

  test("the SVG has a bar per measured value and n/a with the reason otherwise", () => {
    const svg = renderChart({
      title: "t <&>",
      subtitle: "s",
      rows: [
        { title: "PUSH", better: "higher", target: { value: 300, label: ">= 300" }, bars: [{ series: "bun", value: 200, label: "200" }, { series: "io_uring", value: null, label: "n/a", reason: "shim not built" }] },
      ],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("t &lt;&amp;&gt;");
    expect(svg).toContain("n/a (shim not built)");
    expect(svg.match(/height="16" fill=/g)?.length).toBe(1);
  });
});

test("a tiny closed-loop run against a real server completes without errors", async () => {
  const server = await startServer({ io: "bun" });
  try {
    const r = await runLoad({ scenario: "push", port: server.port, serverPid: server.pid, connections: 2, depth: 8, warmupMs: 50, durationMs: 200 });
    expect(r.errors).toBe(0);
    expect(r.ops).toBeGreaterThan(0);
    expect(r.serverCpuMs).toBeDefined();
  } finally {
    await server.stop();
  }
}, 30_000);

/** Runs a bench entry point with one argument it must refuse before starting anything. */
const refuseWith = async (script: string, arg: string) => {
  const p = Bun.spawn([process.execPath, script, arg], { cwd: new URL("..", import.meta.url).pathname, stdout: "pipe", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  return { err: err.trim(), code };
};

describe("bench/run.ts arguments", () => {
  // Refused before any server starts: the run ends at once with the reason.
  const refuse = (arg: string) => refuseWith("bench/run.ts", arg);

  test("--warm takes a whole number of passes from 0 to 10", async () => {
    for (const bad of ["--warm=-1", "--warm=11", "--warm=1.5", "--warm=x"]) {
      const r = await refuse(bad);
      expect(r.code).toBe(1);
      expect(r.err).toBe("bench: --warm must be an integer from 0 to 10");
    }
  });

  test("an unknown argument is named", async () => {
    const r = await refuse("--wram=2");
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown argument '--wram=2'");
  });
});

describe("bench/backends.ts arguments", () => {
  test("--warm, --rounds and --counter are checked, and an unknown argument is named", async () => {
    let r = await refuseWith("bench/backends.ts", "--warm=11");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--warm must be an integer from 0 to 10");
    r = await refuseWith("bench/backends.ts", "--rounds=0");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--rounds must be a whole number of at least 1");
    r = await refuseWith("bench/backends.ts", "--counter=ptrace");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--counter must be perf or strace");
    r = await refuseWith("bench/backends.ts", "--wram=1");
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown argument '--wram=1'");
  });
});

describe("bench/scale.ts arguments", () => {
  const refuse = (arg: string) => refuseWith("bench/scale.ts", arg);

  test("--warm, --rounds, --io and --only are checked, and an unknown argument is named", async () => {
    for (const [arg, why] of [
      ["--warm=11", "scale: --warm must be an integer from 0 to 10"],
      ["--warm=-1", "scale: --warm must be an integer from 0 to 10"],
      ["--rounds=0", "scale: --rounds must be a whole number of at least 1"],
      ["--io=epoll", "scale: --io is uring or bun, not 'epoll'"],
      ["--only=jobs", "scale: --only is backlog or queues, not 'jobs'"],
    ] as const) {
      const r = await refuse(arg);
      expect(r.code).toBe(1);
      expect(r.err).toBe(why);
    }
    const r = await refuse("--quik");
    expect(r.code).toBe(1);
    expect(r.err).toContain("unknown argument '--quik'");
  });
});
