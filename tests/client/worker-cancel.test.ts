// The processor's AbortSignal and how a job stops being the worker's, against a real server:
// cancelled on the server (learned from the `removed` event, or from a HEARTBEAT on a shared
// connection), cancelled in this process (cancelJob: the processor's error fails the attempt),
// its lease lost, the worker force-closed. Also what a processor's errors send: the stack, and
// UnrecoverableError failing the job with attempts left; WaitingChildrenError refused.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Connection, ClosedError, Queue, RingqError, UnrecoverableError, WaitingChildrenError, Worker, type Job } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;

function queue(): Queue {
  return new Queue(`wc-${++n}`, { connection: { port: server.port } });
}

/** Resolves with the signal's reason once it fires. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}


describe("Worker: the processor's AbortSignal", () => {
  test("a job cancelled on the server: the signal fires at once, nothing is confirmed or reported", async () => {
    const q = queue();
    const reasons: unknown[] = [];
    const events: string[] = [];
    const worker = new Worker(q.name, async (job, _token, signal) => {
      if (job.data === "long") reasons.push(await aborted(signal!));
      return "done";
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    worker.on("completed", (job) => events.push(`completed ${job.data}`));
    worker.on("failed", (job) => events.push(`failed ${job.data}`));
    worker.on("error", (err) => events.push(`error ${err.message}`));
    try {
      const long = await q.add("x", "long");
      await until(async () => (await long.getState()) === "active", "job active");
      const cancelledAt = Date.now();
      await long.remove();
      await until(() => reasons.length === 1, "signal fired");
      // The `removed` event, not a heartbeat (those come every 10 s for the default lease).
      expect(Date.now() - cancelledAt).toBeLessThan(5_000);
      expect(reasons[0]).toBeInstanceOf(RingqError);
      expect((reasons[0] as RingqError).code).toBe("JOB_CANCELLED");
      expect((reasons[0] as RingqError).message).toContain(`job ${long.id}`);
      // The worker goes on with the next job; the cancelled one left no trace.
      const next = await q.add("x", "next");
      expect(await next.waitUntilFinished(undefined, 5000)).toBe("done");
      // The worker's event follows the ACK's reply, which may come after WAITJOB's.
      await until(() => events.length > 0, "the next job's event");
      expect(events).toEqual(["completed next"]);
      expect(await q.getJob(long.id)).toBeNull();
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("on a shared connection (no event subscription) the next HEARTBEAT tells the worker", async () => {
    const conn = new Connection({ port: server.port });
    const q = new Queue(`wc-${++n}`, { connection: conn });
    const reasons: unknown[] = [];
    const worker = new Worker(q.name, async (_job, _token, signal) => {
      reasons.push(await aborted(signal!));
    }, { connection: conn, drainDelay: 0.2, lockRenewTime: 200 });
    try {
      const job = await q.add("x", 1);
      await until(async () => (await job.getState()) === "active", "job active");
      await job.remove();
      await until(() => reasons.length === 1, "signal fired after a heartbeat");
      expect((reasons[0] as RingqError).code).toBe("JOB_CANCELLED");
    } finally {
      await worker.close();
      await conn.close();
    }
  });

  test("cancelJob aborts with the reason; the processor's error then fails the attempt (retried; none with UnrecoverableError)", async () => {
    const q = queue();
    const seen: unknown[] = [];
    let runs = 0;
    const worker = new Worker(q.name, async (job, _token, signal) => {
      runs++;
      const reason = await aborted(signal!);
      seen.push(reason);
      if (job.data === "fatal") throw new UnrecoverableError(`cancelled: ${reason}`);
      throw new Error(`cancelled: ${reason}`);
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      expect(worker.cancelJob("999999", "nobody")).toBe(false);
      const retried = await q.add("x", "retry", { attempts: 2 });
      await until(async () => (await retried.getState()) === "active", "job active");
      expect(worker.cancelJob(retried.id, "user asked")).toBe(true);
      expect(worker.cancelJob(retried.id, "twice")).toBe(false);
      // Its first attempt failed and it runs again (attempts: 2): cancel that run as well.
      await until(async () => runs === 2 && (await retried.getState()) === "active", "second attempt");
      worker.cancelAllJobs("shutting down");
      await until(async () => (await retried.getState()) === "failed", "job failed");
      expect(seen).toEqual(["user asked", "shutting down"]);
      const failed = await q.getJob(retried.id);
      expect(failed!.failedReason).toBe("cancelled: shutting down");
      expect(failed!.attemptsMade).toBe(2);

      const fatal = await q.add("x", "fatal", { attempts: 5 });
      await until(async () => (await fatal.getState()) === "active", "fatal active");
      worker.cancelJob(fatal.id);
      await until(async () => (await fatal.getState()) === "failed", "fatal failed");
      const f = await q.getJob(fatal.id);
      // No retry though four attempts were left; no reason given: the signal's default AbortError.
      expect(f!.attemptsMade).toBe(1);
      expect(runs).toBe(3);
      expect((seen[2] as Error).name).toBe("AbortError");
      expect(f!.failedReason).toStartWith("cancelled: ");
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("a lost lease fires the signal and the late result is not confirmed", async () => {
    const q = queue();
    const reasons: unknown[] = [];
    const errors: RingqError[] = [];
    let runs = 0;
    // The lease (300 ms) runs out long before the worker renews it (every 1 s).
    const worker = new Worker(q.name, async (_job, _token, signal) => {
      if (++runs > 1) return "fast";
      reasons.push(await aborted(signal!));
      return "late";
    }, { connection: { port: server.port }, drainDelay: 0.2, lockRenewTime: 1000, concurrency: 1 });
    worker.on("error", (e) => errors.push(e as RingqError));
    try {
      const job = await q.add("x", "slow", { stallTimeout: 300 });
      await until(() => reasons.length === 1, "signal fired for the lost lease", 10_000);
      expect((reasons[0] as RingqError).code).toBe("LEASE_LOST");
      expect(errors.some((e) => e.command === "HEARTBEAT" && e.message.includes(`job ${job.id}`))).toBe(true);
      // Stalled back to waiting, then run again by this worker once the slot was free.
      expect(await job.waitUntilFinished(undefined, 5000)).toBe("fast");
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("close(true) fires the signal of every running job, which goes back to the queue", async () => {
    const q = queue();
    const reasons: unknown[] = [];
    const worker = new Worker(q.name, async (_job, _token, signal) => {
      reasons.push(await aborted(signal!));
    }, { connection: { port: server.port }, drainDelay: 0.2, concurrency: 2 });
    try {
      const a = await q.add("x", 1);
      const b = await q.add("x", 2);
      await until(async () => (await q.getActiveCount()) === 2, "two jobs active");
      await worker.close(true);
      expect(reasons.length).toBe(2);
      for (const r of reasons) expect(r).toBeInstanceOf(ClosedError);
      expect(await a.getState()).not.toBe("active");
      expect(["waiting", "delayed"]).toContain(await b.getState());
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("a processor declaring fewer than 3 parameters gets no signal unless asked; cancelJob then says why", async () => {
    const q = queue();
    let got: unknown = "unset";
    const plain = new Worker(q.name, async (..._args: unknown[]) => {
      got = _args[2];
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const job = await q.add("x", 1);
      await job.waitUntilFinished(undefined, 5000);
      expect(got).toBeUndefined();
      expect(() => plain.cancelJob(job.id)).toThrow(/takes no AbortSignal.*signal: true/);
    } finally {
      await plain.close();
    }
    const asked = new Worker(q.name, async (..._args: unknown[]) => {
      got = _args[2];
    }, { connection: { port: server.port }, drainDelay: 0.2, signal: true });
    try {
      const job = await q.add("x", 2);
      await job.waitUntilFinished(undefined, 5000);
      expect(got).toBeInstanceOf(AbortSignal);
      expect((got as AbortSignal).aborted).toBe(false);
    } finally {
      await asked.close();
      await q.close();
    }
  });
});

describe("Worker: what a processor's error sends", () => {
  test("the stack trace reaches the job; UnrecoverableError fails it with attempts left", async () => {
    const q = queue();
    const worker = new Worker(q.name, async (job: Job) => {
      if (job.data === "fatal") throw new UnrecoverableError("bad input");
      throw new TypeError("flaky");
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const fatal = await q.add("x", "fatal", { attempts: 3 });
      const flaky = await q.add("x", "flaky", { attempts: 2 });
      await until(async () => (await fatal.getState()) === "failed" && (await flaky.getState()) === "failed", "both failed");
      const [f, g] = [await q.getJob(fatal.id), await q.getJob(flaky.id)];
      expect(f!.attemptsMade).toBe(1);
      expect(f!.failedReason).toBe("bad input");
      expect(f!.stacktrace.length).toBe(1);
      expect(f!.stacktrace[0]).toStartWith("UnrecoverableError: bad input");
      expect(g!.attemptsMade).toBe(2);
      expect(g!.stacktrace.length).toBe(2);
      expect(g!.stacktrace[1]).toStartWith("TypeError: flaky");
      expect(g!.stacktrace[1]).toContain("worker-cancel.test.ts");
    } finally {
      await worker.close();
      await q.close();
    }
  });

  test("WaitingChildrenError is refused when made: the job fails saying why instead of staying active", async () => {
    expect(() => new WaitingChildrenError()).toThrow(/cannot be moved to waiting-children.*FlowProducer/);
    const q = queue();
    const worker = new Worker(q.name, async () => {
      throw new WaitingChildrenError();
    }, { connection: { port: server.port }, drainDelay: 0.2 });
    try {
      const job = await q.add("x", 1);
      await until(async () => (await job.getState()) === "failed", "job failed");
      expect((await q.getJob(job.id))!.failedReason).toContain("waiting-children");
    } finally {
      await worker.close();
      await q.close();
    }
  });
});
