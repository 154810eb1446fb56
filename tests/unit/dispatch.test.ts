// The command registry and dispatch on their own (no socket): load-time assertions, envelope,
// auth and validation errors, and the per-item answers of batch commands (PUSHB, ACKB) and
// RETRYDLQ's queue check, driven with a real engine and a fake connection context.

import { describe, expect, test } from "bun:test";
import { Type } from "@sinclair/typebox";
import { encodeValue } from "../../src/protocol/msgpack.ts";
import { Raw } from "../../src/protocol/msgpack.ts";
import { registry } from "../../src/dispatch/commands.ts";
import { DEFERRED, type Ctx, type Reply } from "../../src/dispatch/context.ts";
import { defineCommand, Registry } from "../../src/dispatch/registry.ts";
import { Engine } from "../../src/engine/engine.ts";
import { jobDataBytesMax } from "../../src/constants.ts";

function ctx(engine = new Engine({ now: () => 1_000 }), authed = true) {
  const deferred: Reply[] = [];
  const c: Ctx = {
    engine,
    session: { authed, authFailures: 0, client: null, parked: new Set() },
    server: { version: "t", ioBackend: "none", authTokens: authed ? null : new Set(["s3cret"]), commands: registry.names, stats: { internalErrors: 0 }, clients: () => ({}) },
    defer: () => (reply) => {
      deferred.push(reply);
      return true;
    },
    deliveryBlocked: () => false,
    subscribe: () => {},
    unsubscribe: () => 0,
    revoke: () => {},
    closeAfterReply: () => {},
  };
  return { c, engine, deferred };
}

const raw = (v: unknown) => new Raw(encodeValue(v));
const run = (c: Ctx, body: unknown) => registry.dispatch(c, body) as Record<string, any>;

describe("registry", () => {
  test("every command has a summary, an object schema and a reply schema; names are unique and upper case", () => {
    const names = registry.names;
    expect(new Set(names).size).toBe(names.length);
    for (const c of registry.all) {
      expect(c.name).toMatch(/^[A-Z]+$/);
      expect(c.summary.length).toBeGreaterThan(10);
      expect(c.schema.type).toBe("object");
      expect(c.reply).toBeDefined();
    }
    expect(names).toContain("PUSH");
    expect(registry.get("PUSHB")!.rawSpec!.paths()).toEqual(["jobs[].data"]);
    expect(registry.get("ACK")!.rawSpec!.paths()).toEqual(["result"]);
    expect([...registry.all].filter((c) => c.open).map((c) => c.name).sort()).toEqual(["AUTH", "HELLO", "PING"]);
  });

  test("load-time assertions refuse a duplicate, a lower-case name, and a raw field the schema lacks", () => {
    const ok = defineCommand({ name: "X", summary: "x", schema: Type.Object({ data: Type.Unknown() }), raw: { data: true }, reply: Type.Object({}), handler: () => ({ ok: true }) });
    expect(() => new Registry([ok, ok])).toThrow(/declared twice/);
    expect(() => new Registry([{ ...ok, name: "lower" }])).toThrow(/upper case/);
    expect(() => new Registry([{ ...ok, raw: { payload: true } }])).toThrow(/keeps 'payload' raw but its schema has no such field/);
    expect(() => new Registry([{ ...ok, raw: { data: [{ x: true }] } }])).toThrow(/not an array/);
    expect(new Registry([ok]).names).toEqual(["X"]);
  });
});

