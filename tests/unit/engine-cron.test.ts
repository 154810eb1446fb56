// Cron schedules in the engine, on a fake clock: a run fires at its slot through the timer (no
// polling), makes one job with the slot's custom id, the schedule's data, priority and options;
// time zones and 6-field patterns are read by croner; repeat_every keeps its phase; a limit
// deletes the schedule after its last run; slots missed while the loop was behind (or the
// server down) collapse into one run; bad patterns and zones are refused naming the field.

import { describe, expect, test } from "bun:test";
import type { ScheduleSpec } from "../../src/engine/scheduler.ts";
import { Harness, T0, bytes, expectClientError } from "./engine-harness.ts";

const spec = (over: Partial<ScheduleSpec> & { name?: string } = {}): ScheduleSpec => ({
  name: "s", pattern: null, everyMs: 1000, tz: "UTC", limit: 0, push: { queue: "q", data: bytes(1), priority: 3, name: "s" }, ...over,
});

describe("cron", () => {
  test("repeat_every: a job per period, at its slot, with the slot's custom id", () => {
    const h = new Harness();
    const s = h.engine.scheduler.upsert(spec());
    expect(s.deadline).toBe(T0 + 1000);
    expect(h.engine.nextDeadline()).toBe(T0 + 1000);
    h.advance(999);
    expect(h.engine.jobs.size).toBe(0);
    h.advance(1);
    const [job] = [...h.engine.jobs.values()];
    expect(job!.x!.customId).toBe(`cron:s:${T0 + 1000}`);
    expect(job!.priority).toBe(3);
    expect(job!.name).toBe("s");
    expect(s.deadline).toBe(T0 + 2000);
    expect(s.runs).toBe(1);
  });

  test("a 6-field pattern with seconds, in a time zone", () => {
    const h = new Harness();
    // T0 = 2023-11-14T22:13:20Z. "at second 30 of every minute".
    const s = h.engine.scheduler.upsert(spec({ pattern: "30 * * * * *", everyMs: 0 }));
    expect(new Date(s.deadline).toISOString()).toBe("2023-11-14T22:13:30.000Z");
    // 09:00 in Rome (UTC+1 in November) is 08:00Z.
    const rome = h.engine.scheduler.upsert(spec({ name: "r", pattern: "0 9 * * *", everyMs: 0, tz: "Europe/Rome" }));
    expect(new Date(rome.deadline).toISOString()).toBe("2023-11-15T08:00:00.000Z");
    expect(new Date(h.engine.scheduler.upsert(spec({ name: "b", pattern: "*/5", everyMs: 0 })).deadline).getTime()).toBe(T0 + 5000);
  });

  test("limit: deleted after its last run", () => {
    const h = new Harness();
    h.engine.scheduler.upsert(spec({ limit: 2 }));
    h.advance(1000);
    h.advance(1000);
    expect(h.engine.scheduler.size).toBe(0);
    h.advance(5000);
    expect(h.engine.jobs.size).toBe(2);
  });

  test("slots missed while behind collapse into one run; the next is the first slot after now", () => {
    const h = new Harness();
    const s = h.engine.scheduler.upsert(spec());
    h.advance(10_500);
    expect(h.engine.jobs.size).toBe(1);
    expect(s.deadline).toBe(T0 + 11_000); // phase kept
  });

  test("bad pattern, zone, or a pattern with no future run are refused naming the field", () => {
    const h = new Harness();
    expect(expectClientError(() => h.engine.scheduler.upsert(spec({ pattern: "61 * * * *", everyMs: 0 })), "INVALID").message).toContain("field 'schedule'");
    expect(expectClientError(() => h.engine.scheduler.upsert(spec({ pattern: "* * * * *", everyMs: 0, tz: "Mars/Olympus" })), "INVALID").message).toContain("field 'tz'");
    expect(h.engine.scheduler.size).toBe(0);
  });

  test("a refused push is recorded on the schedule and the schedule goes on", () => {
    const h = new Harness();
    const s = h.engine.scheduler.upsert(spec({ push: { queue: "q", data: bytes(1), uniqueKey: "one" } }));
    h.advance(1000);
    h.advance(1000); // the first job still holds the unique key
    expect(h.engine.jobs.size).toBe(1);
    expect(s.lastError).toContain("DUPLICATE");
    expect(s.runs).toBe(2);
  });
});
