// The session that runs every command of the registry once, with the checks of what each one
// did, shared by the transports that must reach all of them: TCP in both framings
// (tests/protocol/registry.test.ts), HTTP POST /commands/<NAME> and the WebSocket
// (tests/http/commands.test.ts). A command added to the registry without a step here fails
// them all, since each compares the commands it saw with the registry's names.

import { expect } from "bun:test";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { registry } from "../../src/dispatch/commands.ts";

const checks = new Map([...registry.all].map((c) => [c.name, TypeCompiler.Compile(c.reply)]));

export function checkReply(name: string, reply: unknown): void {
  expect({ cmd: name, reply }).toEqual({ cmd: name, reply: expect.objectContaining({ ok: true }) });
  const check = checks.get(name)!;
  if (!check.Check(reply)) {
    const e = check.Errors(reply).First();
    throw new Error(`${name} reply does not match its schema at ${e?.path}: ${e?.message} (${JSON.stringify(reply)})`);
  }
}

export interface SessionOptions {
  /** Run SUBSCRIBE/UNSUBSCRIBE (a transport whose connection stays open). */
  subscribe: boolean;
  /** The client name HELLO gives; with `counted`, STATS must count this connection under it. */
  client: string;
  counted: boolean;
}

/** Runs every registered command once through `run` (which checks each reply), against queue q. */
export async function everyCommandSession(run: (req: Record<string, unknown>) => Promise<any>, q: string, o: SessionOptions): Promise<void> {
  await run({ cmd: "PING" });
  const hello = await run({ cmd: "HELLO", protocol_version: 7, client: o.client });
  expect(hello.commands).toEqual(registry.names);
  expect(hello.protocol_version).toBe(1); // the one both speak
  await run({ cmd: "AUTH", token: "any" });
  const a = (await run({ cmd: "PUSH", queue: q, data: { n: 1 }, job_id: `custom-${q}` })).id;
  const [b, cc] = (await run({ cmd: "PUSHB", queue: q, jobs: [{ data: 2, max_attempts: 1 }, { data: 3 }, { data: 4, job_id: `custom-${q}` }] })).ids;
  expect((await run({ cmd: "PULL", queue: q, timeout: 0 })).job.id).toBe(a);
  await run({ cmd: "HEARTBEAT", id: a });
  await run({ cmd: "PARTIAL", id: a, data: { part: 1 }, index: 0 });
  await run({ cmd: "PROGRESS", id: a, progress: 50, message: "half" });
  expect((await run({ cmd: "GETPROGRESS", id: a })).progress.progress).toBe(50);
  await run({ cmd: "LOG", id: a, message: "hi", level: "warn" });
  expect((await run({ cmd: "GETLOGS", id: a })).logs.length).toBe(1);
  expect((await run({ cmd: "CLEARLOGS", id: a })).removed).toBe(1);
  await run({ cmd: "ACK", id: a, result: { done: true } });
  expect((await run({ cmd: "GETRESULT", id: a })).result).toEqual({ done: true });
  expect((await run({ cmd: "GETJOB", id: a })).state).toBe("completed");
  await run({ cmd: "GETSTATE", id: a });
  expect((await run({ cmd: "GETJOBBYCUSTOMID", job_id: `custom-${q}` })).job.id).toBe(a);
  expect((await run({ cmd: "GETJOBSBATCH", ids: [a, b, 999_999] })).jobs.length).toBe(2);
  expect((await run({ cmd: "WAITJOB", id: a, timeout: 10 })).result).toEqual({ done: true });
  expect((await run({ cmd: "PULLB", queue: q, count: 1, timeout: 0 })).jobs[0].id).toBe(b);
  await run({ cmd: "FAIL", id: b, error: "no", stack: "Error: no\n    at here", unrecoverable: false });
  expect((await run({ cmd: "DLQ", queue: q, count: 10 })).jobs.map((j: { id: number }) => j.id)).toEqual([b]);
  await run({ cmd: "RETRYDLQ", queue: q, id: b });
  expect((await run({ cmd: "PULLB", queue: q, count: 2, timeout: 0, sparse: true })).jobs.map((j: { id: number }) => j.id)).toEqual([cc, b]);
  expect((await run({ cmd: "ACKB", ids: [b] })).count).toBe(1);
  await run({ cmd: "CHANGEPRIORITY", id: cc, priority: 3 });
  await run({ cmd: "MOVETODELAYED", id: cc, delay: 60_000 });
  await run({ cmd: "PROMOTE", id: cc });
  await run({ cmd: "UPDATEJOB", id: cc, data: "new" });
  await run({ cmd: "DISCARD", id: cc });
  expect((await run({ cmd: "PURGEDLQ", queue: q })).count).toBe(1);
  const e = (await run({ cmd: "PUSH", queue: q, data: null, delay: 60_000 })).id;
  await run({ cmd: "CANCEL", id: e });
  await run({ cmd: "PAUSE", queue: q });
  expect((await run({ cmd: "ISPAUSED", queue: q })).paused).toBe(true);
  await run({ cmd: "RESUME", queue: q });
  await run({ cmd: "PUSH", queue: q, data: 5 });
  expect((await run({ cmd: "COUNT", queue: q })).count).toBe(1);
  expect((await run({ cmd: "GETJOBCOUNTS", queue: q })).waiting).toBe(1);
  expect((await run({ cmd: "GETJOBS", queue: q, limit: 10 })).total).toBeGreaterThan(0);
  await run({ cmd: "CLEAN", queue: q, grace: 0, state: "completed" });
  const flow = await run({ cmd: "FLOW", queue: q, data: "parent", children: [{ queue: `${q}-c`, data: "child", on_failure: "ignore", children: [{ queue: `${q}-c`, data: "grandchild" }] }] });
  expect((await run({ cmd: "GETCHILDREN", parent_id: flow.parent_id })).total).toBe(1);
  await run({ cmd: "OBLITERATE", queue: `${q}-c` });
  expect((await run({ cmd: "GETSTATE", id: flow.parent_id })).state).toBe("waiting");
  await run({ cmd: "KVSET", key: `${q}:k`, value: { v: 1 }, ttl: 60_000 });
  expect((await run({ cmd: "KVGET", key: `${q}:k` })).value).toEqual({ v: 1 });
  expect((await run({ cmd: "KVEXISTS", key: `${q}:k` })).exists).toBe(true);
  await run({ cmd: "KVEXPIRE", key: `${q}:k`, ttl: 30_000 });
  expect((await run({ cmd: "KVTTL", key: `${q}:k` })).ttl).toBeGreaterThan(0);
  await run({ cmd: "KVMSET", entries: [{ key: `${q}:n`, value: 1 }] });
  expect((await run({ cmd: "KVMGET", keys: [`${q}:n`] })).values).toEqual([1]);
  expect((await run({ cmd: "KVINCR", key: `${q}:n`, by: 2 })).value).toBe(3);
  expect((await run({ cmd: "KVKEYS", pattern: `${q}:*` })).keys.length).toBe(2);
  expect((await run({ cmd: "KVDEL", key: `${q}:k` })).exists).toBe(true);
  expect((await run({ cmd: "CRON", name: `${q}-cron`, queue: q, data: { tick: true }, schedule: "0 0 1 1 *", tz: "Europe/Rome", max_attempts: 2 })).next_run).toBeGreaterThan(Date.now());
  expect((await run({ cmd: "CRONLIST" })).crons.find((x: { name: string }) => x.name === `${q}-cron`)).toMatchObject({ schedule: "0 0 1 1 *", tz: "Europe/Rome", executions: 0 });
  await run({ cmd: "CRONDELETE", name: `${q}-cron` });
  await run({ cmd: "RATELIMIT", queue: q, limit: 1000, burst: 100 });
  await run({ cmd: "SETCONCURRENCY", queue: q, limit: 10, group_concurrency: 2 });
  expect((await run({ cmd: "LISTQUEUES" })).queues.find((x: { name: string }) => x.name === q)).toMatchObject({ rate_limit: 1000, concurrency_limit: 10 });
  await run({ cmd: "RATELIMITCLEAR", queue: q });
  await run({ cmd: "CLEARCONCURRENCY", queue: q });
  const stats = await run({ cmd: "STATS" });
  if (o.counted) expect(stats.clients[o.client]).toBe(1);
  expect((await run({ cmd: "METRICS" })).metrics.total_pushed).toBeGreaterThan(0);
  if (o.subscribe) {
    await run({ cmd: "SUBSCRIBE", queue: q, events: ["completed"] });
    await run({ cmd: "UNSUBSCRIBE", queue: q });
  }
  expect((await run({ cmd: "DRAIN", queue: q })).count).toBe(2); // a job and the flow's parent
  await run({ cmd: "OBLITERATE", queue: q });
}

