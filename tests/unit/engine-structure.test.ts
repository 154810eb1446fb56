// The engine's shape, as issue 9 asked for it: events of one transition in causal order, from-
// state checks before any change (PROGRESS), the flow states handled by restore and detach,
// per-queue operations that never touch the table of every job, the timer registry that new
// components plug into without editing tick, the event bus with several listeners, and the
// in-order listing of a heap without sorting it.

import { describe, expect, test } from "bun:test";
import { IndexedHeap } from "../../src/engine/heap.ts";
import { Job, JobState, kindSpec, QueueState } from "../../src/engine/model.ts";
import { readyBefore } from "../../src/engine/ready-queue.ts";
import { drain, jobsInState, obliterate, runAll } from "../../src/engine/queries.ts";
import { DeadlineTimer, TimerRegistry, type TimerComponent } from "../../src/engine/timers.ts";
import { rng } from "../helpers/rng.ts";
import { Harness, T0, bytes, checkInvariants, expectClientError } from "./engine-harness.ts";

describe("events come out in causal order", () => {
  test("ACK of a group's job: completed:A before active:B for the next job of the group", () => {
    const h = new Harness();
    const a = h.push({ groupId: "g" });
    const b = h.push({ groupId: "g" });
    expect(h.pullIds()).toEqual([a]); // b is held behind its busy group
    let got: number[] | null = null;
    h.engine.pullOrPark("q", 1, 60_000, (jobs) => (got = jobs.map((j) => j.id)));
    h.events = [];
    h.engine.complete(a, undefined, null);
    expect(got as unknown).toEqual([b]);
    expect(h.events).toEqual([{ event: "completed", id: a }, { event: "active", id: b }]);
    checkInvariants(h.engine);
  });

  test("a failed attempt that frees the group: retried:A, then active:B", () => {
    const h = new Harness();
    const a = h.push({ groupId: "g", backoff: 1000 });
    const b = h.push({ groupId: "g" });
    expect(h.pullIds()).toEqual([a]);
    h.engine.pullOrPark("q", 1, 60_000, () => {});
    h.events = [];
    h.engine.failAttempt(a, undefined, "x");
    expect(h.events).toEqual([{ event: "retried", id: a }, { event: "active", id: b }]);
  });

  test("a push to a parked puller: waiting, then active", () => {
    const h = new Harness();
    h.engine.pullOrPark("q", 1, 60_000, () => {});
    h.events = [];
    const id = h.push();
    expect(h.events).toEqual([{ event: "waiting", id }, { event: "active", id }]);
  });
});

describe("from-state checks come before any change", () => {
  test("PROGRESS is refused on a job that is not active, with no journal entry and no event", () => {
    const h = new Harness();
    const waiting = h.push();
    const done = h.push();
    h.pullIds("q", 1);
    h.engine.complete(waiting, undefined, null);
    expect(h.pullIds("q", 1)).toEqual([done]);
    h.engine.complete(done, undefined, null);
    h.journal.take();
    h.events = [];
    const fresh = h.push();
    h.journal.take();
    h.events = [];
    for (const id of [done, fresh]) expectClientError(() => h.engine.setProgress(h.job(id), 50, "half"), "INVALID_STATE");
    expect(h.job(done).x?.progress ?? 0).toBe(0);
    expect(h.journal.take()).toEqual([]);
    expect(h.events).toEqual([]);
    // On an active job it works, journals once and emits one progress event.
    const active = h.pullOne()!;
    h.journal.take();
    h.events = [];
    h.engine.setProgress(active, 40, "step");
    expect(h.journal.take()).toEqual([{ kind: "changed", id: active.id, state: "active" }]);
    expect(h.events).toEqual([{ event: "progress", id: active.id }]);
  });

  test("field changes (priority, data, log) each write one journal entry", () => {
    const h = new Harness();
    const id = h.push();
    h.journal.take();
    h.engine.changePriority(h.job(id), 5);
    h.engine.updateData(h.job(id), bytes(99));
    h.engine.addLog(h.job(id), "hello", "info");
    expect(h.journal.take().map((e) => e.kind)).toEqual(["changed", "changed", "changed"]);
  });
});

describe("flow states (waitingchildren, waitingparent)", () => {
  test("restore puts them in the queue's blocked index, and removal takes them out", () => {
    const h = new Harness();
    const q = h.q("flows");
    const jobs = [JobState.WaitingChildren, JobState.WaitingParent].map((state, i) => {
      const j = new Job(100 + i, q, bytes(i), T0, T0, kindSpec());
      j.state = state;
      j.extra().pendingDeps = 1;
      h.engine.restore(j);
      return j;
    });
    expect(q.blocked.size).toBe(2);
    expect(h.state(100)).toBe("waitingchildren");
    expect(h.state(101)).toBe("waitingparent");
    expect([...jobsInState(q, "waitingparent")].map((j) => j.id)).toEqual([101]);
    checkInvariants(h.engine);
    h.engine.remove(jobs[0]!);
    expect(q.blocked.size).toBe(1);
    expect(runAll(obliterate(h.engine, q))).toBe(1);
    expect(h.engine.getJob(101)).toBeUndefined();
    checkInvariants(h.engine);
  });

  test("restore refuses a state it does not know", () => {
    const h = new Harness();
    const j = new Job(7, h.q(), bytes(7), T0, T0, kindSpec());
    j.state = 9 as JobState;
    expect(() => h.engine.restore(j)).toThrow(/unknown state/);
  });
});

