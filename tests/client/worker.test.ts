// Worker against a real server process: results and events per job through batched pulls and
// acknowledgements, the concurrency bound, retries and the DLQ as a worker sees them, leases
// kept alive by heartbeats, and close() in the middle of work losing no job.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { JobFailedError, Queue, Worker, type Job } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

// Each test is bounded by its own waits; this only keeps a slow, shared machine from cutting
// a test short (bun kills the server child of a test that times out).
setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const sleep = Bun.sleep;

function queue(): Queue {
  return new Queue(`w-${++n}`, { connection: { port: server.port } });
}


describe("Worker", () => {
  test("a processor sees the name the producer gave (add and addBulk), and getJob returns it", async () => {
    const q = queue();
    const one = await q.add("send-email", { i: 1 });
    await q.addBulk([{ name: "resize", data: { i: 2 } }, { name: "resize", data: { i: 3 } }]);
    expect((await q.getJob(one.id!))?.name).toBe("send-email");
    const names: string[] = [];
    const worker = new Worker(q.name, async (job) => void names.push(job.name), { connection: { port: server.port } });
    try {
      await until(() => names.length === 3, "three jobs processed");
      expect(names.sort()).toEqual(["resize", "resize", "send-email"]);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("runs every job once; results, progress and logs reach the server and the events", async () => {
    const q = queue();
    const completed = new Map<string, unknown>();
    const progress: [string, number][] = [];
    let drained = 0;
    const total = 300;
    const worker = new Worker(
      q.name,
      async (job: Job<{ i: number }>) => {
        if (job.data.i % 3 === 0) {
          await job.updateProgress(50);
          await job.log(`half of ${job.data.i}`);
        }
        // Some jobs return nothing (confirmed by ACKB), some a result (confirmed by ACK).
        return job.data.i % 2 === 0 ? undefined : { double: job.data.i * 2 };
      },
      { connection: { port: server.port }, concurrency: 16, drainDelay: 0.2 },
    );
    const errors: Error[] = [];
    worker.on("error", (e) => errors.push(e));
    worker.on("completed", (job, result) => {
      expect(completed.has(job.id)).toBe(false);
      completed.set(job.id, result);
    });
    worker.on("progress", (job, p) => progress.push([job.id, p as number]));
    worker.on("drained", () => drained++);
    try {
      const jobs = await q.addBulk(Array.from({ length: total }, (_, i) => ({ name: "j", data: { i } })));
      await until(() => completed.size === total, "all jobs completed");
      await until(() => drained > 0, "drained");
      expect(errors).toEqual([]);
      for (const [i, job] of jobs.entries()) {
        expect(completed.get(job.id)).toEqual(i % 2 === 0 ? undefined : { double: i * 2 });
      }
      expect(progress.length).toBe(total / 3);
      expect(progress.every(([, p]) => p === 50)).toBe(true);
      expect(await q.getJobCounts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: total, failed: 0 });

      // The server kept what the worker sent: result (ACK), progress, log lines.
      const j3 = jobs[3]!;
      expect(await j3.waitUntilFinished()).toEqual({ double: 6 });
      const back = (await q.getJob(j3.id))!;
      expect(back.progress).toBe(50);
      expect((await back.getLogs()).map((l) => l.message)).toEqual(["half of 3"]);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("never runs more than `concurrency` jobs at once, and does use that many", async () => {
    const q = queue();
    const concurrency = 5;
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    const worker = new Worker(
      q.name,
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(5);
        running--;
        done++;
      },
      { connection: { port: server.port }, concurrency, drainDelay: 0.2 },
    );
    try {
      await q.addBulk(Array.from({ length: 60 }, (_, i) => ({ name: "c", data: i })));
      await until(() => done === 60, "60 jobs done");
      expect(maxRunning).toBe(concurrency);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("concurrency 1 runs jobs one at a time in BullMQ's priority order: none first, then 1 before 10", async () => {
    const q = queue();
    await q.add("p10", "p10", { priority: 10 });
    await q.add("p1", "p1", { priority: 1 });
    await q.add("none-a", "none-a");
    await q.add("p5", "p5", { priority: 5 });
    await q.add("p1-later", "p1-later", { priority: 1 });
    await q.add("none-b", "none-b", { priority: 0 });
    await q.add("pmax", "pmax", { priority: 2 ** 21 - 1 });
    const order: string[] = [];
    const worker = new Worker(q.name, async (job) => void order.push(job.data), { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      await until(() => order.length === 7, "7 jobs");
      // Within one priority, first in first out.
      expect(order).toEqual(["none-a", "none-b", "p1", "p1-later", "p5", "p10", "pmax"]);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("a thrown error fails the attempt with its message; retries per options, then the DLQ", async () => {
    const q = queue();
    const attemptsSeen: number[] = [];
    const failed: { id: string; message: string; attemptsMade: number }[] = [];
    const worker = new Worker(
      q.name,
      async (job) => {
        attemptsSeen.push(job.attemptsMade);
        if (job.data === "flaky" && job.attemptsMade >= 1) return "recovered";
        throw new Error(`boom ${job.data}`);
      },
      { connection: { port: server.port }, concurrency: 2, drainDelay: 0.2 },
    );
    worker.on("failed", (job, err) => failed.push({ id: job!.id, message: (err as Error).message, attemptsMade: job!.attemptsMade }));
    const completed: unknown[] = [];
    worker.on("completed", (_job, result) => completed.push(result));
    try {
      const doomed = await q.add("x", "doomed", { attempts: 3, backoff: { type: "fixed", delay: 20 } });
      const flaky = await q.add("x", "flaky", { attempts: 3, backoff: 10 });
      await until(async () => (await q.getJobState(doomed.id)) === "failed", "doomed job in the DLQ");
      await until(() => completed.length === 1, "flaky job completed");

      expect(completed).toEqual(["recovered"]);
      expect(failed.filter((f) => f.id === doomed.id).map((f) => f.message)).toEqual(["boom doomed", "boom doomed", "boom doomed"]);
      expect(failed.filter((f) => f.id === doomed.id).map((f) => f.attemptsMade)).toEqual([1, 2, 3]);
      expect(failed.filter((f) => f.id === flaky.id).length).toBe(1);

      const dlq = await q.getFailed();
      expect(dlq.map((j) => j.id)).toEqual([doomed.id]);
      const waited = await doomed.waitUntilFinished().catch((e: unknown) => e);
      expect(waited).toBeInstanceOf(JobFailedError);
      expect((waited as Error).message).toMatch(/boom doomed/);
      expect(await q.getJobCounts()).toMatchObject({ failed: 1, completed: 1, waiting: 0, active: 0 });

      // retryJobs puts it back; the worker runs it again (and it fails again, 3 more times).
      expect(await q.retryJobs()).toBe(1);
      await until(() => failed.filter((f) => f.id === doomed.id).length === 6, "three more failed attempts");
      await until(async () => (await q.getJobState(doomed.id)) === "failed", "back in the DLQ");
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("a non-Error throw and a synchronous throw still fail the job with a message", async () => {
    const q = queue();
    const messages: string[] = [];
    const worker = new Worker(
      q.name,
      (job) => {
        if (job.data === "sync") throw new Error("sync throw");
        return Promise.reject("plain string");
      },
      { connection: { port: server.port }, concurrency: 2, drainDelay: 0.2 },
    );
    worker.on("failed", (_job, err) => messages.push((err as Error).message));
    try {
      await q.add("a", "sync", { attempts: 1 });
      await q.add("b", "async", { attempts: 1 });
      await until(() => messages.length === 2, "two failures");
      expect(messages.sort()).toEqual(["plain string", "sync throw"]);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("HEARTBEAT keeps the lease of a job that runs longer than its stall timeout", async () => {
    const q = queue();
    // Renewed every 200 ms: the lease survives the event loop stalling for up to ~400 ms.
    const stallTimeout = 600;
    // Control: a job pulled and left alone is re-queued once its lease expires (a stall).
    const control = await q.add("c", "control", { stallTimeout });
    const pulled = await q.connection.request("PULLB", { queue: q.name, count: 1, timeout: 0 });
    expect(pulled.jobs[0].id).toBe(Number(control.id));
    await until(async () => (await q.getJob(control.id))!.state === "waiting", "control job stalled back to waiting");
    await q.drain();

    let runs = 0;
    const job = await q.add("long", "long", { stallTimeout });
    const worker = new Worker(
      q.name,
      async () => {
        runs++;
        await sleep(stallTimeout * 3);
        return "done";
      },
      { connection: { port: server.port }, drainDelay: 0.2 },
    );
    try {
      expect(await job.waitUntilFinished()).toBe("done");
      expect(runs).toBe(1);
      const back = (await q.getJob(job.id))!;
      expect(back.attemptsMade).toBe(0);
      const wire = await q.connection.request("GETJOB", { id: Number(job.id) });
      expect(wire.job.stall_count).toBe(0);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("a job whose lease moved on is not completed by its old worker (ACK with lock token, not ACKB)", async () => {
    const q = queue();
    const stallTimeout = 600;
    let releaseA!: () => void;
    let releaseB!: () => void;
    let startedA = 0;
    let startedB = 0;
    const mk = (onStart: () => void, gate: Promise<void>, result: unknown) =>
      new Worker(q.name, async () => { onStart(); await gate; return result; }, { connection: { port: server.port }, drainDelay: 0.2 });
    const workerA = mk(() => startedA++, new Promise<void>((r) => (releaseA = r)), undefined);
    const errorsA: Error[] = [];
    const completedA: string[] = [];
    workerA.on("error", (e) => errorsA.push(e));
    workerA.on("completed", (job) => completedA.push(job.id));
    let workerB: Worker | null = null;
    try {
      const job = await q.add("j", "x", { stallTimeout });
      await until(() => startedA === 1, "worker A runs the job");
      await sleep(stallTimeout); // long enough for A to renew the lease at least once
      // The job is taken from A (as an expired lease would) and handed to worker B.
      const wire = await q.connection.request("GETJOB", { id: Number(job.id) });
      await q.connection.request("MOVETODELAYED", { id: Number(job.id), delay: 0, lock_token: wire.job.lock_token });
      workerB = mk(() => startedB++, new Promise<void>((r) => (releaseB = r)), "from B");
      await until(() => startedB === 1, "worker B runs the job");
      releaseA();
      // A learns it lost the job one of two ways, depending on which comes first: its next
      // HEARTBEAT is refused ("lease not renewed": STALE_LOCK once B holds the job,
      // INVALID_STATE while it is between the two; the outcome is then dropped, never sent), or
      // its ACK is refused (STALE_LOCK, "result not confirmed"). Either way it must not
      // complete the job.
      const refused = (e: Error) =>
        ["STALE_LOCK", "INVALID_STATE"].includes((e as { code?: string }).code ?? "") &&
        (e.message.includes(`job ${job.id}: lease not renewed`) || e.message.includes(`job ${job.id}: result not confirmed`));
      await until(() => errorsA.some(refused), "A told that the job is no longer its");
      expect(completedA).toEqual([]);
      expect(await q.getJobState(job.id)).toBe("active");
      releaseB();
      expect(await job.waitUntilFinished()).toBe("from B");
    } finally {
      releaseA?.();
      releaseB?.();
      await workerA.close();
      await workerB?.close();
      await q.close();
    }
  });

  test("close() during work: every job ends completed exactly once or back in the queue", async () => {
    const q = queue();
    const total = 400;
    const completions = new Map<string, number>();
    let started = 0;
    const worker = new Worker(
      q.name,
      async (job) => {
        started++;
        await sleep(2 + (Number(job.id) % 7));
        return job.data;
      },
      { connection: { port: server.port }, concurrency: 20, drainDelay: 0.2 },
    );
    worker.on("completed", (job) => completions.set(job.id, (completions.get(job.id) ?? 0) + 1));
    try {
      await q.addBulk(Array.from({ length: total }, (_, i) => ({ name: "c", data: i })));
      await until(() => started >= 60, "some jobs started");
      await worker.close();
      const finishedAtClose = completions.size;
      expect(finishedAtClose).toBeGreaterThan(0);
      expect(finishedAtClose).toBeLessThan(total);
      expect([...completions.values()].every((c) => c === 1)).toBe(true);
      // Every job the worker started was confirmed before close() resolved.
      expect(finishedAtClose).toBe(started);
      const counts = await q.getJobCounts();
      expect(counts).toMatchObject({ active: 0, failed: 0, completed: finishedAtClose, waiting: total - finishedAtClose });

      // A second worker takes the rest; nothing is lost or run twice.
      const worker2 = new Worker(q.name, async (job) => job.data, { connection: { port: server.port }, concurrency: 50, drainDelay: 0.2 });
      worker2.on("completed", (job) => completions.set(job.id, (completions.get(job.id) ?? 0) + 1));
      await until(() => completions.size === total, "the rest completed");
      await worker2.close();
      expect([...completions.values()].every((c) => c === 1)).toBe(true);
      expect(await q.getJobCounts()).toMatchObject({ completed: total, waiting: 0, active: 0 });
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("close(true) returns the jobs still running to the queue at once", async () => {
    const q = queue();
    let started = 0;
    const release: (() => void)[] = [];
    const worker = new Worker(
      q.name,
      () =>
        new Promise<void>((resolve) => {
          started++;
          release.push(resolve);
        }),
      { connection: { port: server.port }, concurrency: 4, drainDelay: 0.2 },
    );
    try {
      await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ name: "h", data: i })));
      await until(() => started === 4, "4 jobs running");
      await worker.close(true);
      // Without waiting for a lease (30 s by default): the four are waiting again.
      await until(async () => (await q.getJobCounts()).waiting === 10, "all 10 waiting", 5_000);
      expect((await q.getJobCounts()).active).toBe(0);
      // A processor finishing after close(true) confirms nothing and does not throw.
      for (const r of release) r();
      await sleep(20);
      expect((await q.getJobCounts()).completed).toBe(0);
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("pause() stops taking jobs after the running ones; resume() continues", async () => {
    const q = queue();
    let done = 0;
    const worker = new Worker(q.name, async () => void done++, { connection: { port: server.port }, concurrency: 2, drainDelay: 0.2 });
    const events: string[] = [];
    worker.on("paused", () => events.push("paused"));
    worker.on("resumed", () => events.push("resumed"));
    try {
      await q.add("a", 1);
      await until(() => done === 1, "first job");
      await worker.pause();
      expect(events).toEqual(["paused"]);
      expect(worker.isPaused()).toBe(true);
      await q.add("b", 2);
      await sleep(300);
      expect(done).toBe(1);
      expect((await q.getJobCounts()).waiting).toBe(1);
      worker.resume();
      await until(() => done === 2, "second job after resume");
      expect(events).toEqual(["paused", "resumed"]);
    } finally {
      await worker.close();
      await q.close();
    }
  });
});
