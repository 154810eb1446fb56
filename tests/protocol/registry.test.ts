// The registry is the one description of every command: over a real socket, in both framings,
// a session runs every registered command and each success reply must match the reply schema
// the registry declares for it; HELLO lists exactly the registry's commands; docs/commands.md is
// what the registry renders.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { registry } from "../../src/dispatch/commands.ts";
import { renderCommandDocs } from "../../src/dispatch/docs.ts";
import { commandExamples } from "../../src/dispatch/examples.ts";
import { validateRequest } from "../../src/dispatch/registry.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { RawClient } from "../helpers/raw-client.ts";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {} });
});
afterAll(async () => {
  await server.stop();
});

const checks = new Map([...registry.all].map((c) => [c.name, TypeCompiler.Compile(c.reply)]));

for (const mode of ["binary", "text"] as const) {
  describe(`every command's reply matches its declared shape [${mode}]`, () => {
    test("a session that runs each registered command", async () => {
      const c = await RawClient.connect(server.port);
      const seen = new Set<string>();
      const q = `reg-${mode}`;
      const run = async (req: Record<string, unknown>): Promise<any> => {
        const reply = mode === "binary" ? await c.call(req) : await c.ask(req);
        const name = req.cmd as string;
        seen.add(name);
        expect({ cmd: name, reply }).toEqual({ cmd: name, reply: expect.objectContaining({ ok: true }) });
        const check = checks.get(name)!;
        if (!check.Check(reply)) {
          const e = check.Errors(reply).First();
          throw new Error(`${name} reply does not match its schema at ${e?.path}: ${e?.message} (${JSON.stringify(reply)})`);
        }
        return reply;
      };
      await run({ cmd: "PING" });
      const hello = await run({ cmd: "HELLO", protocol_version: 7, client: `registry-test-${mode}` });
      expect(hello.commands).toEqual(registry.names);
      expect(hello.protocol_version).toBe(1); // the one both speak
      await run({ cmd: "AUTH", token: "any" });
      const a = (await run({ cmd: "PUSH", queue: q, data: { n: 1 }, job_id: `custom-${mode}` })).id;
      const [b, cc] = (await run({ cmd: "PUSHB", queue: q, jobs: [{ data: 2, max_attempts: 1 }, { data: 3 }, { data: 4, job_id: `custom-${mode}` }] })).ids;
      expect((await run({ cmd: "PULL", queue: q, timeout: 0 })).job.id).toBe(a);
      await run({ cmd: "HEARTBEAT", id: a });
      await run({ cmd: "PARTIAL", id: a, data: { part: 1 }, index: 0 });
      await run({ cmd: "PROGRESS", id: a, progress: 50, message: "half" });
      await run({ cmd: "GETPROGRESS", id: a });
      await run({ cmd: "LOG", id: a, message: "hi", level: "warn" });
      expect((await run({ cmd: "GETLOGS", id: a })).logs.length).toBe(1);
      expect((await run({ cmd: "CLEARLOGS", id: a })).removed).toBe(1);
      await run({ cmd: "ACK", id: a, result: { done: true } });
      await run({ cmd: "GETRESULT", id: a });
      await run({ cmd: "GETJOB", id: a });
      await run({ cmd: "GETSTATE", id: a });
      expect((await run({ cmd: "GETJOBBYCUSTOMID", job_id: `custom-${mode}` })).job.id).toBe(a);
      expect((await run({ cmd: "GETJOBSBATCH", ids: [a, b, 999_999] })).jobs.length).toBe(2);
      await run({ cmd: "WAITJOB", id: a, timeout: 10 });
      expect((await run({ cmd: "PULLB", queue: q, count: 1, timeout: 0 })).jobs[0].id).toBe(b);
      await run({ cmd: "FAIL", id: b, error: "no", stack: "Error: no\n    at here", unrecoverable: false });
      expect((await run({ cmd: "DLQ", queue: q, count: 10 })).jobs.map((j: { id: number }) => j.id)).toEqual([b]);
      await run({ cmd: "RETRYDLQ", queue: q, id: b });
      // The retried job went to the back of the line: cc first, then b.
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
      await run({ cmd: "GETJOBCOUNTS", queue: q });
      expect((await run({ cmd: "GETJOBS", queue: q, limit: 10 })).total).toBeGreaterThan(0);
      await run({ cmd: "CLEAN", queue: q, grace: 0, state: "completed" });
      const flow = await run({ cmd: "FLOW", queue: q, data: "parent", children: [{ queue: `${q}-c`, data: "child", on_failure: "ignore", children: [{ queue: `${q}-c`, data: "grandchild" }] }] });
      expect((await run({ cmd: "GETCHILDREN", parent_id: flow.parent_id })).total).toBe(1);
      // The grandchild's removal fails the child, whose on_failure (ignore) lets the parent run.
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
      expect((await run({ cmd: "LISTQUEUES" })).queues.find((x: { name: string }) => x.name === q)).toMatchObject({ rate_limit: 1000, concurrency_limit: 10, group_concurrency: 2 });
      await run({ cmd: "RATELIMITCLEAR", queue: q });
      await run({ cmd: "CLEARCONCURRENCY", queue: q });
      expect((await run({ cmd: "STATS" })).clients[`registry-test-${mode}`]).toBe(1);
      expect((await run({ cmd: "METRICS" })).metrics.total_pushed).toBeGreaterThan(0);
      await run({ cmd: "SUBSCRIBE", queue: q, events: ["completed"] });
      await run({ cmd: "UNSUBSCRIBE", queue: q });
      expect((await run({ cmd: "DRAIN", queue: q })).count).toBe(2); // a job and the flow's parent
      await run({ cmd: "OBLITERATE", queue: q });
      expect([...seen].sort()).toEqual([...registry.names].sort());
      c.close();
    });
  });
}

test("every command has an example in docs, and each example is a valid request", () => {
  expect(Object.keys(commandExamples).sort()).toEqual([...registry.names].sort());
  for (const c of registry.all) {
    const body = { cmd: c.name, ...commandExamples[c.name] };
    expect({ cmd: c.name, invalid: validateRequest(c, body) }).toEqual({ cmd: c.name, invalid: null });
  }
});

test("README names every command (its command list is kept whole)", () => {
  const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");
  expect(registry.names.filter((n) => !new RegExp(`\\b${n}\\b`).test(readme))).toEqual([]);
});

test("docs/commands.md is what the registry renders (run npx bun scripts/gen-docs.ts after changing a command)", () => {
  const file = readFileSync(join(import.meta.dir, "..", "..", "docs", "commands.md"), "utf8");
  expect(file).toBe(renderCommandDocs(registry));
});
