// Cron and repeatable jobs (CRON, CRONDELETE, CRONLIST): each schedule is a timer item keyed by
// its next run, so nothing polls and a run fires within a loop turn of its time. A cron pattern
// (5 fields, or 6 with seconds first) is evaluated by croner in the schedule's IANA time zone
// (DST included); `repeat_every` runs at a fixed rate from creation. A run pushes one job whose
// custom id names the slot (`cron:<name>:<slot ms>`), in the same loop turn, and so the same
// commit, as the schedule's advance: after a crash either both are stored or neither is, and a
// slot never makes two jobs. Slots missed while the server was down (or while the loop was
// behind) collapse into one run, and the next is the first slot after now. A schedule with a
// `limit` is deleted after its last run. Stored as records (kind Schedule), one per name.

import { Cron } from "croner";
import { schedulesMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import type { PushInput } from "./core.ts";
import type { HeapItem } from "./heap.ts";
import type { Journal } from "./journal.ts";
import { RecordKind, type RecordOwner } from "./records.ts";
import { DeadlineTimer } from "./timers.ts";

/** What makes the jobs of a schedule: everything a push takes but the custom id (set per slot). */
export type ScheduledPush = Omit<PushInput, "customId" | "dependsOn">;

export interface ScheduleSpec {
  readonly name: string;
  /** A cron pattern, or null with `everyMs`. */
  readonly pattern: string | null;
  readonly everyMs: number;
  /** IANA time zone the pattern is read in. */
  readonly tz: string;
  /** Runs before the schedule is deleted; 0: no limit. */
  readonly limit: number;
  readonly push: ScheduledPush;
}

export class Schedule implements HeapItem {
  hi = -1;
  /** The next run (ms epoch): the timer's key. */
  deadline = 0;
  runs = 0;
  /** Why the last run made no job (the push was refused), or null. */
  lastError: string | null = null;
  constructor(
    readonly spec: ScheduleSpec,
    readonly cron: Cron | null,
    readonly createdAt: number,
  ) {}

  /** The first slot after `t`, or null when the pattern has none. */
  nextAfter(t: number): number | null {
    if (this.cron === null) {
      const every = this.spec.everyMs;
      const k = Math.floor((t - this.createdAt) / every) + 1;
      return this.createdAt + k * every;
    }
    const next = this.cron.nextRun(new Date(t));
    return next === null ? null : next.getTime();
  }
}

/** The stored form (records table): never rename without a migration. */
interface StoredSchedule {
  pattern: string | null;
  every: number;
  tz: string;
  limit: number;
  push: ScheduledPush;
  next: number;
  runs: number;
  created: number;
}

/** flashQ's bare `*∕N`: every N seconds. */
const everySeconds = /^\*\/(\d+)$/;

export class Scheduler implements RecordOwner {
  readonly kind = RecordKind.Schedule;
  private readonly byName = new Map<string, Schedule>();
  /** Schedules by their next run (the engine registers it with its timers). */
  readonly timer = new DeadlineTimer<Schedule>("cron", (s, now) => this.fire(s, now));

  constructor(
    private readonly now: () => number,
    private readonly journal: () => Journal,
    /** The engine's push transition; throws ClientError for a refused push. */
    private readonly push: (p: PushInput) => number,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  list(): Schedule[] {
    return [...this.byName.values()];
  }

  get(name: string): Schedule | undefined {
    return this.byName.get(name);
  }

  /** Parses and checks a schedule (ClientError naming what is wrong); creates nothing. */
  compile(spec: ScheduleSpec, now = this.now()): Schedule {
    let s: Schedule;
    if (spec.pattern !== null) {
      const bare = everySeconds.exec(spec.pattern.trim());
      if (bare !== null) {
        const seconds = Number(bare[1]);
        if (seconds < 1) throw new ClientError("INVALID", `Invalid CRON request: field 'schedule': '${spec.pattern}' repeats every 0 seconds`);
        return this.compile({ ...spec, pattern: null, everyMs: seconds * 1000 }, now);
      }
      checkTimeZone(spec.tz);
      let cron: Cron;
      try {
        cron = new Cron(spec.pattern, { timezone: spec.tz, mode: "5-or-6-parts" });
      } catch (e) {
        throw new ClientError("INVALID", `Invalid CRON request: field 'schedule': ${(e as Error).message} (5 fields, 6 with seconds first, or */N for every N seconds)`);
      }
      s = new Schedule(spec, cron, now);
    } else {
      s = new Schedule(spec, null, now);
    }
    const next = s.nextAfter(now);
    if (next === null) throw new ClientError("INVALID", `Invalid CRON request: field 'schedule': '${spec.pattern}' has no run after now`);
    s.deadline = next;
    return s;
  }

  /** CRON: creates or replaces (same name) a schedule. */
  upsert(given: ScheduleSpec): Schedule {
    const spec = { ...given, push: definedOnly(given.push) };
    const old = this.byName.get(spec.name);
    if (old === undefined && this.byName.size >= schedulesMax) {
      throw new ClientError("LIMIT", `Too many cron schedules (limit ${schedulesMax}): CRONDELETE the ones no longer used`);
    }
    const s = this.compile(spec);
    if (old !== undefined) this.timer.remove(old);
    this.byName.set(spec.name, s);
    this.timer.push(s);
    this.persist(s);
    return s;
  }

  delete(name: string): boolean {
    const s = this.byName.get(name);
    if (s === undefined) return false;
    this.byName.delete(name);
    if (this.timer.has(s)) this.timer.remove(s);
    this.journal().recordRemoved(RecordKind.Schedule, name);
    return true;
  }

  /** The schedules pushing to a queue (OBLITERATE removes them with the queue). */
  deleteQueue(queue: string): number {
    let n = 0;
    for (const s of [...this.byName.values()]) if (s.spec.push.queue === queue && this.delete(s.spec.name)) n++;
    return n;
  }

  private persist(s: Schedule): void {
    const spec = s.spec;
    const stored: StoredSchedule = {
      pattern: spec.pattern, every: spec.everyMs, tz: spec.tz, limit: spec.limit, push: definedOnly(spec.push),
      next: s.deadline, runs: s.runs, created: s.createdAt,
    };
    this.journal().recordChanged(RecordKind.Schedule, spec.name, stored);
  }

  /** One run for the due slot (however many were missed), then the first slot after now. */
  private fire(s: Schedule, now: number): void {
    const slot = s.deadline;
    const spec = s.spec;
    try {
      this.push({ ...spec.push, customId: `cron:${spec.name}:${slot}` });
      s.lastError = null;
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      s.lastError = `${e.code}: ${e.message}`;
    }
    s.runs++;
    const next = spec.limit > 0 && s.runs >= spec.limit ? null : s.nextAfter(Math.max(now, slot));
    if (next === null) {
      this.delete(spec.name);
      return;
    }
    s.deadline = next;
    this.timer.update(s);
    this.persist(s);
  }

  // ---- recovery ----

  restore(key: string, value: unknown): void {
    const v = value as StoredSchedule;
    if (typeof v?.next !== "number" || typeof v.push?.queue !== "string") throw new Error("not a stored schedule");
    const spec: ScheduleSpec = { name: key, pattern: v.pattern, everyMs: v.every, tz: v.tz, limit: v.limit, push: definedOnly(v.push) };
    const s = this.compile(spec, v.created);
    s.deadline = v.next; // a slot missed while down stays due: it fires once on the first tick
    s.runs = v.runs;
    this.byName.set(key, s);
    this.timer.push(s);
  }
}

/** The push without its unset options: stored ones come back as they were set (MessagePack has
 *  no undefined, and a null option would read as set). */
function definedOnly(p: ScheduledPush): ScheduledPush {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== null) out[k] = v;
  return out as unknown as ScheduledPush;
}

function checkTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    throw new ClientError("INVALID", `Invalid CRON request: field 'tz': '${tz.slice(0, 64)}' is not an IANA time zone (e.g. UTC, Europe/Rome)`);
  }
}