describe("per-queue operations never walk the table of every job", () => {
  test("drain, obliterate and listings of one queue use that queue's structures only", () => {
    const h = new Harness();
    for (let i = 0; i < 50; i++) h.push({ queue: "other", delay: i % 2 === 0 ? 1000 : 0 });
    const mine = [h.push(), h.push({ delay: 500 }), h.push({ groupId: "g" }), h.push({ groupId: "g" })];
    h.pullIds("q", 1);
    const table = h.engine.jobs as unknown as Record<string | symbol, unknown>;
    for (const k of ["values", "keys", Symbol.iterator]) {
      table[k] = () => {
        throw new Error("walked the table of every job");
      };
    }
    expect([...jobsInState(h.q(), undefined)].map((j) => j.id).sort()).toEqual([...mine].sort());
    expect(runAll(drain(h.engine, h.q()))).toBe(3);
    expect(runAll(obliterate(h.engine, h.q()))).toBe(1);
    expect(h.q("other").waitingCount + h.q("other").delayedCount).toBe(50);
  });

  test("obliterate journals the queue's removal", () => {
    const h = new Harness();
    h.engine.setPaused(h.q("gone"), true);
    h.push({ queue: "gone" });
    h.journal.take();
    runAll(obliterate(h.engine, h.q("gone")));
    // Unpaused as it empties, then forgotten: after a restart it is neither there nor paused.
    expect(h.journal.take().slice(-2)).toEqual([{ kind: "queue", id: 0, state: "resumed" }, { kind: "queue-removed", id: 0, state: "resumed" }]);
    expect(h.engine.queues.has("gone")).toBe(false);
  });
});

describe("timers", () => {
  test("the engine's components are registered by name, and a new one plugs into tick", () => {
    const h = new Harness();
    expect(h.engine.timers.names).toEqual(["delays", "leases", "ttl", "rate-refills", "pulls", "waitjob", "retention", "record-expiry", "dedup-windows", "kv-expiry", "cron", "bulk"]);
    const fired: number[] = [];
    const ticks = new DeadlineTimer<{ hi: number; deadline: number }>("test", (item, now) => {
      fired.push(now);
      ticks.remove(item);
    });
    h.engine.addTimer(ticks);
    ticks.push({ hi: -1, deadline: T0 + 42 });
    expect(h.engine.nextDeadline()).toBe(T0 + 42);
    expect(h.at(T0 + 41)).toBe(T0 + 42);
    expect(fired).toEqual([]);
    expect(h.at(T0 + 42)).toBe(Infinity);
    expect(fired).toEqual([T0 + 42]);
    expect(() => h.engine.addTimer(ticks)).toThrow(/twice/);
  });

  test("tick uses the time it is given, and a budget that runs out asks to come back at once", () => {
    const reg = new TimerRegistry();
    let done = 0;
    const busy: TimerComponent = {
      name: "busy",
      nextDeadline: () => (done < 10 ? 5 : Infinity),
      runDue: (_now, budget) => {
        const n = Math.min(budget, 10 - done);
        done += n;
        return n;
      },
    };
    reg.add(busy);
    expect(reg.runDue(4, 100)).toBe(true);
    expect(done).toBe(0); // not due at 4
    expect(reg.runDue(5, 3)).toBe(false); // 3 of 10 done: more to do
    expect(done).toBe(3);
    expect(reg.runDue(5, 100)).toBe(true);
    expect(done).toBe(10);
  });

  test("a handler that leaves its due item in the heap is a programmer error, not a loop", () => {
    const t = new DeadlineTimer<{ hi: number; deadline: number }>("bad", () => {});
    t.push({ hi: -1, deadline: 1 });
    expect(() => t.runDue(1, 100)).toThrow(/left its due item/);
  });
});

describe("event bus", () => {
  test("several listeners each see every event; one that leaves stops seeing them", () => {
    const h = new Harness();
    const a: string[] = [];
    const b: string[] = [];
    const la = (e: string) => a.push(e);
    const lb = (e: string) => b.push(e);
    h.engine.events.on(la);
    h.engine.events.on(lb);
    h.push();
    h.engine.events.off(la);
    h.push({ delay: 10 });
    expect(a).toEqual(["waiting"]);
    expect(b).toEqual(["waiting", "delayed"]);
  });
});

describe("IndexedHeap.ordered", () => {
  test("yields the heap in order without changing it, lazily", () => {
    const r = rng(9);
    const q = new QueueState("h");
    const h = new IndexedHeap<Job>(readyBefore);
    const jobs = Array.from({ length: 500 }, (_, i) => {
      const j = new Job(i + 1, q, bytes(i), 0, 0, kindSpec({ priority: Math.floor(r() * 5) }));
      j.seq = i + 1;
      h.push(j);
      return j;
    });
    const sorted = [...jobs].sort((x, y) => (readyBefore(x, y) ? -1 : readyBefore(y, x) ? 1 : 0));
    expect([...h.ordered()].map((j) => j.id)).toEqual(sorted.map((j) => j.id));
    const first3 = [];
    for (const j of h.ordered()) {
      first3.push(j.id);
      if (first3.length === 3) break;
    }
    expect(first3).toEqual(sorted.slice(0, 3).map((j) => j.id));
    expect(h.size).toBe(500);
    expect(h.pop()).toBe(sorted[0]);
  });
});
