// Nothing accepted and ignored: the walk below lists every field of every command's schema (top
// level, and inside arrays of objects: PUSHB jobs[], FLOW children[], KVMSET entries[]) and
// fails if one has no probe here. Each probe, over a real socket, shows the field's observable
// effect: the reply or a later read differs because of it, or the field is refused by name where
// it cannot apply. The push options travel five ways (PUSH, PUSHB jobs[], FLOW, FLOW children[],
// CRON); each option is checked through each of them, behaviourally where the job object cannot
// show it (deduplication), and by the job object the option must have reached otherwise (one
// code path turns every one of them into the engine's push; its behaviour has its own tests).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Kind, OptionalKind, type TSchema } from "@sinclair/typebox";
import { registry } from "../../src/dispatch/commands.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { RawClient } from "../helpers/raw-client.ts";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {} });
});
afterAll(async () => {
  await server.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
/** A queue name no other probe uses. */
const fresh = (tag: string) => `fx-${tag.replace(/[^A-Za-z0-9]/g, "-")}-${++seq}`;

interface T {
  c: RawClient;
  q: string;
}
type Probe = (t: T) => Promise<void>;

async function job(c: RawClient, id: number): Promise<any> {
  const r = await c.call({ cmd: "GETJOB", id });
  expect(r.ok).toBe(true);
  return { ...r.job, state: r.state };
}

async function pull(c: RawClient, queue: string): Promise<any> {
  const r = await c.call({ cmd: "PULL", queue, timeout: 0 });
  return r.job;
}

// ---- the push options, through each carrier ----

type Carrier = (t: T, opts: Record<string, unknown>) => Promise<any>;

/** Each returns the reply of the request that carried `opts`, with `id`: the job they made. */
const carriers: Record<string, Carrier> = {
  "PUSH.": async ({ c, q }, opts) => c.call({ cmd: "PUSH", queue: q, data: 1, ...opts }),
  "PUSHB.jobs[].": async ({ c, q }, opts) => {
    const r = await c.call({ cmd: "PUSHB", queue: q, jobs: [{ data: 1, ...opts }] });
    return r.errors ? { ok: false, ...r.errors[0] } : { ...r, id: r.ids[0] };
  },
  "FLOW.": async ({ c, q }, opts) => {
    const r = await c.call({ cmd: "FLOW", queue: q, data: 1, ...opts, children: [{ queue: `${q}-kid`, data: 0 }] });
    return { ...r, id: r.parent_id };
  },
  "FLOW.children[].": async ({ c, q }, opts) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-parent`, data: 0, children: [{ queue: q, data: 1, ...opts }] });
    return { ...r, id: r.children_ids?.[0] };
  },
  "CRON.": async ({ c, q }, opts) => {
    const r = await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 100, limit: 1, ...opts });
    if (!r.ok) return r;
    for (let i = 0; i < 40; i++) {
      const jobs = (await c.call({ cmd: "GETJOBS", queue: q })).jobs;
      if (jobs.length > 0) return { ok: true, id: jobs[0].id };
      await sleep(25);
    }
    throw new Error("the schedule made no job");
  },
};

/** What each option must do to the job it reaches (undefined: refused by this carrier). */
interface OptionCheck {
  /** The value to send (a function: one per probe, for values that are global, like job_id). */
  value: unknown;
  /** Asserts the option reached the job (the job object, its state). */
  seen: (j: any, q: string) => void;
  /** Carriers that refuse the option by name. */
  refusedBy?: readonly string[];
  /** A behavioural probe instead of `seen` (the job object does not show the option). */
  behaviour?: (t: T, carrier: Carrier, key: string) => Promise<void>;
}

const FLOWS = ["FLOW.", "FLOW.children[]."];

async function collapses(t: T, carrier: Carrier, opts: Record<string, unknown>, key: string): Promise<void> {
  if (key === "CRON.") {
    // Two runs of a schedule whose jobs share a window: the second run makes no job.
    await t.c.call({ cmd: "CRON", name: t.q, queue: t.q, data: 1, repeat_every: 100, limit: 2, ...opts });
    await sleep(400);
    expect((await t.c.call({ cmd: "GETJOBS", queue: t.q })).total).toBe(1);
    return;
  }
  const a = await carrier(t, opts);
  const b = await carrier(t, opts);
  expect(a.ok).toBe(true);
  expect(b.id).toBe(a.id);
}

const pushOptionChecks: Record<string, OptionCheck> = {
  name: { value: "named", seen: (j) => expect(j.name).toBe("named") },
  priority: { value: 7, seen: (j) => expect(j.priority).toBe(7) },
  delay: { value: 60_000, seen: (j) => expect(j.run_at - j.created_at).toBe(60_000) },
  ttl: { value: 5_000, seen: (j) => expect(j.ttl).toBe(5_000) },
  timeout: { value: 4_000, seen: (j) => expect(j.timeout).toBe(4_000) },
  max_attempts: { value: 9, seen: (j) => expect(j.max_attempts).toBe(9) },
  backoff: { value: { type: "fixed", delay: 1234 }, seen: (j) => expect(j.backoff).toBe(1234) },
  unique_key: { value: "uk", seen: (j) => expect(j.unique_key).toBe("uk") },
  job_id: { value: (q: string) => `cid-${q}`, seen: (j, q) => expect(j.custom_id).toBe(`cid-${q}`), refusedBy: ["CRON."] },
  tags: { value: ["t1", "t2"], seen: (j) => expect(j.tags).toEqual(["t1", "t2"]) },
  lifo: { value: true, seen: (j) => expect(j.lifo).toBe(true) },
  remove_on_complete: { value: 5, seen: (j) => expect(j.keep_completed_count).toBe(5) },
  remove_on_fail: { value: true, seen: (j) => expect(j.remove_on_fail).toBe(true) },
  keep_completed_age: { value: 60_000, seen: (j) => expect(j.keep_completed_age).toBe(60_000) },
  keep_completed_count: { value: 3, seen: (j) => expect(j.keep_completed_count).toBe(3) },
  stall_timeout: { value: 12_345, seen: (j) => expect(j.stall_timeout).toBe(12_345) },
  group_id: { value: "g", seen: (j) => expect(j.group_id).toBe("g") },
  keep_logs: { value: null, seen: () => {}, behaviour: async (t, carrier) => {
    const r = await carrier(t, { keep_logs: 2 });
    for (const message of ["a", "b", "c"]) await t.c.call({ cmd: "LOG", id: r.id, message });
    expect((await t.c.call({ cmd: "GETLOGS", id: r.id })).logs.map((l: any) => l.message)).toEqual(["b", "c"]);
  } },
  depends_on: { value: null, seen: () => {}, refusedBy: [...FLOWS, "CRON."], behaviour: async (t, carrier) => {
    const dep = (await t.c.call({ cmd: "PUSH", queue: `${t.q}-dep`, data: 0 })).id;
    const r = await carrier(t, { depends_on: [dep] });
    const j = await job(t.c, r.id);
    expect([j.state, j.depends_on]).toEqual(["waitingchildren", [dep]]);
  } },
  debounce_id: { value: null, seen: () => {}, refusedBy: FLOWS, behaviour: (t, carrier, key) => collapses(t, carrier, { debounce_id: "d" }, key) },
  debounce_ttl: { value: null, seen: () => {}, refusedBy: FLOWS, behaviour: async (t, carrier, key) => {
    // A 1 ms window is over by the second push: two jobs (the default window would collapse them).
    if (key === "CRON.") {
      await t.c.call({ cmd: "CRON", name: t.q, queue: t.q, data: 1, repeat_every: 100, limit: 2, debounce_id: "d", debounce_ttl: 1 });
      await sleep(400);
      expect((await t.c.call({ cmd: "GETJOBS", queue: t.q })).total).toBe(2);
      return;
    }
    const a = await carrier(t, { debounce_id: "d", debounce_ttl: 1 });
    await sleep(5);
    const b = await carrier(t, { debounce_id: "d", debounce_ttl: 1 });
    expect(b.id).not.toBe(a.id);
  } },
  deduplication: { value: null, seen: () => {}, refusedBy: FLOWS, behaviour: (t, carrier, key) => collapses(t, carrier, { deduplication: { id: "x" } }, key) },
};

/** The option names each carrier's schema has, from the registry (so the walk below and these agree). */
function probesForCarriers(): Record<string, Probe> {
  const out: Record<string, Probe> = {};
  for (const [key, carrier] of Object.entries(carriers)) {
    for (const [opt, check] of Object.entries(pushOptionChecks)) {
      out[key + opt] = async (t) => {
        const value = typeof check.value === "function" ? (check.value as (q: string) => unknown)(t.q) : check.value;
        if (check.refusedBy?.includes(key)) {
          const r = await carrier(t, { [opt]: value ?? (opt === "depends_on" ? [1] : opt === "deduplication" ? { id: "x" } : "x") });
          expect(r.ok).toBe(false);
          expect(r.error).toContain(opt);
          return;
        }
        if (check.behaviour !== undefined) return check.behaviour(t, carrier, key);
        const r = await carrier(t, { [opt]: value });
        expect(r.ok).toBe(true);
        check.seen(await job(t.c, r.id), t.q);
      };
    }
  }
  return out;
}

// ---- every other field ----

const push = async (c: RawClient, queue: string, extra: Record<string, unknown> = {}): Promise<number> =>
  (await c.call({ cmd: "PUSH", queue, data: 1, ...extra })).id;

const probes: Record<string, Probe> = {
  ...probesForCarriers(),
  // Required fields address what the command acts on: acting on one thing and not another shows it.
  "PUSH.queue": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "COUNT", queue: q })).count).toBe(1);
  },
  "PUSH.data": async ({ c, q }) => expect((await job(c, await push(c, q, { data: { a: [1] } }))).data).toEqual({ a: [1] }),
  "PUSHB.queue": async ({ c, q }) => {
    await c.call({ cmd: "PUSHB", queue: q, jobs: [{ data: 1 }] });
    expect((await c.call({ cmd: "COUNT", queue: q })).count).toBe(1);
  },
  "PUSHB.jobs": async ({ c, q }) => expect((await c.call({ cmd: "PUSHB", queue: q, jobs: [{ data: 1 }, { data: 2 }] })).ids.length).toBe(2),
  "PUSHB.jobs[].data": async ({ c, q }) => {
    const [id] = (await c.call({ cmd: "PUSHB", queue: q, jobs: [{ data: "payload" }] })).ids;
    expect((await job(c, id)).data).toBe("payload");
  },
  "PULL.queue": async ({ c, q }) => {
    const id = await push(c, q);
    expect((await pull(c, q)).id).toBe(id);
  },
  "PULL.timeout": async ({ c, q }) => {
    const t0 = performance.now();
    expect((await c.call({ cmd: "PULL", queue: q, timeout: 150 })).job).toBeNull();
    expect(performance.now() - t0).toBeGreaterThan(100);
  },
  "PULLB.queue": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(1);
  },
  "PULLB.count": async ({ c, q }) => {
    for (let i = 0; i < 3; i++) await push(c, q);
    expect((await c.call({ cmd: "PULLB", queue: q, count: 2, timeout: 0 })).jobs.length).toBe(2);
  },
  "PULLB.timeout": async ({ c, q }) => {
    const t0 = performance.now();
    expect((await c.call({ cmd: "PULLB", queue: q, count: 2, timeout: 150 })).jobs).toEqual([]);
    expect(performance.now() - t0).toBeGreaterThan(100);
  },
  "PULLB.sparse": async ({ c, q }) => {
    await push(c, q);
    await push(c, q);
    const [whole] = (await c.call({ cmd: "PULLB", queue: q, count: 1, timeout: 0 })).jobs;
    const [sparse] = (await c.call({ cmd: "PULLB", queue: q, count: 1, timeout: 0, sparse: true })).jobs;
    expect(Object.hasOwn(whole, "unique_key")).toBe(true);
    expect(Object.hasOwn(sparse, "unique_key")).toBe(false);
  },
  "ACK.id": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "ACK", id });
    expect((await job(c, id)).state).toBe("completed");
  },
  "ACK.result": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "ACK", id, result: { r: 1 } });
    expect((await c.call({ cmd: "GETRESULT", id })).result).toEqual({ r: 1 });
  },
  "ACK.lock_token": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    expect((await c.call({ cmd: "ACK", id, lock_token: "1" })).code).toBe("STALE_LOCK");
  },
  "ACKB.ids": async ({ c, q }) => {
    const ids = [await push(c, q), await push(c, q)];
    await c.call({ cmd: "PULLB", queue: q, count: 2, timeout: 0 });
    expect((await c.call({ cmd: "ACKB", ids })).count).toBe(2);
  },
  "FAIL.id": async ({ c, q }) => {
    const id = await push(c, q, { max_attempts: 1 });
    await pull(c, q);
    await c.call({ cmd: "FAIL", id });
    expect((await job(c, id)).state).toBe("failed");
  },
  "FAIL.error": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "FAIL", id, error: "why" });
    expect((await job(c, id)).failed_reason).toBe("why");
  },
  "FAIL.stack": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "FAIL", id, stack: "at x" });
    expect((await job(c, id)).stacktrace).toEqual(["at x"]);
  },
  "FAIL.unrecoverable": async ({ c, q }) => {
    const id = await push(c, q, { max_attempts: 5 });
    await pull(c, q);
    await c.call({ cmd: "FAIL", id, unrecoverable: true });
    expect((await job(c, id)).state).toBe("failed");
  },
  "FAIL.lock_token": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    expect((await c.call({ cmd: "FAIL", id, lock_token: 1 })).code).toBe("STALE_LOCK");
  },
  "HEARTBEAT.id": async ({ c, q }) => {
    const id = await push(c, q);
    const before = (await pull(c, q)).last_heartbeat;
    await sleep(5);
    await c.call({ cmd: "HEARTBEAT", id });
    expect((await job(c, id)).last_heartbeat).toBeGreaterThan(before);
  },
  "HEARTBEAT.lock_token": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    expect((await c.call({ cmd: "HEARTBEAT", id, lock_token: 1 })).code).toBe("STALE_LOCK");
  },
  "PROGRESS.id": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "PROGRESS", id, progress: 40 });
    expect((await job(c, id)).progress).toBe(40);
  },
  "PROGRESS.progress": async (t) => probes["PROGRESS.id"]!(t),
  "PROGRESS.message": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "PROGRESS", id, progress: 1, message: "m" });
    expect((await c.call({ cmd: "GETPROGRESS", id })).progress.message).toBe("m");
  },
  "GETPROGRESS.id": async ({ c, q }) => expect((await c.call({ cmd: "GETPROGRESS", id: await push(c, q) })).progress.progress).toBe(0),
  "GETJOB.id": async ({ c, q }) => {
    const [a, b] = [await push(c, q, { data: "a" }), await push(c, q, { data: "b" })];
    expect([(await job(c, a)).data, (await job(c, b)).data]).toEqual(["a", "b"]);
  },
  "GETSTATE.id": async ({ c, q }) => expect((await c.call({ cmd: "GETSTATE", id: await push(c, q, { delay: 60_000 }) })).state).toBe("delayed"),
  "GETRESULT.id": async (t) => probes["ACK.result"]!(t),
  "GETJOBBYCUSTOMID.job_id": async ({ c, q }) => {
    const id = await push(c, q, { job_id: q });
    expect((await c.call({ cmd: "GETJOBBYCUSTOMID", job_id: q })).job.id).toBe(id);
  },
  "GETJOBSBATCH.ids": async ({ c, q }) => {
    const id = await push(c, q);
    expect((await c.call({ cmd: "GETJOBSBATCH", ids: [id] })).jobs.map((j: { id: number }) => j.id)).toEqual([id]);
  },
  "WAITJOB.id": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "ACK", id, result: 5 });
    expect((await c.call({ cmd: "WAITJOB", id })).result).toBe(5);
  },
  "WAITJOB.timeout": async ({ c, q }) => expect((await c.call({ cmd: "WAITJOB", id: await push(c, q), timeout: 50 })).code).toBe("TIMEOUT"),
  "CANCEL.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "CANCEL", id });
    expect((await c.call({ cmd: "GETSTATE", id })).state).toBe("unknown");
  },
  "CHANGEPRIORITY.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "CHANGEPRIORITY", id, priority: 9 });
    expect((await job(c, id)).priority).toBe(9);
  },
  "CHANGEPRIORITY.priority": async (t) => probes["CHANGEPRIORITY.id"]!(t),
  "MOVETODELAYED.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "MOVETODELAYED", id, delay: 60_000 });
    expect((await job(c, id)).state).toBe("delayed");
  },
  "MOVETODELAYED.delay": async ({ c, q }) => {
    const id = await push(c, q);
    const t0 = Date.now();
    await c.call({ cmd: "MOVETODELAYED", id, delay: 60_000 });
    expect((await job(c, id)).run_at).toBeGreaterThanOrEqual(t0 + 60_000);
  },
  "MOVETODELAYED.lock_token": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    expect((await c.call({ cmd: "MOVETODELAYED", id, delay: 10, lock_token: 1 })).code).toBe("STALE_LOCK");
  },
  "PROMOTE.id": async ({ c, q }) => {
    const id = await push(c, q, { delay: 60_000 });
    await c.call({ cmd: "PROMOTE", id });
    expect((await job(c, id)).state).toBe("waiting");
  },
  "UPDATEJOB.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "UPDATEJOB", id, data: "new" });
    expect((await job(c, id)).data).toBe("new");
  },
  "UPDATEJOB.data": async (t) => probes["UPDATEJOB.id"]!(t),
  "PARTIAL.id": async ({ c, q }) => {
    const sub = await RawClient.connect(server.port);
    await sub.call({ cmd: "SUBSCRIBE", queue: q, events: ["partial"] });
    const id = await push(c, q);
    await pull(c, q);
    await c.call({ cmd: "PARTIAL", id, data: "part", index: 3 });
    expect(await sub.frame()).toMatchObject({ event: "partial", id, data: "part", index: 3 });
    sub.close();
  },
  "PARTIAL.data": async (t) => probes["PARTIAL.id"]!(t),
  "PARTIAL.index": async (t) => probes["PARTIAL.id"]!(t),
  "PARTIAL.lock_token": async ({ c, q }) => {
    const id = await push(c, q);
    await pull(c, q);
    expect((await c.call({ cmd: "PARTIAL", id, data: 1, lock_token: 1 })).code).toBe("STALE_LOCK");
  },
  "LOG.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "LOG", id, message: "hello", level: "warn" });
    expect((await c.call({ cmd: "GETLOGS", id })).logs).toEqual([expect.objectContaining({ message: "hello", level: "warn" })]);
  },
  "LOG.message": async (t) => probes["LOG.id"]!(t),
  "LOG.level": async (t) => probes["LOG.id"]!(t),
  "GETLOGS.id": async (t) => probes["LOG.id"]!(t),
  "CLEARLOGS.id": async ({ c, q }) => {
    const [a, b] = [await push(c, q), await push(c, q)];
    for (const id of [a, b]) await c.call({ cmd: "LOG", id, message: "line" });
    expect((await c.call({ cmd: "CLEARLOGS", id: a })).removed).toBe(1);
    expect([(await c.call({ cmd: "GETLOGS", id: a })).logs.length, (await c.call({ cmd: "GETLOGS", id: b })).logs.length]).toEqual([0, 1]);
  },
  "CLEARLOGS.keep": async ({ c, q }) => {
    const id = await push(c, q);
    for (const message of ["a", "b", "c"]) await c.call({ cmd: "LOG", id, message });
    expect((await c.call({ cmd: "CLEARLOGS", id, keep: 1 })).removed).toBe(2);
    expect((await c.call({ cmd: "GETLOGS", id })).logs.map((l: any) => l.message)).toEqual(["c"]);
  },
  "DISCARD.id": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "DISCARD", id });
    expect((await job(c, id)).state).toBe("failed");
  },
  "FLOW.queue": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: q, data: 1, children: [{ queue: `${q}-c`, data: 2 }] });
    expect((await job(c, r.parent_id)).queue).toBe(q);
  },
  "FLOW.data": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: q, data: "pd", children: [{ queue: `${q}-c`, data: 2 }] });
    expect((await job(c, r.parent_id)).data).toBe("pd");
  },
  "FLOW.children": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: q, data: 1, children: [{ queue: `${q}-c`, data: 2 }, { queue: `${q}-c`, data: 3 }] });
    expect((await job(c, r.parent_id)).children_ids).toEqual(r.children_ids);
  },
  "FLOW.children[].queue": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-p`, data: 1, children: [{ queue: q, data: 2 }] });
    expect((await job(c, r.children_ids[0])).queue).toBe(q);
  },
  "FLOW.children[].data": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-p`, data: 1, children: [{ queue: q, data: "cd" }] });
    expect((await job(c, r.children_ids[0])).data).toBe("cd");
  },
  "FLOW.children[].on_failure": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-p`, data: 1, children: [{ queue: q, data: 2, max_attempts: 1, on_failure: "continue" }, { queue: `${q}-o`, data: 3 }] });
    const { id } = await pull(c, q);
    await c.call({ cmd: "FAIL", id });
    expect((await job(c, r.parent_id)).state).toBe("waiting");
  },
  "FLOW.children[].children": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-p`, data: 1, children: [{ queue: q, data: 2, children: [{ queue: q, data: 3 }] }] });
    expect((await job(c, r.children_ids[0])).state).toBe("waitingparent");
  },
  "GETCHILDREN.parent_id": async ({ c, q }) => {
    const r = await c.call({ cmd: "FLOW", queue: `${q}-p`, data: 1, children: [{ queue: q, data: 2 }] });
    expect((await c.call({ cmd: "GETCHILDREN", parent_id: r.parent_id })).children.map((j: { id: number }) => j.id)).toEqual(r.children_ids);
  },
  "DLQ.queue": async ({ c, q }) => {
    const id = await push(c, q);
    await c.call({ cmd: "DISCARD", id });
    expect((await c.call({ cmd: "DLQ", queue: q })).jobs.map((j: { id: number }) => j.id)).toEqual([id]);
  },
  "DLQ.count": async ({ c, q }) => {
    for (let i = 0; i < 3; i++) await c.call({ cmd: "DISCARD", id: await push(c, q) });
    expect((await c.call({ cmd: "DLQ", queue: q, count: 2 })).jobs.length).toBe(2);
  },
  "RETRYDLQ.queue": async ({ c, q }) => {
    await c.call({ cmd: "DISCARD", id: await push(c, q) });
    expect((await c.call({ cmd: "RETRYDLQ", queue: q })).count).toBe(1);
  },
  "RETRYDLQ.id": async ({ c, q }) => {
    const [a, b] = [await push(c, q), await push(c, q)];
    await c.call({ cmd: "DISCARD", id: a });
    await c.call({ cmd: "DISCARD", id: b });
    await c.call({ cmd: "RETRYDLQ", queue: q, id: b });
    expect([(await job(c, a)).state, (await job(c, b)).state]).toEqual(["failed", "waiting"]);
  },
  "PURGEDLQ.queue": async ({ c, q }) => {
    await c.call({ cmd: "DISCARD", id: await push(c, q) });
    expect((await c.call({ cmd: "PURGEDLQ", queue: q })).count).toBe(1);
  },
  "PAUSE.queue": async ({ c, q }) => {
    await push(c, q);
    await c.call({ cmd: "PAUSE", queue: q });
    expect(await pull(c, q)).toBeNull();
  },
  "RESUME.queue": async ({ c, q }) => {
    await push(c, q);
    await c.call({ cmd: "PAUSE", queue: q });
    await c.call({ cmd: "RESUME", queue: q });
    expect(await pull(c, q)).not.toBeNull();
  },
  "ISPAUSED.queue": async ({ c, q }) => {
    await c.call({ cmd: "PAUSE", queue: q });
    expect([(await c.call({ cmd: "ISPAUSED", queue: q })).paused, (await c.call({ cmd: "ISPAUSED", queue: `${q}-x` })).paused]).toEqual([true, false]);
  },
  "DRAIN.queue": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "DRAIN", queue: q })).count).toBe(1);
  },
  "OBLITERATE.queue": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "OBLITERATE", queue: q })).count).toBe(1);
  },
  "COUNT.queue": async (t) => probes["PUSH.queue"]!(t),
  "GETJOBCOUNTS.queue": async ({ c, q }) => {
    await push(c, q, { delay: 60_000 });
    expect((await c.call({ cmd: "GETJOBCOUNTS", queue: q })).delayed).toBe(1);
  },
  "GETJOBS.queue": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "GETJOBS", queue: q })).total).toBe(1);
  },
  "GETJOBS.state": async ({ c, q }) => {
    await push(c, q);
    await push(c, q, { delay: 60_000 });
    expect((await c.call({ cmd: "GETJOBS", queue: q, state: "delayed" })).total).toBe(1);
  },
  "GETJOBS.limit": async ({ c, q }) => {
    for (let i = 0; i < 3; i++) await push(c, q);
    expect((await c.call({ cmd: "GETJOBS", queue: q, limit: 2 })).jobs.length).toBe(2);
  },
  "GETJOBS.offset": async ({ c, q }) => {
    const ids = [await push(c, q), await push(c, q)];
    expect((await c.call({ cmd: "GETJOBS", queue: q, offset: 1 })).jobs.map((j: { id: number }) => j.id)).toEqual([ids[1]]);
  },
  "GETJOBS.desc": async ({ c, q }) => {
    const ids = [await push(c, q), await push(c, q)];
    for (const id of ids) await c.call({ cmd: "DISCARD", id });
    expect((await c.call({ cmd: "GETJOBS", queue: q, state: "failed", desc: true })).jobs.map((j: { id: number }) => j.id)).toEqual([ids[1], ids[0]]);
    expect((await c.call({ cmd: "GETJOBS", queue: q, desc: true })).code).toBe("INVALID");
  },
  "CLEAN.queue": async ({ c, q }) => {
    await c.call({ cmd: "DISCARD", id: await push(c, q) });
    expect((await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "failed" })).count).toBe(1);
  },
  "CLEAN.grace": async ({ c, q }) => {
    await c.call({ cmd: "DISCARD", id: await push(c, q) });
    expect((await c.call({ cmd: "CLEAN", queue: q, grace: 60_000, state: "failed" })).count).toBe(0);
  },
  "CLEAN.state": async ({ c, q }) => {
    await push(c, q);
    expect((await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "failed" })).count).toBe(0);
    expect((await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "waiting" })).count).toBe(1);
  },
  "CLEAN.limit": async ({ c, q }) => {
    for (let i = 0; i < 3; i++) await push(c, q);
    expect((await c.call({ cmd: "CLEAN", queue: q, grace: 0, state: "waiting", limit: 2 })).count).toBe(2);
  },
  "LISTQUEUES.queue": async ({ c, q }) => {
    await c.call({ cmd: "PUSH", queue: q, data: 1 });
    await c.call({ cmd: "PUSH", queue: `${q}-other`, data: 1 });
    expect((await c.call({ cmd: "LISTQUEUES", queue: q })).queues.map((x: { name: string }) => x.name)).toEqual([q]);
    expect((await c.call({ cmd: "LISTQUEUES", queue: `${q}-none` })).queues).toEqual([]);
  },
  "LISTQUEUES.limit": async ({ c }) => expect((await c.call({ cmd: "LISTQUEUES", limit: 1 })).queues.length).toBe(1),
  "LISTQUEUES.offset": async ({ c, q }) => {
    await push(c, q);
    const all = (await c.call({ cmd: "LISTQUEUES" })).queues.map((x: { name: string }) => x.name);
    expect((await c.call({ cmd: "LISTQUEUES", offset: 1 })).queues.map((x: { name: string }) => x.name)).toEqual(all.slice(1));
  },
  "METRICS.limit": async ({ c }) => expect((await c.call({ cmd: "METRICS", limit: 1 })).metrics.queues.length).toBe(1),
  "METRICS.offset": async ({ c, q }) => {
    await push(c, q);
    const all = (await c.call({ cmd: "METRICS" })).metrics.queues.map((x: { name: string }) => x.name);
    expect((await c.call({ cmd: "METRICS", offset: 1 })).metrics.queues.map((x: { name: string }) => x.name)).toEqual(all.slice(1));
  },
  "RATELIMIT.queue": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "RATELIMIT", queue: q, limit: 1 });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(1);
  },
  "RATELIMIT.limit": async (t) => probes["RATELIMIT.queue"]!(t),
  "RATELIMIT.burst": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "RATELIMIT", queue: q, limit: 1, burst: 3 });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(3);
  },
  "RATELIMIT.per_ms": async ({ c, q }) => {
    // 2 jobs a minute: the bucket (default: the 2) goes at once, then nothing for 30 s.
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "RATELIMIT", queue: q, limit: 2, per_ms: 60_000 });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(2);
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(0);
    const row = (await c.call({ cmd: "LISTQUEUES", queue: q })).queues[0];
    expect([row.rate_limit, row.rate_limit_burst]).toEqual([2 / 60, 2]);
  },
  "RATELIMITCLEAR.queue": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "RATELIMIT", queue: q, limit: 1 });
    await c.call({ cmd: "RATELIMITCLEAR", queue: q });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(5);
  },
  "SETCONCURRENCY.queue": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "SETCONCURRENCY", queue: q, limit: 2 });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(2);
  },
  "SETCONCURRENCY.limit": async (t) => probes["SETCONCURRENCY.queue"]!(t),
  "SETCONCURRENCY.group_concurrency": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q, { group_id: "g" });
    await c.call({ cmd: "SETCONCURRENCY", queue: q, group_concurrency: 3 });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(3);
  },
  "CLEARCONCURRENCY.queue": async ({ c, q }) => {
    for (let i = 0; i < 5; i++) await push(c, q);
    await c.call({ cmd: "SETCONCURRENCY", queue: q, limit: 1 });
    await c.call({ cmd: "CLEARCONCURRENCY", queue: q });
    expect((await c.call({ cmd: "PULLB", queue: q, count: 5, timeout: 0 })).jobs.length).toBe(5);
  },
  "KVSET.key": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: [1] });
    expect((await c.call({ cmd: "KVGET", key: q })).value).toEqual([1]);
  },
  "KVSET.value": async (t) => probes["KVSET.key"]!(t),
  "KVSET.ttl": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: 1, ttl: 60_000 });
    expect((await c.call({ cmd: "KVTTL", key: q })).ttl).toBeGreaterThan(0);
  },
  "KVGET.key": async (t) => probes["KVSET.key"]!(t),
  "KVDEL.key": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: 1 });
    await c.call({ cmd: "KVDEL", key: q });
    expect((await c.call({ cmd: "KVEXISTS", key: q })).exists).toBe(false);
  },
  "KVEXISTS.key": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: 1 });
    expect([(await c.call({ cmd: "KVEXISTS", key: q })).exists, (await c.call({ cmd: "KVEXISTS", key: `${q}-x` })).exists]).toEqual([true, false]);
  },
  "KVEXPIRE.key": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: 1 });
    await c.call({ cmd: "KVEXPIRE", key: q, ttl: 30_000 });
    const ttl = (await c.call({ cmd: "KVTTL", key: q })).ttl;
    expect(ttl > 29_000 && ttl <= 30_000).toBe(true);
  },
  "KVEXPIRE.ttl": async (t) => probes["KVEXPIRE.key"]!(t),
  "KVTTL.key": async ({ c, q }) => expect((await c.call({ cmd: "KVTTL", key: q })).ttl).toBe(-2),
  "KVMGET.keys": async ({ c, q }) => {
    await c.call({ cmd: "KVSET", key: q, value: "v" });
    expect((await c.call({ cmd: "KVMGET", keys: [`${q}-x`, q] })).values).toEqual([null, "v"]);
  },
  "KVMSET.entries": async ({ c, q }) => expect((await c.call({ cmd: "KVMSET", entries: [{ key: q, value: 1 }, { key: `${q}2`, value: 2 }] })).count).toBe(2),
  "KVMSET.entries[].key": async ({ c, q }) => {
    await c.call({ cmd: "KVMSET", entries: [{ key: q, value: "mv" }] });
    expect((await c.call({ cmd: "KVGET", key: q })).value).toBe("mv");
  },
  "KVMSET.entries[].value": async (t) => probes["KVMSET.entries[].key"]!(t),
  "KVMSET.entries[].ttl": async ({ c, q }) => {
    await c.call({ cmd: "KVMSET", entries: [{ key: q, value: 1, ttl: 60_000 }] });
    expect((await c.call({ cmd: "KVTTL", key: q })).ttl).toBeGreaterThan(0);
  },
  "KVKEYS.pattern": async ({ c, q }) => {
    await c.call({ cmd: "KVMSET", entries: [{ key: `${q}:a`, value: 1 }, { key: `${q}:b`, value: 1 }] });
    expect((await c.call({ cmd: "KVKEYS", pattern: `${q}:a` })).keys).toEqual([`${q}:a`]);
  },
  "KVKEYS.limit": async ({ c, q }) => {
    await c.call({ cmd: "KVMSET", entries: [{ key: `${q}:a`, value: 1 }, { key: `${q}:b`, value: 1 }] });
    expect((await c.call({ cmd: "KVKEYS", pattern: `${q}:*`, limit: 1 })).keys.length).toBe(1);
  },
  "KVINCR.key": async ({ c, q }) => expect((await c.call({ cmd: "KVINCR", key: q })).value).toBe(1),
  "KVINCR.by": async ({ c, q }) => expect((await c.call({ cmd: "KVINCR", key: q, by: 5 })).value).toBe(5),
  "CRON.name": async ({ c, q }) => {
    await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 60_000 });
    expect((await c.call({ cmd: "CRONLIST" })).crons.some((x: { name: string }) => x.name === q)).toBe(true);
  },
  "CRON.queue": async ({ c, q }) => {
    await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 100, limit: 1 });
    await sleep(300);
    expect((await c.call({ cmd: "COUNT", queue: q })).count).toBe(1);
  },
  "CRON.data": async ({ c, q }) => {
    await c.call({ cmd: "CRON", name: q, queue: q, data: "cd", repeat_every: 100, limit: 1 });
    await sleep(300);
    expect((await pull(c, q)).data).toBe("cd");
  },
  "CRON.schedule": async ({ c, q }) => {
    const r = await c.call({ cmd: "CRON", name: q, queue: q, data: 1, schedule: "0 0 1 1 *" });
    expect(new Date(r.next_run).toISOString().slice(5)).toBe("01-01T00:00:00.000Z");
  },
  "CRON.repeat_every": async ({ c, q }) => {
    const t0 = Date.now();
    const r = await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 90_000 });
    expect(r.next_run - t0).toBeGreaterThanOrEqual(89_000);
  },
  "CRON.priority": async ({ c, q }) => {
    await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 100, limit: 1, priority: 6 });
    await sleep(300);
    expect((await pull(c, q)).priority).toBe(6);
  },
  "CRON.limit": async (t) => probes["CRON.queue"]!(t),
  "CRON.tz": async ({ c, q }) => {
    const r = await c.call({ cmd: "CRON", name: q, queue: q, data: 1, schedule: "0 0 1 1 *", tz: "Asia/Tokyo" });
    expect(new Date(r.next_run).toISOString().slice(5)).toBe("12-31T15:00:00.000Z");
  },
  "CRONDELETE.name": async ({ c, q }) => {
    await c.call({ cmd: "CRON", name: q, queue: q, data: 1, repeat_every: 60_000 });
    await c.call({ cmd: "CRONDELETE", name: q });
    expect((await c.call({ cmd: "CRONLIST" })).crons.some((x: { name: string }) => x.name === q)).toBe(false);
  },
  "AUTH.token": async () => {
    const s = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {}, authTokens: ["right"] });
    const c = await RawClient.connect(s.port);
    expect((await c.call({ cmd: "AUTH", token: "wrong" })).ok).toBe(false);
    expect((await c.call({ cmd: "AUTH", token: "right" })).ok).toBe(true);
    c.close();
    await s.stop();
  },
  "HELLO.protocol_version": async ({ c }) => expect((await c.call({ cmd: "HELLO", protocol_version: 0 })).code).toBe("INVALID"),
  "HELLO.client": async ({ c, q }) => {
    await c.call({ cmd: "HELLO", client: q });
    expect((await c.call({ cmd: "STATS" })).clients[q]).toBe(1);
  },
  "SUBSCRIBE.queue": async ({ c, q }) => {
    const sub = await RawClient.connect(server.port);
    await sub.call({ cmd: "SUBSCRIBE", queue: q });
    await push(c, `${q}-other`);
    const id = await push(c, q);
    expect((await sub.frame()).id).toBe(id);
    sub.close();
  },
  "SUBSCRIBE.events": async ({ c, q }) => {
    const sub = await RawClient.connect(server.port);
    await sub.call({ cmd: "SUBSCRIBE", queue: q, events: ["delayed"] });
    await push(c, q);
    const id = await push(c, q, { delay: 60_000 });
    expect(await sub.frame()).toMatchObject({ event: "delayed", id });
    sub.close();
  },
  "UNSUBSCRIBE.queue": async ({ q }) => {
    const sub = await RawClient.connect(server.port);
    await sub.call({ cmd: "SUBSCRIBE", queue: q });
    await sub.call({ cmd: "SUBSCRIBE", queue: `${q}-b` });
    expect((await sub.call({ cmd: "UNSUBSCRIBE", queue: q })).count).toBe(1);
    expect((await sub.call({ cmd: "UNSUBSCRIBE" })).count).toBe(1);
    sub.close();
  },
};

/** Every field path of a command's schema: `field`, and `field[].inner` for arrays of objects. */
function fieldPaths(s: TSchema, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, p] of Object.entries((s.properties ?? {}) as Record<string, TSchema>)) {
    out.push(prefix + k);
    if (p[Kind] === "Array" && (p.items as TSchema)[Kind] === "Object" && prefix === "") out.push(...fieldPaths(p.items as TSchema, `${k}[].`));
  }
  return out;
}

test("every field of every command has an effect probe here (a new field needs one)", () => {
  const missing: string[] = [];
  for (const c of registry.all) for (const f of fieldPaths(c.schema)) if (probes[`${c.name}.${f}`] === undefined) missing.push(`${c.name}.${f}`);
  expect(missing).toEqual([]);
  // And no probe for a field that does not exist (a renamed field would leave one behind).
  const known = new Set([...registry.all].flatMap((c) => fieldPaths(c.schema).map((f) => `${c.name}.${f}`)));
  expect(Object.keys(probes).filter((k) => !known.has(k))).toEqual([]);
  // The walk reaches optional fields too.
  expect([...registry.all].some((c) => Object.values(c.schema.properties).some((p) => (p as TSchema)[OptionalKind] === "Optional"))).toBe(true);
});

describe("each field's effect", () => {
  for (const [name, probe] of Object.entries(probes)) {
    test(name, async () => {
      const c = await RawClient.connect(server.port);
      try {
        await probe({ c, q: fresh(name) });
      } finally {
        c.close();
      }
    });
  }
});
