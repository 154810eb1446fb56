// The KV commands over real sockets, on every backend and in both framings, with flashQ's reply
// shapes: values come back as sent (binary bytes included), TTLs expire on the engine's timer
// (and read as missing), KVINCR counts, KVKEYS globs, KVMSET is all or none, the limits are
// errors naming them; and KV survives a restart with DATA_PATH, expired keys excepted.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kvValueBytesMax } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/kv");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`KV [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    for (const mode of ["binary", "text"] as const) {
      test(`set, get, exists, ttl, expire, del, mget, mset, keys, incr [${mode}]`, async () => {
        const c = await open();
        const call = (r: Record<string, unknown>): Promise<any> => (mode === "binary" ? c.call(r) : c.ask(r));
        const k = (s: string) => `${mode}:${s}`;
        const value = mode === "binary" ? { n: 1, bytes: new Uint8Array([0, 255]) } : { n: 1, list: [1, "two"] };
        expect(await call({ cmd: "KVSET", key: k("a"), value })).toEqual({ ok: true });
        const got = await call({ cmd: "KVGET", key: k("a") });
        expect(got.ok).toBe(true);
        if (mode === "binary") expect([got.value.n, [...got.value.bytes]]).toEqual([1, [0, 255]]);
        else expect(got.value).toEqual(value);
        expect(await call({ cmd: "KVGET", key: k("missing") })).toEqual({ ok: true, value: null });
        expect(await call({ cmd: "KVEXISTS", key: k("a") })).toEqual({ ok: true, exists: true });
        expect(await call({ cmd: "KVTTL", key: k("a") })).toEqual({ ok: true, ttl: -1 });
        expect(await call({ cmd: "KVTTL", key: k("missing") })).toEqual({ ok: true, ttl: -2 });
        expect(await call({ cmd: "KVEXPIRE", key: k("a"), ttl: 60_000 })).toEqual({ ok: true, exists: true });
        const ttl = (await call({ cmd: "KVTTL", key: k("a") })).ttl;
        expect(ttl).toBeGreaterThan(59_000);
        expect(ttl).toBeLessThanOrEqual(60_000);
        expect(await call({ cmd: "KVEXPIRE", key: k("missing"), ttl: 10 })).toEqual({ ok: true, exists: false });
        expect(await call({ cmd: "KVMSET", entries: [{ key: k("m1"), value: 1 }, { key: k("m2"), value: "two", ttl: 60_000 }] })).toEqual({ ok: true, count: 2 });
        expect(await call({ cmd: "KVMGET", keys: [k("m1"), k("nope"), k("m2")] })).toEqual({ ok: true, values: [1, null, "two"] });
        expect((await call({ cmd: "KVKEYS", pattern: `${mode}:m?` })).keys.sort()).toEqual([k("m1"), k("m2")]);
        expect((await call({ cmd: "KVKEYS", pattern: `${mode}:*` })).keys.length).toBe(3);
        expect(await call({ cmd: "KVINCR", key: k("n") })).toEqual({ ok: true, value: 1 });
        expect(await call({ cmd: "KVINCR", key: k("n"), by: 41 })).toEqual({ ok: true, value: 42 });
        expect(await call({ cmd: "KVINCR", key: k("m2") })).toMatchObject({ ok: false, code: "INVALID_STATE" });
        expect(await call({ cmd: "KVDEL", key: k("a") })).toEqual({ ok: true, exists: true });
        expect(await call({ cmd: "KVDEL", key: k("a") })).toEqual({ ok: true, exists: false });
        c.close();
      });
    }

    test("a ttl expires on the timer; an oversized value and an oversized KVMSET entry change nothing", async () => {
      const c = await open();
      await c.call({ cmd: "KVSET", key: "short", value: 1, ttl: 50 });
      expect((await c.call({ cmd: "KVGET", key: "short" })).value).toBe(1);
      await sleep(120);
      expect(await c.call({ cmd: "KVGET", key: "short" })).toEqual({ ok: true, value: null });
      expect((await c.call({ cmd: "KVKEYS", pattern: "short" })).keys).toEqual([]);
      const big = "x".repeat(kvValueBytesMax + 1);
      expect(await c.call({ cmd: "KVSET", key: "big", value: big })).toMatchObject({ ok: false, code: "LIMIT" });
      expect(await c.call({ cmd: "KVMSET", entries: [{ key: "ok1", value: 1 }, { key: "big", value: big }] })).toMatchObject({ ok: false, code: "LIMIT" });
      expect(await c.call({ cmd: "KVEXISTS", key: "ok1" })).toEqual({ ok: true, exists: false });
      c.close();
    });
  });
}

describe("KV across a restart", () => {
  const dir = mkdtempSync(join(tmpdir(), "ringq-kv-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("values and TTLs survive; keys that expired while the server was down are gone", async () => {
    const env = { DATA_PATH: join(dir, "kv.db") };
    let s = await ServerProcess.start({ env });
    let c = await RawClient.connect(s.port);
    await c.call({ cmd: "KVSET", key: "keep", value: { deep: [1, 2, 3] } });
    await c.call({ cmd: "KVSET", key: "ttl", value: "later", ttl: 60_000 });
    await c.call({ cmd: "KVSET", key: "soon", value: "gone", ttl: 200 });
    await c.call({ cmd: "KVINCR", key: "count", by: 7 });
    c.close();
    await s.stop();
    await sleep(300);
    s = await ServerProcess.start({ env });
    c = await RawClient.connect(s.port);
    expect(await c.call({ cmd: "KVMGET", keys: ["keep", "ttl", "soon", "count"] })).toEqual({ ok: true, values: [{ deep: [1, 2, 3] }, "later", null, 7] });
    const ttl = (await c.call({ cmd: "KVTTL", key: "ttl" })).ttl;
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThan(60_000);
    expect((await c.call({ cmd: "KVKEYS" })).keys.sort()).toEqual(["count", "keep", "ttl"]);
    c.close();
    await s.stop();
  });
});
