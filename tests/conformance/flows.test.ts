// Flows and dependencies over real sockets, on every backend: depends_on holds a job in
// waitingchildren until its dependencies complete (state and fields on the wire); FLOW builds a
// nested tree across queues, the parent runs when its children complete and reads their results
// with GETCHILDREN; a child's failure fails the parent (with the reason) unless its on_failure
// says otherwise; a flow nested too deep, or with options that make no sense inside one, is
// refused naming the field and creates nothing.

import { describe, expect, test } from "bun:test";
import { flowDepthMax } from "../../src/constants.ts";
import { availableBackends, serverPerSuite, variants } from "../helpers/backends.ts";
import type { RawClient } from "../helpers/raw-client.ts";

const avail = await availableBackends("conformance/flows");

/** Pulls one job of `queue` and acks it with `result`; returns its id. */
async function work(c: RawClient, queue: string, result: unknown): Promise<number> {
  const { job } = await c.call({ cmd: "PULL", queue, timeout: 0 });
  expect(job).not.toBeNull();
  expect(await c.call({ cmd: "ACK", id: job.id, result })).toEqual({ ok: true });
  return job.id;
}

function nested(depth: number): Record<string, unknown> {
  return depth === 0 ? { queue: "deep", data: 0 } : { queue: "deep", data: depth, children: [nested(depth - 1)] };
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available)(`flows and dependencies [${name}]`, () => {
    const open = serverPerSuite({ io, env });

    test("depends_on: waitingchildren until every dependency completes, then waiting", async () => {
      const c = await open();
      const a = (await c.call({ cmd: "PUSH", queue: "dep-a", data: 1 })).id;
      const b = (await c.call({ cmd: "PUSH", queue: "dep-b", data: 2 })).id;
      const d = (await c.call({ cmd: "PUSH", queue: "dep-d", data: 3, depends_on: [a, b] })).id;
      expect(await c.call({ cmd: "GETJOB", id: d })).toMatchObject({ job: { depends_on: [a, b] }, state: "waitingchildren" });
      expect((await c.call({ cmd: "PULL", queue: "dep-d", timeout: 0 })).job).toBeNull();
      await work(c, "dep-a", null);
      expect((await c.call({ cmd: "GETSTATE", id: d })).state).toBe("waitingchildren");
      await work(c, "dep-b", null);
      expect((await c.call({ cmd: "GETSTATE", id: d })).state).toBe("waiting");
      expect(await work(c, "dep-d", null)).toBe(d);
      expect(await c.call({ cmd: "PUSH", queue: "dep-d", data: 4, depends_on: [987_654_321] })).toMatchObject({ ok: false, code: "NOT_FOUND" });
      c.close();
    });

    test("FLOW: nested children across queues; the parent runs after them and reads their results", async () => {
      const c = await open();
      const t = await open();
      const flow = await c.call({
        cmd: "FLOW", queue: "fl-parent", data: { report: true }, priority: 5,
        children: [
          { queue: "fl-a", data: "a" },
          { queue: "fl-b", data: "b", children: [{ queue: "fl-g", data: "g" }] },
        ],
      });
      const [ca, cb] = flow.children_ids;
      expect([flow.ok, typeof flow.parent_id, typeof ca, typeof cb, flow.children_ids.length]).toEqual([true, "number", "number", "number", 2]);
      expect(await c.call({ cmd: "GETJOB", id: flow.parent_id })).toMatchObject({ job: { children_ids: [ca, cb], children_completed: 0, priority: 5 }, state: "waitingparent" });
      expect(await c.call({ cmd: "GETJOB", id: cb })).toMatchObject({ job: { parent_id: flow.parent_id }, state: "waitingparent" });
      expect((await c.call({ cmd: "PULL", queue: "fl-b", timeout: 0 })).job).toBeNull();
      await work(c, "fl-g", "g-done");
      await work(c, "fl-b", { b: 2 });
      expect((await c.call({ cmd: "GETSTATE", id: flow.parent_id })).state).toBe("waitingparent");
      await work(c, "fl-a", [1]);
      const kids = await t.ask({ cmd: "GETCHILDREN", parent_id: flow.parent_id });
      expect(kids).toMatchObject({ ok: true, parent_id: flow.parent_id, completed: 2, total: 2 });
      expect(kids.children.map((j: { id: number; state: string }) => [j.id, j.state])).toEqual([[ca, "completed"], [cb, "completed"]]);
      expect(kids.results).toEqual([{ id: cb, queue: "fl-b", result: { b: 2 } }, { id: ca, queue: "fl-a", result: [1] }]);
      // The children's records may go (CANCEL of a finished job removes it): their results and
      // queues stay with the parent.
      await c.call({ cmd: "CANCEL", id: ca });
      const after = await t.ask({ cmd: "GETCHILDREN", parent_id: flow.parent_id });
      expect(after.children.map((j: { id: number }) => j.id)).toEqual([cb]);
      expect(after.results).toEqual([{ id: cb, queue: "fl-b", result: { b: 2 } }, { id: ca, queue: "fl-a", result: [1] }]);
      expect(await work(c, "fl-parent", "all")).toBe(flow.parent_id);
      c.close();
      t.close();
    });

    test("a child's failure fails the parent with the reason; on_failure ignore and continue do not", async () => {
      const c = await open();
      const mk = (policy?: string) => c.call({
        cmd: "FLOW", queue: "ff-parent", data: 0,
        children: [{ queue: "ff-child", data: 1, max_attempts: 1, ...(policy ? { on_failure: policy } : {}) }, { queue: "ff-other", data: 2 }],
      });
      for (const policy of [undefined, "ignore", "continue"]) {
        const flow = await mk(policy);
        const { job } = await c.call({ cmd: "PULL", queue: "ff-child", timeout: 0 });
        await c.call({ cmd: "FAIL", id: job.id, error: "child broke" });
        const parent = await c.call({ cmd: "GETJOB", id: flow.parent_id });
        if (policy === undefined) {
          expect(parent).toMatchObject({ state: "failed", job: { failed_reason: `child ${job.id} failed: child broke` } });
        } else if (policy === "ignore") {
          expect(parent.state).toBe("waitingparent");
          await work(c, "ff-other", null);
          expect((await c.call({ cmd: "GETSTATE", id: flow.parent_id })).state).toBe("waiting");
        } else {
          expect(parent.state).toBe("waiting");
        }
        await c.call({ cmd: "OBLITERATE", queue: "ff-other" });
        await c.call({ cmd: "OBLITERATE", queue: "ff-parent" });
      }
      c.close();
    });

    test("a flow nested too deep, or with depends_on/debounce inside, is refused naming the field and creates nothing", async () => {
      const c = await open();
      const before = (await c.call({ cmd: "STATS" })).queued;
      const deep = await c.call({ cmd: "FLOW", queue: "deep", data: "root", children: [nested(flowDepthMax)] });
      expect(deep).toMatchObject({ ok: false, code: "INVALID" });
      expect(deep.error).toMatch(/children/);
      const dep = await c.call({ cmd: "FLOW", queue: "bad", data: 0, children: [{ queue: "bad", data: 1, children: [{ queue: "bad", data: 2, depends_on: [1] }] }] });
      expect(dep).toMatchObject({ ok: false, code: "INVALID", error: expect.stringContaining("field 'children.0.children.0.depends_on'") });
      const t = await open();
      const deb = await t.ask({ cmd: "FLOW", queue: "bad", data: 0, children: [{ queue: "bad", data: 1, debounce_id: "x" }] });
      t.close();
      expect(deb).toMatchObject({ ok: false, code: "INVALID", error: expect.stringContaining("debounce_id") });
      expect((await c.call({ cmd: "STATS" })).queued).toBe(before);
      c.close();
    });
  });
}