describe("dispatch", () => {
  test("envelope, unknown command, auth and validation errors name what is wrong", () => {
    const { c } = ctx();
    expect(run(c, [1])).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining("expected an object") });
    expect(run(c, { cmd: 5 })).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining("'cmd' must be a string") });
    expect(run(c, { cmd: "NOPE" })).toEqual({ ok: false, code: "UNKNOWN_COMMAND", error: "Unknown command: NOPE" });
    expect(run(c, { cmd: "PUSH", queue: "bad name!", data: raw(1) })).toEqual({ ok: false, code: "INVALID", error: expect.stringContaining("field 'queue'") });
    expect(run(c, { cmd: "PULLB", queue: "q", count: 0 }).error).toContain("field 'count'");
    expect(run(c, { cmd: "constructor" }).code).toBe("UNKNOWN_COMMAND");
    const locked = ctx(undefined, false).c;
    expect(run(locked, { cmd: "PUSH", queue: "q", data: raw(1) }).code).toBe("AUTH_REQUIRED");
    expect(run(locked, { cmd: "NOPE" }).code).toBe("AUTH_REQUIRED"); // no probing of the command set before AUTH
    expect(run(locked, { cmd: "PING" })).toEqual({ ok: true, pong: true });
    expect(run(locked, { cmd: "AUTH", token: "wrong" }).code).toBe("AUTH_FAILED");
    expect(run(locked, { cmd: "AUTH", token: "s3cret" })).toEqual({ ok: true });
    expect(run(locked, { cmd: "PUSH", queue: "q", data: raw(1) }).ok).toBe(true);
  });

  test("a programmer error in a handler is not turned into a client error", () => {
    const { c, engine } = ctx();
    engine.push = () => {
      throw new TypeError("boom");
    };
    expect(() => registry.dispatch(c, { cmd: "PUSH", queue: "q", data: raw(1) })).toThrow(TypeError);
  });

  test("PUSHB answers per item: ids in order with null for a refused entry, and errors naming each", () => {
    const { c, engine } = ctx();
    const big = new Raw(new Uint8Array(jobDataBytesMax + 1));
    const r = run(c, {
      cmd: "PUSHB", queue: "b",
      jobs: [{ data: raw(1), unique_key: "k" }, { data: raw(2), unique_key: "k" }, { data: big }, { data: raw(4), job_id: "same" }, { data: raw(5), job_id: "same" }],
    });
    expect(r.ok).toBe(true);
    expect(r.ids[1]).toBeNull();
    expect(r.ids[2]).toBeNull();
    expect(r.ids[3]).toBe(r.ids[4]); // the custom id answered with the existing job
    expect(r.errors).toEqual([
      { index: 1, code: "DUPLICATE", error: expect.stringContaining("unique_key 'k'") },
      { index: 2, code: "LIMIT", error: expect.stringContaining("Job data too large") },
    ]);
    expect(engine.queue("b").waitingCount).toBe(2);
  });

  test("ACKB counts what it completed and lists what it could not, with a code each", () => {
    const { c, engine } = ctx();
    const ids = [1, 2, 3].map((n) => engine.push({ queue: "a", data: encodeValue(n) }));
    engine.pull("a", 2);
    const r = run(c, { cmd: "ACKB", ids: [ids[0], ids[2], 999, ids[1], ids[0]] });
    expect(r).toEqual({
      ok: true, ids: [2], count: 2,
      failed: [
        { id: ids[2], code: "INVALID_STATE", error: expect.stringContaining("not active") },
        { id: 999, code: "NOT_FOUND", error: expect.any(String) },
        { id: ids[0], code: "INVALID_STATE", error: expect.stringContaining("completed") },
      ],
    });
    expect(run(c, { cmd: "ACKB", ids: [] })).toEqual({ ok: true, ids: [0], count: 0 });
  });

  test("RETRYDLQ with the id of another queue's job is NOT_FOUND, and the job stays in its DLQ", () => {
    const { c, engine } = ctx();
    const id = engine.push({ queue: "mine", data: encodeValue(1), maxAttempts: 1 });
    engine.pull("mine", 1);
    engine.failAttempt(id, undefined, "x");
    engine.queue("other");
    expect(run(c, { cmd: "RETRYDLQ", queue: "other", id })).toEqual({ ok: false, code: "NOT_FOUND", error: `Job ${id} is not in queue 'other'` });
    expect(engine.queue("mine").failed.has(engine.getJob(id)!)).toBe(true);
    expect(run(c, { cmd: "RETRYDLQ", queue: "mine", id })).toEqual({ ok: true, ids: [1], count: 1 });
    expect(engine.queue("mine").waitingCount).toBe(1);
  });

  test("a parked PULL is deferred and answered once, through defer()", () => {
    const { c, engine, deferred } = ctx();
    expect(registry.dispatch(c, { cmd: "PULL", queue: "p", timeout: 1000 })).toBe(DEFERRED);
    expect(c.session.parked.size).toBe(1);
    const id = engine.push({ queue: "p", data: encodeValue(1) });
    expect(deferred.length).toBe(1);
    expect((deferred[0]!.job as { id: number }).id).toBe(id);
    expect(c.session.parked.size).toBe(0);
  });
});
