// The client's connection against real server processes: clear errors for a refused
// connection and refused authentication, pipelining (a parked pull does not hold up later
// commands), and reconnecting after a server restart with a Worker that carries on.

import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AuthError, Connection, ConnectionError, Queue, Worker } from "../../src/client/index.ts";
import { freePort, startServer, until, type TestServer } from "./server.ts";

setDefaultTimeout(20_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startServer(env);
  cleanups.push(() => s.stop());
  return s;
}

describe("connection errors", () => {
  test("connection refused: every call rejects at once with the address, and the next call tries again", async () => {
    const port = await freePort();
    const q = new Queue("nobody", { connection: { port } });
    cleanups.push(() => q.close());
    const err = await q.add("x", 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe("CONNECTION");
    expect((err as Error).message).toMatch(new RegExp(`^PUSH: cannot connect to ringq at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    // Not a sticky failure: once a server listens there, the same Queue works.
    const s = await startServer({}, port);
    cleanups.push(() => s.stop());
    const job = await q.add("x", 1);
    expect(job.id).toMatch(/^\d+$/);
  });

  test("a Worker pointed at nothing reports the refusal on 'error' and keeps trying without spinning", async () => {
    const port = await freePort();
    const errors: Error[] = [];
    const worker = new Worker("nobody", async () => {}, { connection: { port } });
    cleanups.push(() => worker.close());
    worker.on("error", (e) => errors.push(e));
    await until(() => errors.length > 0, "the first error");
    expect(errors[0]!.message).toMatch(/cannot connect to ringq at 127\.0\.0\.1:\d+/);
    // Back-off: the retry delay doubles from 50 ms, so 400 ms allow a handful of attempts
    // (two pulls fail per attempt); a worker that spun would report hundreds.
    const before = errors.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(errors.length - before).toBeLessThan(20);
  });

  test("auth: a wrong token is an AuthError naming the refusal; no token is AUTH_REQUIRED; the right one works", async () => {
    const s = await server({ AUTH_TOKENS: "s3cret,other" });
    const wrong = new Queue("a", { connection: { port: s.port, token: "nope" } });
    cleanups.push(() => wrong.close());
    const e1 = await wrong.add("x", 1).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(AuthError);
    expect((e1 as Error).message).toMatch(/authentication to ringq at 127\.0\.0\.1:\d+ failed/);
    // Sticky: later calls fail the same way without hammering the server.
    const e1b = await wrong.getJobCounts().catch((e: unknown) => e);
    expect(e1b).toBeInstanceOf(AuthError);

    const none = new Queue("a", { connection: { port: s.port } });
    cleanups.push(() => none.close());
    const e2 = await none.add("x", 1).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(AuthError);
    expect((e2 as AuthError).code).toBe("AUTH_REQUIRED");
    expect((e2 as Error).message).toMatch(/^PUSH: Authentication required/);

    const right = new Queue("a", { connection: { port: s.port, token: "s3cret" } });
    cleanups.push(() => right.close());
    await right.add("x", 1);
    expect((await right.getJobCounts()).waiting).toBe(1);
  });
});

describe("pipelining", () => {
  test("requests carry reqIds: a parked pull does not hold up later commands on the same connection", async () => {
    const s = await server();
    const conn = new Connection({ port: s.port });
    cleanups.push(() => conn.close());
    const pull = conn.request("PULL", { queue: "pipe", timeout: 5000 }, 5000);
    // Issued after the pull, answered before it: the pull is still parked on the server.
    const pushes = await Promise.all(Array.from({ length: 50 }, (_, i) => conn.request("PUSH", { queue: "other", data: i })));
    expect(pushes.map((r) => typeof r.id)).toEqual(Array(50).fill("number"));
    const counts = await conn.request("GETJOBCOUNTS", { queue: "other" });
    expect(counts.waiting).toBe(50);
    // Now give the pull its job.
    const pushed = await conn.request("PUSH", { queue: "pipe", data: "for the pull" });
    const pulled = await pull;
    expect(pulled.job.id).toBe(pushed.id);
    expect(pulled.job.data).toBe("for the pull");
  });
});

describe("reconnect", () => {
  test("after a server restart the same Queue and Worker carry on; nothing acknowledged is lost", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ringq-client-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const s = await server({ DATA_PATH: path.join(dir, "data.db") });
    const q = new Queue("restart", { connection: { port: s.port } });
    cleanups.push(() => q.close());
    const done = new Map<string, number>();
    const worker = new Worker("restart", async (job) => job.data, { connection: { port: s.port }, concurrency: 4, drainDelay: 0.2 });
    cleanups.push(() => worker.close());
    const errors: Error[] = [];
    worker.on("error", (e) => errors.push(e));
    worker.on("completed", (job) => done.set(job.id, (done.get(job.id) ?? 0) + 1));
    const reconnecting: number[] = [];
    q.connection.on("reconnecting", (delayMs: number) => reconnecting.push(delayMs));

    const first = await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: "a", data: i })));
    await until(() => done.size === 20, "first 20 done");

    await s.restart();
    // The Queue reconnects on its own; a request issued while it does so waits for it.
    const second = await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ name: "b", data: 100 + i })));
    expect(reconnecting.length).toBeGreaterThan(0);
    await until(() => done.size === 40, "second 20 done by the same worker");
    expect([...done.values()].every((c) => c === 1)).toBe(true);
    expect(new Set([...first, ...second].map((j) => j.id)).size).toBe(40);
    // The worker said what happened (connection lost) rather than failing silently.
    expect(errors.some((e) => /connection to ringq at .* lost/.test(e.message))).toBe(true);
    // Ids survive the restart and are not reused; the completed records are still there.
    expect(Math.min(...second.map((j) => Number(j.id)))).toBeGreaterThan(Math.max(...first.map((j) => Number(j.id))));
    expect(await q.getJobCounts()).toMatchObject({ completed: 40, waiting: 0, active: 0 });
  });

  test("a server restart in the middle of work loses no job: every one ends completed (at least once)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ringq-client-"));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const s = await server({ DATA_PATH: path.join(dir, "data.db") });
    const q = new Queue("midway", { connection: { port: s.port } });
    cleanups.push(() => q.close());
    const total = 300;
    const ran = new Map<string, number>();
    const worker = new Worker(
      "midway",
      async (job) => {
        await new Promise((r) => setTimeout(r, 3));
        return job.data;
      },
      { connection: { port: s.port }, concurrency: 10, drainDelay: 0.2 },
    );
    cleanups.push(() => worker.close());
    worker.on("error", () => {}); // lost replies and refused confirmations are expected here
    worker.on("completed", (job) => ran.set(job.id, (ran.get(job.id) ?? 0) + 1));
    const jobs = await q.addBulk(Array.from({ length: total }, (_, i) => ({ name: "m", data: i })));
    await until(() => ran.size >= 60, "some jobs done before the restart");
    await s.restart(); // SIGTERM: jobs active at that moment are waiting again after recovery
    expect(ran.size).toBeLessThan(total); // the restart really came in the middle of the work
    await until(async () => (await q.getJobCounts().catch(() => ({ completed: -1 }))).completed === total, "all jobs completed on the server", 15_000);
    // The server's record is the truth: a job whose confirmation was lost in the restart ran
    // again after recovery (at least once); none is missing, none failed.
    const ids = await q.getJobs("completed", 0, total - 1);
    expect(new Set(ids.map((j) => j.id))).toEqual(new Set(jobs.map((j) => j.id)));
    const counts = await q.getJobCounts();
    expect(counts).toMatchObject({ completed: total, waiting: 0, active: 0, failed: 0 });
  });

  test("a request in flight when the server dies fails with a ConnectionError that says it may have taken effect", async () => {
    const s = await server();
    const conn = new Connection({ port: s.port, offlineWaitMs: 500 });
    cleanups.push(() => conn.close());
    await conn.waitUntilReady();
    const pull = conn.request("PULL", { queue: "dies", timeout: 10_000 }, 10_000).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await s.stop("SIGKILL");
    const err = await pull;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/^PULL: connection to ringq at .* lost before the reply .*may or may not have taken effect/);
    // While it is down, a new request waits offlineWaitMs for the server, then fails clearly.
    const late = await conn.request("PING", {}).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ConnectionError);
    expect((late as Error).message).toMatch(/^PING: not connected to ringq at .* for 500 ms/);
  });
});
