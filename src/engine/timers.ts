// The engine's timers: a registry of components, each owning its own deadlines (delays, leases,
// ttl, parked pulls, WAITJOBs, retention; later cron, rate-limit refills, KV expiry). tick(now)
// asks each for its due work within one shared budget and returns the earliest next deadline,
// which the io loop turns into its wait timeout. A new timed feature registers a component;
// nobody edits tick. Nothing here polls.

import type { HeapItem } from "./heap.ts";
import type { Job } from "./model.ts";
import { RunHeap, type RunOrder } from "./run-heap.ts";

export interface TimerComponent {
  /** For diagnostics and tests. */
  readonly name: string;
  /** Earliest time (ms epoch) this component has work; Infinity when none, <= now when due. */
  nextDeadline(): number;
  /** Does due work (deadline <= now) up to `budget` items; returns how many it did. */
  runDue(now: number, budget: number): number;
}

export class TimerRegistry {
  private readonly components: TimerComponent[] = [];

  add(c: TimerComponent): void {
    if (this.components.some((o) => o.name === c.name)) throw new Error(`timer component '${c.name}' registered twice`);
    this.components.push(c);
  }

  get names(): string[] {
    return this.components.map((c) => c.name);
  }

  /** Runs due work of every component within `budget` items; false when the budget ran out
   *  (there may be more due work: the caller comes back at once). */
  runDue(now: number, budget: number): boolean {
    for (const c of this.components) {
      if (budget <= 0) return false;
      if (c.nextDeadline() <= now) budget -= c.runDue(now, budget);
    }
    return budget > 0;
  }

  nextDeadline(): number {
    let next = Infinity;
    const cs = this.components;
    for (let i = 0; i < cs.length; i++) {
      const d = cs[i]!.nextDeadline();
      if (d < next) next = d;
    }
    return next;
  }
}

export interface Deadlined extends HeapItem {
  readonly deadline: number;
}

const byDeadline = (a: Deadlined, b: Deadlined): boolean => a.deadline < b.deadline;

/** A timer's order: its items' deadlines, and whether one follows the last appended. */
export interface DeadlineRunOrder<T> extends RunOrder<T> {
  key(item: T): number;
}

/** Deadlines in order: most arrive so (now + the same duration), and the run takes those. */
class DeadlineOrder implements DeadlineRunOrder<Deadlined> {
  private last = -Infinity;
  readonly less = byDeadline;
  key(item: Deadlined): number {
    return item.deadline;
  }
  mark(item: Deadlined): void {
    this.last = item.deadline;
  }
  follows(item: Deadlined): boolean {
    return item.deadline >= this.last;
  }
}

const byJobDeadline = (a: Job, b: Job): boolean => a.r!.deadline < b.r!.deadline;

/**
 * The same order for the job timers (delays, leases). A job keeps its deadline in its run
 * record (model.ts; every job in a time heap has one), behind an accessor: read in the generic
 * order's code, which every timer's items pass through, that accessor made its property reads
 * polymorphic with a getter, which JSC does not inline (PULLB+ACKB cost 5-15 % more).
 */
export class JobDeadlineOrder implements DeadlineRunOrder<Job> {
  private last = -Infinity;
  readonly less = byJobDeadline;
  key(job: Job): number {
    return job.r!.deadline;
  }
  mark(job: Job): void {
    this.last = job.r!.deadline;
  }
  follows(job: Job): boolean {
    return job.r!.deadline >= this.last;
  }
}

/**
 * The common component: items by deadline (a RunHeap: those that come in deadline order cost
 * O(1) to take or remove, the rest a heap), and a handler that acts on each due item and either
 * takes it out (through a transition that calls remove) or gives it a later deadline (update: a
 * schedule's next run).
 */
export class DeadlineTimer<T extends Deadlined> implements TimerComponent {
  readonly items: RunHeap<T>;
  private readonly order: DeadlineRunOrder<T>;

  constructor(
    readonly name: string,
    private readonly onDue: (item: T, now: number) => void,
    /** How its items' deadlines are read (DeadlineOrder: their `deadline` field). */
    order?: DeadlineRunOrder<T>,
  ) {
    this.order = order ?? (new DeadlineOrder() as unknown as DeadlineRunOrder<T>);
    this.items = new RunHeap<T>(this.order);
  }

  push(item: T): void {
    this.items.push(item);
  }
  remove(item: T): void {
    this.items.remove(item);
  }
  has(item: T): boolean {
    return this.items.has(item);
  }
  /** The item's deadline changed. */
  update(item: T): void {
    this.items.update(item);
  }
  peek(): T | undefined {
    return this.items.peek();
  }
  get size(): number {
    return this.items.size;
  }

  nextDeadline(): number {
    const top = this.items.peek();
    return top === undefined ? Infinity : this.order.key(top);
  }

  runDue(now: number, budget: number): number {
    let done = 0;
    const order = this.order;
    for (let top = this.items.peek(); top !== undefined && order.key(top) <= now && done < budget; top = this.items.peek()) {
      this.onDue(top, now);
      done++;
      if (this.items.peek() === top && order.key(top) <= now) throw new Error(`timer '${this.name}': the handler left its due item in place, still due`);
    }
    return done;
  }
}
