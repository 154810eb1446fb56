// Dependencies (depends_on) and flows in the engine: a dependent waits in waitingchildren and
// becomes waiting (state included) the moment its last dependency completes; a failed or removed
// dependency fails it; a flow parent waits in waitingparent, gets its children's results, and a
// child's on_failure decides what its failure does (fail_parent, ignore, continue); a refused
// flow creates nothing; long chains resolve without recursion.

import { describe, expect, test } from "bun:test";
import type { FlowNode, PushInput } from "../../src/engine/engine.ts";
import { DependencyFailure } from "../../src/engine/model.ts";
import { Harness, bytes, checkInvariants, expectClientError } from "./engine-harness.ts";

const node = (push: Partial<PushInput>, children: FlowNode[] = []): FlowNode => ({ push: { queue: "q", data: bytes(0), ...push }, children });

function complete(h: Harness, id: number, result: Uint8Array | null = null): void {
  const j = h.engine.pull(h.job(id).queue.name, 1000).find((x) => x.id === id);
  if (j === undefined) throw new Error(`job ${id} was not delivered`);
  h.engine.complete(id, j.lockToken, result);
}

describe("depends_on", () => {
  test("waits in waitingchildren; waiting the moment the last dependency completes", () => {
    const h = new Harness();
    const a = h.push();
    const b = h.push({ queue: "other" });
    const d = h.push({ dependsOn: [a, b] });
    expect(h.state(d)).toBe("waitingchildren");
    expect(h.pullIds()).toEqual([a]);
    h.engine.complete(a, undefined, null);
    expect(h.state(d)).toBe("waitingchildren");
    complete(h, b);
    expect(h.state(d)).toBe("waiting");
    expect(h.pullIds()).toEqual([d]);
    checkInvariants(h.engine);
  });

  test("a completed dependency is already satisfied; an unknown one is NOT_FOUND; a failed one refused", () => {
    const h = new Harness();
    const a = h.push();
    complete(h, a);
    expect(h.state(h.push({ dependsOn: [a] }))).toBe("waiting");
    expectClientError(() => h.push({ dependsOn: [9999] }), "NOT_FOUND");
    const f = h.push({ maxAttempts: 1 });
    const j = h.engine.pull("q", 10).find((x) => x.id === f)!;
    h.engine.failAttempt(f, j.lockToken, "boom");
    expectClientError(() => h.push({ dependsOn: [f] }), "INVALID_STATE");
    checkInvariants(h.engine);
  });

  test("a dependency that fails for good, or is cancelled, fails the dependent with the reason", () => {
    const h = new Harness();
    const a = h.push({ maxAttempts: 1 });
    const b = h.push();
    const da = h.push({ dependsOn: [a] });
    const db = h.push({ dependsOn: [b] });
    const j = h.engine.pull("q", 10).find((x) => x.id === a)!;
    h.engine.failAttempt(a, j.lockToken, "boom");
    expect(h.state(da)).toBe("failed");
    expect(h.job(da).x!.error).toBe(`dependency ${a} failed: boom`);
    h.engine.cancel(b);
    expect(h.state(db)).toBe("failed");
    expect(h.job(db).x!.error).toContain("was removed before it completed");
    checkInvariants(h.engine);
  });

  test("a dependent with a delay is delayed from its creation once released", () => {
    const h = new Harness();
    const a = h.push();
    const d = h.push({ dependsOn: [a], delay: 5000 });
    h.advance(1000);
    complete(h, a);
    expect(h.state(d)).toBe("delayed");
    h.advance(4000);
    expect(h.state(d)).toBe("waiting");
  });

  test("a chain of 50,000 dependents fails through without recursion", () => {
    const h = new Harness();
    const first = h.push({ maxAttempts: 1 });
    let prev = first;
    const ids: number[] = [];
    for (let i = 0; i < 50_000; i++) ids.push((prev = h.push({ dependsOn: [prev] })));
    const j = h.engine.pull("q", 10).find((x) => x.id === first)!;
    h.engine.failAttempt(first, j.lockToken, "root");
    expect(h.state(ids[ids.length - 1]!)).toBe("failed");
    expect(h.q().failed.size).toBeGreaterThan(1000);
  });
});

describe("flows", () => {
  test("the parent waits for its nested children, gets their results, and then runs", () => {
    const h = new Harness();
    const { parent, children } = h.engine.flow(node({}, [node({ queue: "c1" }), node({ queue: "c2" }, [node({ queue: "g" })])]));
    const [c1, c2] = children;
    expect(h.state(parent.id)).toBe("waitingparent");
    expect(h.state(c2!.id)).toBe("waitingparent");
    expect(parent.x!.childrenIds).toEqual([c1!.id, c2!.id]);
    expect(c1!.x!.parentId).toBe(parent.id);
    checkInvariants(h.engine);
    const g = c2!.x!.childrenIds![0]!;
    complete(h, g, bytes(7));
    expect(h.state(c2!.id)).toBe("waiting");
    complete(h, c2!.id, bytes(2));
    complete(h, c1!.id, bytes(1));
    expect(h.state(parent.id)).toBe("waiting");
    expect(parent.x!.childrenCompleted).toBe(2);
    expect(parent.x!.childValues!.map(([id, r, q]) => [id, [...r!], q])).toEqual([[c2!.id, [...bytes(2)], c2!.queue.name], [c1!.id, [...bytes(1)], c1!.queue.name]]);
    checkInvariants(h.engine);
  });

  for (const [policy, expected] of [[DependencyFailure.Fail, "failed"], [DependencyFailure.Ignore, "waiting"], [DependencyFailure.Continue, "waiting"]] as const) {
    test(`a failed child with on_failure ${policy}: the parent is ${expected}`, () => {
      const h = new Harness();
      const { parent, children } = h.engine.flow(node({}, [node({ maxAttempts: 1, onFailure: policy }), node({ queue: "slow" })]));
      const c = children[0]!;
      const j = h.engine.pull("q", 10).find((x) => x.id === c.id)!;
      h.engine.failAttempt(c.id, j.lockToken, "child broke");
      if (policy === DependencyFailure.Ignore) {
        expect(h.state(parent.id)).toBe("waitingparent"); // the other child is still running
        complete(h, children[1]!.id);
      }
      expect(h.state(parent.id)).toBe(expected);
      if (expected === "failed") expect(parent.x!.error).toBe(`child ${c.id} failed: child broke`);
      checkInvariants(h.engine);
    });
  }

  test("a refused flow creates nothing: duplicate unique_key, job_id in use, too many jobs", () => {
    const h = new Harness();
    h.push({ uniqueKey: "u", customId: "taken" });
    const before = h.engine.jobs.size;
    const next = h.engine.nextId;
    expectClientError(() => h.engine.flow(node({}, [node({ uniqueKey: "u" })])), "DUPLICATE");
    expectClientError(() => h.engine.flow(node({}, [node({ queue: "x", uniqueKey: "v" }), node({ queue: "x", uniqueKey: "v" })])), "DUPLICATE");
    expectClientError(() => h.engine.flow(node({}, [node({ customId: "taken" })])), "DUPLICATE");
    expectClientError(() => h.engine.flow(node({}, Array.from({ length: 1000 }, () => node({})))), "LIMIT");
    expect(h.engine.jobs.size).toBe(before);
    expect(h.engine.nextId).toBe(next);
    checkInvariants(h.engine);
  });
});
