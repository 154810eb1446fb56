// "null means absent" over a real socket, as flashQ's clients send it: every push option nil in
// a PUSH and inside PUSHB's jobs, FAIL with `error: null`, in both framings, on every backend;
// the jobs come out with the defaults, as if the fields had not been sent.

import { describe, expect, test } from "bun:test";
import { pushOptions } from "../../src/dispatch/fields.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";

const avail = await availableBackends("protocol/null-absent");

const allNil = Object.fromEntries(Object.keys(pushOptions).map((k) => [k, null]));

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`null means absent [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    for (const mode of ["binary", "text"] as const) {
      test(`PUSH and PUSHB with every option nil, FAIL with a nil error [${mode}]`, async () => {
        const c = await open();
        const call = (r: Record<string, unknown>): Promise<any> => (mode === "binary" ? c.call(r) : c.ask(r));
        const q = `nil-${io}-${mode}`;
        const a = await call({ cmd: "PUSH", queue: q, data: { n: 1 }, ...allNil });
        expect(a).toMatchObject({ ok: true });
        const b = await call({ cmd: "PUSHB", queue: q, jobs: [{ data: 2, ...allNil }] });
        expect([b.ok, b.ids.length, typeof b.ids[0], b.errors]).toEqual([true, 1, "number", undefined]);
        const pulled = await call({ cmd: "PULLB", queue: q, count: 2, timeout: null });
        expect(pulled.jobs.map((j: any) => j.id)).toEqual([a.id, b.ids[0]]);
        for (const j of pulled.jobs) {
          expect(j).toMatchObject({ priority: 0, max_attempts: 3, backoff: 0, ttl: null, timeout: null, stall_timeout: 30_000, lifo: false, custom_id: null });
        }
        expect(await call({ cmd: "FAIL", id: a.id, error: null, lock_token: null })).toEqual({ ok: true });
        expect(await call({ cmd: "GETJOB", id: null })).toMatchObject({ ok: false, code: "INVALID", error: expect.stringContaining("field 'id'") });
        c.close();
      });
    }
  });
}
