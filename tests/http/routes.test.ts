// Every resource route of src/http/routes.ts over a real HTTP socket: path and query parameters
// become request fields (converted by the command's schema), the body gives the rest, and the
// reply is the command's. A route without a case here fails the last test. Errors get the
// status of their code (status.ts) and name what was wrong.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { commandRoutes } from "../../src/http/routes.ts";
import { call, startHttp, type HttpServer } from "./helpers.ts";

let s: HttpServer;
beforeAll(async () => {
  s = await startHttp();
});
afterAll(async () => {
  await s.stop();
});

const covered = new Set<string>();
async function hit(method: string, path: string, route: string, body?: unknown) {
  covered.add(`${method} ${route}`);
  return call(s.base, method, path, body);
}

describe("resource routes", () => {
  test("queues and jobs, end to end", async () => {
    const q = "routes-q";
    const pushed = await hit("POST", `/queues/${q}/jobs`, "/queues/:queue/jobs", { data: { to: "ada" }, priority: 5, job_id: "c-1" });
    expect(pushed.status).toBe(200);
    const a = pushed.body.id as number;
    const bulk = await hit("POST", `/queues/${q}/jobs/bulk`, "/queues/:queue/jobs/bulk", { jobs: [{ data: 2 }, { data: 3, delay: 60_000 }] });
    const [b, d] = bulk.body.ids as number[];
    expect(bulk.body.ids).toHaveLength(2);

    const counts = await hit("GET", `/queues/${q}/counts`, "/queues/:queue/counts");
    expect(counts.body).toMatchObject({ ok: true, waiting: 2, delayed: 1, active: 0 });
    const listed = await hit("GET", `/queues/${q}/jobs?state=waiting&limit=1`, "/queues/:queue/jobs");
    expect(listed.body.total).toBe(2);
    expect(listed.body.jobs.map((j: { id: number }) => j.id)).toEqual([a]);
    expect(listed.body.jobs[0].data).toEqual({ to: "ada" });
    const queues = await hit("GET", "/queues?limit=10", "/queues");
    expect(queues.body.queues.map((x: { name: string }) => x.name)).toContain(q);

    const one = await hit("GET", `/jobs/${a}`, "/jobs/:id");
    expect(one.body).toMatchObject({ ok: true, state: "waiting", job: { id: a, priority: 5, custom_id: "c-1" } });
    const missing = await call(s.base, "GET", "/jobs/987654");
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe("NOT_FOUND");
    const custom = await hit("GET", "/jobs/custom/c-1", "/jobs/custom/:job_id");
    expect(custom.body.job.id).toBe(a);
    expect((await call(s.base, "GET", "/jobs/custom/nope")).status).toBe(404);

    await hit("PUT", `/jobs/${a}/data`, "/jobs/:id/data", { data: { to: "grace" } });
    await hit("POST", `/jobs/${a}/priority`, "/jobs/:id/priority", { priority: 9 });
    expect((await call(s.base, "GET", `/jobs/${a}`)).body.job).toMatchObject({ priority: 9, data: { to: "grace" } });

    const pulled = await hit("POST", `/queues/${q}/pull?timeout=0`, "/queues/:queue/pull");
    expect(pulled.body.job.id).toBe(a);
    const token = pulled.body.job.lock_token as string;
    expect((await hit("GET", `/jobs/${a}/state`, "/jobs/:id/state")).body.state).toBe("active");
    await hit("POST", `/jobs/${a}/heartbeat`, "/jobs/:id/heartbeat", { lock_token: token });
    await hit("POST", `/jobs/${a}/progress`, "/jobs/:id/progress", { progress: 40, message: "going" });
    expect((await hit("GET", `/jobs/${a}/progress`, "/jobs/:id/progress")).body.progress).toMatchObject({ progress: 40, message: "going" });
    await hit("POST", `/jobs/${a}/logs`, "/jobs/:id/logs", { message: "line one" });
    expect((await hit("GET", `/jobs/${a}/logs`, "/jobs/:id/logs")).body.logs[0].message).toBe("line one");
    const stale = await call(s.base, "POST", `/jobs/${a}/ack`, { lock_token: "12345678" });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe("STALE_LOCK");
    // WAITJOB parks; the ACK that follows answers it.
    const waiting = hit("GET", `/jobs/${a}/wait?timeout=5000`, "/jobs/:id/wait");
    await Bun.sleep(20);
    expect((await hit("POST", `/jobs/${a}/ack`, "/jobs/:id/ack", { lock_token: token, result: [1, 2] })).body).toEqual({ ok: true });
    expect((await waiting).body).toEqual({ ok: true, result: [1, 2] });
    expect((await hit("GET", `/jobs/${a}/result`, "/jobs/:id/result")).body.result).toEqual([1, 2]);

    const batch = await hit("POST", `/queues/${q}/pull/batch?count=5&timeout=0`, "/queues/:queue/pull/batch");
    expect(batch.body.jobs.map((j: { id: number }) => j.id)).toEqual([b]);
    await hit("POST", `/jobs/${b}/fail`, "/jobs/:id/fail", { error: "boom" });
    expect((await call(s.base, "GET", `/jobs/${b}`)).body.job.attempts).toBe(1);
    expect((await call(s.base, "POST", `/queues/${q}/pull?timeout=0`)).body.job.id).toBe(b);
    expect((await hit("POST", "/jobs/ack", "/jobs/ack", { ids: [b, 424242] })).body).toMatchObject({ count: 1, failed: [{ id: 424242, code: "NOT_FOUND" }] });
    const gotBatch = await hit("POST", "/jobs/batch", "/jobs/batch", { ids: [a, b, d] });
    expect(gotBatch.body.jobs.map((j: { state: string }) => j.state)).toEqual(["completed", "completed", "delayed"]);

    await hit("POST", `/jobs/${d}/promote`, "/jobs/:id/promote");
    await hit("POST", `/jobs/${d}/delay`, "/jobs/:id/delay", { delay: 60_000 });
    expect((await call(s.base, "GET", `/jobs/${d}/state`)).body.state).toBe("delayed");
    await hit("POST", `/jobs/${d}/discard`, "/jobs/:id/discard");
    const dlq = await hit("GET", `/queues/${q}/dlq?count=10`, "/queues/:queue/dlq");
    expect(dlq.body.jobs.map((j: { id: number }) => j.id)).toEqual([d]);
    expect((await hit("POST", `/queues/${q}/dlq/retry`, "/queues/:queue/dlq/retry", { id: d })).body.count).toBe(1);
    await call(s.base, "POST", `/jobs/${d}/discard`);
    expect((await hit("DELETE", `/queues/${q}/dlq`, "/queues/:queue/dlq")).body.count).toBe(1);

    const e = (await call(s.base, "POST", `/queues/${q}/jobs`, { data: null })).body.id;
    await hit("POST", `/jobs/${e}/cancel`, "/jobs/:id/cancel");
    expect((await call(s.base, "GET", `/jobs/${e}`)).status).toBe(404);

    await hit("POST", `/queues/${q}/pause`, "/queues/:queue/pause");
    expect((await hit("GET", `/queues/${q}/paused`, "/queues/:queue/paused")).body.paused).toBe(true);
    await hit("POST", `/queues/${q}/resume`, "/queues/:queue/resume");
    expect((await call(s.base, "GET", `/queues/${q}/paused`)).body.paused).toBe(false);
    await call(s.base, "POST", `/queues/${q}/jobs`, { data: 1 });
    expect((await hit("POST", `/queues/${q}/drain`, "/queues/:queue/drain")).body.count).toBe(1);
    expect((await hit("POST", `/queues/${q}/clean`, "/queues/:queue/clean", { grace: 0, state: "completed" })).body.count).toBe(2);
    await call(s.base, "POST", `/queues/${q}/jobs`, { data: 1 });
    expect((await hit("DELETE", `/queues/${q}`, "/queues/:queue")).body.count).toBe(1);
    const stats = await hit("GET", "/stats", "/stats");
    expect(stats.body).toMatchObject({ ok: true, io_backend: "bun" });
  });

  test("limits, flows, retry of one job, partial results, KV", async () => {
    const q = "routes-more";
    const held = (await call(s.base, "POST", `/queues/${q}/jobs`, { data: "keeps the queue", delay: 60_000 })).body.id;
    expect((await hit("POST", `/queues/${q}/rate-limit`, "/queues/:queue/rate-limit", { limit: 500 })).body).toEqual({ ok: true });
    expect((await hit("POST", `/queues/${q}/concurrency`, "/queues/:queue/concurrency", { limit: 4 })).body).toEqual({ ok: true });
    const row = (await call(s.base, "GET", "/queues")).body.queues.find((x: { name: string }) => x.name === q);
    expect(row).toMatchObject({ rate_limit: 500, concurrency_limit: 4 });
    await hit("DELETE", `/queues/${q}/rate-limit`, "/queues/:queue/rate-limit");
    await hit("DELETE", `/queues/${q}/concurrency`, "/queues/:queue/concurrency");
    expect((await call(s.base, "GET", "/queues")).body.queues.find((x: { name: string }) => x.name === q)).toMatchObject({ rate_limit: null, concurrency_limit: null });

    const flow = await hit("POST", "/flows", "/flows", { queue: q, data: "parent", children: [{ queue: q, data: "child" }] });
    expect(flow.status).toBe(200);
    const kids = await hit("GET", `/jobs/${flow.body.parent_id}/children`, "/jobs/:id/children");
    expect(kids.body.total).toBe(1);
    await call(s.base, "POST", `/jobs/${held}/cancel`);
    const child = (await call(s.base, "POST", `/queues/${q}/pull?timeout=0`)).body.job;
    expect(child.data).toBe("child");
    expect((await hit("POST", `/jobs/${child.id}/partial`, "/jobs/:id/partial", { data: { part: 1 }, index: 0 })).body.ok).toBe(true);
    await call(s.base, "POST", `/jobs/${child.id}/discard`);
    expect((await call(s.base, "GET", `/jobs/${child.id}/state`)).body.state).toBe("failed");
    expect((await hit("POST", `/jobs/${child.id}/retry`, "/jobs/:id/retry")).body.count).toBe(1);
    expect((await call(s.base, "GET", `/jobs/${child.id}/state`)).body.state).toBe("waiting");
    const retryGiven = await call(s.base, "POST", `/jobs/${child.id}/retry`, { queue: q });
    expect(retryGiven.status).toBe(400);
    expect((await call(s.base, "POST", "/jobs/777777/retry")).status).toBe(404);

    const cron = await hit("POST", "/crons", "/crons", { name: "nightly", queue: q, data: { report: true }, schedule: "0 3 * * *", tz: "UTC" });
    expect(cron.body.next_run).toBeGreaterThan(Date.now());
    expect((await hit("GET", "/crons", "/crons")).body.crons).toEqual([expect.objectContaining({ name: "nightly", queue: q, schedule: "0 3 * * *" })]);
    expect((await hit("DELETE", "/crons/nightly", "/crons/:name")).body).toEqual({ ok: true });
    expect((await call(s.base, "GET", "/crons")).body.crons).toEqual([]);
    expect((await call(s.base, "DELETE", "/crons/nightly")).status).toBe(404);

    expect((await hit("PUT", "/kv/cfg:a", "/kv/:key", { value: { on: true }, ttl: 60_000 })).body).toEqual({ ok: true });
    expect((await hit("GET", "/kv/cfg:a", "/kv/:key")).body.value).toEqual({ on: true });
    expect((await hit("GET", "/kv/cfg:a/exists", "/kv/:key/exists")).body.exists).toBe(true);
    await hit("POST", "/kv/cfg:a/expire", "/kv/:key/expire", { ttl: 30_000 });
    expect((await hit("GET", "/kv/cfg:a/ttl", "/kv/:key/ttl")).body.ttl).toBeGreaterThan(20_000);
    expect((await hit("POST", "/kv", "/kv", { entries: [{ key: "cfg:n", value: 5 }] })).body.count).toBe(1);
    expect((await hit("POST", "/kv/cfg:n/incr", "/kv/:key/incr", { by: 2 })).body.value).toBe(7);
    expect((await hit("POST", "/kv/get", "/kv/get", { keys: ["cfg:n", "cfg:none"] })).body.values).toEqual([7, null]);
    expect((await hit("GET", "/kv?pattern=cfg:*", "/kv")).body.keys.sort()).toEqual(["cfg:a", "cfg:n"]);
    // A key named like a batch route is still a key for GET, PUT and DELETE.
    await call(s.base, "PUT", "/kv/get", { value: "a key called get" });
    expect((await call(s.base, "GET", "/kv/get")).body.value).toBe("a key called get");
    expect((await hit("DELETE", "/kv/cfg:a", "/kv/:key")).body.exists).toBe(true);
    expect((await call(s.base, "GET", "/kv/cfg:a")).body.value).toBeNull();
  });

  test("a parked PULL is answered by a push from another client, and a client that leaves gives it up", async () => {
    const q = "routes-park";
    const parked = call(s.base, "POST", `/queues/${q}/pull?timeout=5000`);
    await Bun.sleep(30);
    const id = (await call(s.base, "POST", `/queues/${q}/jobs`, { data: "late" })).body.id;
    expect((await parked).body.job).toMatchObject({ id, data: "late" });
    // A pull whose client goes away must not take the next job.
    const ac = new AbortController();
    const gone = fetch(`${s.base}/queues/${q}/pull?timeout=5000`, { method: "POST", signal: ac.signal }).catch(() => null);
    await Bun.sleep(30);
    ac.abort();
    await gone;
    await Bun.sleep(30);
    const next = (await call(s.base, "POST", `/queues/${q}/jobs`, { data: "kept" })).body.id;
    expect((await call(s.base, "GET", `/jobs/${next}/state`)).body.state).toBe("waiting");
  });

  test("fields given twice, unknown query parameters, bodies on GET and bad JSON are errors naming them", async () => {
    const twice = await call(s.base, "POST", "/queues/a/jobs", { queue: "b", data: 1 });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toContain("'queue' is given by the path");
    const unknown = await call(s.base, "GET", "/queues/a/counts?state=waiting");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toContain("Unknown query parameter 'state'");
    const typed = await call(s.base, "GET", "/jobs/abc");
    expect(typed.status).toBe(400);
    expect(typed.body.error).toContain("field 'id'");
    const badJson = await call(s.base, "POST", "/queues/a/jobs", "{nope");
    expect(badJson.status).toBe(400);
    expect(badJson.body.code).toBe("BAD_FRAME");
    const arr = await call(s.base, "POST", "/queues/a/jobs", "[1]");
    expect(arr.status).toBe(400);
    const badQueue = await call(s.base, "POST", "/queues/bad%20name/jobs", { data: 1 });
    expect(badQueue.status).toBe(400);
    expect(badQueue.body.error).toContain("field 'queue'");
    const noData = await call(s.base, "PUT", "/jobs/1/data", {});
    expect(noData.status).toBe(400);
  });

  test("statuses follow the error codes: 404, 405, 409, 413, 429", async () => {
    expect((await call(s.base, "GET", "/no/such/route")).status).toBe(404);
    const m = await call(s.base, "DELETE", "/stats");
    expect(m.status).toBe(405);
    expect(m.headers.get("allow")).toBe("GET");
    const id = (await call(s.base, "POST", "/queues/st/jobs", { data: 1 })).body.id;
    const promote = await call(s.base, "POST", `/jobs/${id}/promote`);
    expect(promote.status).toBe(409);
    expect(promote.body.code).toBe("INVALID_STATE");
    await call(s.base, "POST", "/queues/st/jobs", { data: 1, unique_key: "u1" });
    const dup = await call(s.base, "POST", "/queues/st/jobs", { data: 1, unique_key: "u1" });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe("DUPLICATE");
    const big = await call(s.base, "POST", "/queues/st/jobs", JSON.stringify({ data: "x".repeat(11 * 1024 * 1024) }));
    expect(big.status).toBe(429);
    expect(big.body.code).toBe("LIMIT");
    const huge = await fetch(`${s.base}/queues/st/jobs`, { method: "POST", body: "x".repeat(17 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    const timeout = await call(s.base, "GET", `/jobs/${id}/wait?timeout=10`);
    expect(timeout.status).toBe(408);
    expect(timeout.body.code).toBe("TIMEOUT");
  });

  test("every route in the table has a case above", () => {
    const all = commandRoutes.map((r) => `${r.method} ${r.path}`);
    expect(all.filter((r) => !covered.has(r))).toEqual([]);
  });
});
