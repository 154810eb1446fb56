// RunHeap, as the ready line (ReadyQueue) against a sorted reference: pushes in and out of order
// (FIFO runs, priorities, LIFO), removals from anywhere, priority changes, the cursor that CLEAN
// walks with, what the run holds on to after removals (sparse chunks), and a long random run; and
// as a timer's items (DeadlineTimer): deadlines in order, out of order, and going back.

import { describe, expect, test } from "bun:test";
import { heapChunkBits } from "../../src/constants.ts";
import { Job, kindSpec, QueueState } from "../../src/engine/model.ts";
import { ReadyQueue, readyBefore } from "../../src/engine/ready-queue.ts";
import { rng } from "../helpers/rng.ts";
import { DeadlineTimer } from "../../src/engine/timers.ts";
import { checkRunHeap } from "./engine-harness.ts";

const chunk = 1 << heapChunkBits;
const q = new QueueState("r");
const data = new Uint8Array(1);
const byReady = (a: Job, b: Job): number => (readyBefore(a, b) ? -1 : readyBefore(b, a) ? 1 : 0);
const checkReady = (line: ReadyQueue): void => checkRunHeap(line, readyBefore);

let ids = 0;
function job(priority: number, seq: number): Job {
  const j = new Job(++ids, q, data, 0, 0, kindSpec({ priority }));
  j.seq = seq;
  return j;
}

/** What the run holds: chunks still referenced, those dense (4,096 slots), index entries. */
function held(line: object): { chunks: number; dense: number; entries: number } {
  const chunks = (line as unknown as { chunks: unknown[] }).chunks;
  return { chunks: chunks.filter((c) => c !== null).length, dense: chunks.filter(Array.isArray).length, entries: chunks.length };
}

function checkAgainst(line: ReadyQueue, ref: Job[]): void {
  checkReady(line);
  expect(line.size).toBe(ref.length);
  const sorted = [...ref].sort(byReady);
  expect(line.peek()).toBe(sorted[0]);
  for (const j of ref) if (!line.has(j)) throw new Error(`job ${j.id} missing from the line`);
}

describe("ReadyQueue", () => {
  test("random pushes, takes from the front, removals and priority changes follow a sorted reference", () => {
    for (const seed of [1, 2, 3, 42, 1234, 99]) {
      const r = rng(seed);
      const line = new ReadyQueue();
      const ref: Job[] = [];
      let seq = 0;
      let lifo = 0;
      for (let op = 0; op < 3000; op++) {
        const x = r();
        if (x < 0.5 || ref.length === 0) {
          // Mostly FIFO at one priority (the run), some higher or lower ones, some LIFO.
          const y = r();
          const j = y < 0.7 ? job(0, ++seq) : y < 0.85 ? job(Math.floor(r() * 4) - 1, ++seq) : job(0, -++lifo);
          line.push(j);
          ref.push(j);
        } else if (x < 0.75) {
          const front = line.peek()!;
          expect(front).toBe([...ref].sort(byReady)[0]);
          line.remove(front);
          ref.splice(ref.indexOf(front), 1);
          expect(front.hi).toBe(-1);
          expect(line.has(front)).toBe(false);
        } else if (x < 0.92) {
          const j = ref.splice(Math.floor(r() * ref.length), 1)[0]!;
          line.remove(j);
          expect(line.has(j)).toBe(false);
          expect(() => line.remove(j)).toThrow();
        } else {
          const j = ref[Math.floor(r() * ref.length)]!;
          j.priority = Math.floor(r() * 4) - 1;
          line.update(j);
        }
        checkAgainst(line, ref);
      }
      expect([...line.ordered()]).toEqual([...ref].sort(byReady));
      while (line.size > 0) {
        const front = line.peek()!;
        expect(front).toBe([...ref].sort(byReady)[0]);
        line.remove(front);
        ref.splice(ref.indexOf(front), 1);
      }
      expect(line.peek()).toBeUndefined();
      expect(ref).toEqual([]);
    }
  });

  test("a FIFO queue never uses the heap; a job out of order does, and is delivered first", () => {
    const line = new ReadyQueue();
    const fifo = Array.from({ length: 3 * chunk + 10 }, (_, i) => job(0, i + 1));
    for (const j of fifo) line.push(j);
    expect(line.toArray().heap.length).toBe(0);
    const urgent = job(5, fifo.length + 1);
    line.push(urgent);
    expect(line.toArray().heap).toEqual([urgent]);
    expect(line.peek()).toBe(urgent);
    line.remove(urgent);
    // Lower priority after the run's last job: still in order, so the run takes it.
    const later = job(-1, fifo.length + 2);
    line.push(later);
    expect(line.toArray().heap.length).toBe(0);
    const out: Job[] = [];
    while (line.size > 0) {
      const j = line.peek()!;
      line.remove(j);
      out.push(j);
    }
    expect(out).toEqual([...fifo, later]);
  });

  test("removals let go of emptied chunks, and the front skips them in one step each", () => {
    const line = new ReadyQueue();
    const jobs = Array.from({ length: 20 * chunk }, (_, i) => job(0, i + 1));
    for (const j of jobs) line.push(j);
    expect(held(line).chunks).toBe(20);
    // A paused queue: the first job stays at the front, everything after it is cancelled.
    for (let i = 1; i < jobs.length; i++) line.remove(jobs[i]!);
    expect(held(line).chunks).toBeLessThanOrEqual(2);
    // Push and cancel more behind it: emptied chunks (also the one that was last) are let go.
    let seq = jobs.length;
    for (let round = 0; round < 10; round++) {
      const more = Array.from({ length: chunk }, () => job(0, ++seq));
      for (const j of more) line.push(j);
      for (const j of more) line.remove(j);
    }
    expect(held(line).chunks).toBeLessThanOrEqual(2);
    expect(line.size).toBe(1);
    expect(line.peek()).toBe(jobs[0]);
    const next = job(0, ++seq);
    line.push(next);
    line.remove(jobs[0]!);
    expect(line.peek()).toBe(next);
    // The front moved past the empty stretch: the index before it is dropped.
    expect(held(line).entries).toBe(1);
  });

  test("thinned out, chunks turn sparse: memory follows the live jobs, and order, walks and removals still hold", () => {
    const r = rng(21);
    const line = new ReadyQueue();
    const jobs = Array.from({ length: 30 * chunk }, (_, i) => job(0, i + 1));
    for (const j of jobs) line.push(j);
    // Keep about 1 in 64 (64 a chunk: sparse), and a few chunks whole.
    const kept: Job[] = [];
    for (let i = 0; i < jobs.length; i++) {
      const wholeChunk = Math.floor(i / chunk) % 10 === 3;
      if (wholeChunk || r() < 1 / 64) kept.push(jobs[i]!);
      else line.remove(jobs[i]!);
    }
    // Dense: the 3 chunks kept whole, the last (appends fill it) and the front's (taken in order).
    expect(held(line).dense).toBeLessThanOrEqual(5);
    expect(held(line).chunks).toBeLessThanOrEqual(30);
    checkReady(line);
    expect([...line.ordered()]).toEqual(kept);
    expect(line.toArray().run).toEqual(kept);
    for (const j of kept) expect(line.has(j)).toBe(true);
    // Removals from sparse chunks, a cursor walk over them, then the front taken to the end.
    for (let i = 0; i < kept.length; i += 7) line.remove(kept[i]!);
    const left = kept.filter((_, i) => i % 7 !== 0);
    const seen: Job[] = [];
    const cur = line.cursor();
    for (let j = cur.current(); j !== undefined; j = cur.current()) {
      seen.push(j);
      cur.advance();
    }
    expect(seen).toEqual(left);
    const out: Job[] = [];
    while (line.size > 0) {
      const j = line.peek()!;
      line.remove(j);
      out.push(j);
    }
    expect(out).toEqual(left);
  });

  test("a long random run (sparse chunks present) keeps its order, its walks and its size", () => {
    let sparseSeen = 0;
    for (const seed of [1, 2]) {
      const r = rng(seed);
      const line = new ReadyQueue();
      const live: Job[] = [];
      let seq = 0;
      const take = (i: number): Job => {
        const j = live[i]!;
        live[i] = live[live.length - 1]!;
        live.pop();
        return j;
      };
      for (let op = 0; op < 300_000; op++) {
        const x = r();
        if (x < 0.62) {
          const j = job(r() < 0.95 ? 0 : Math.floor(r() * 3), ++seq);
          line.push(j);
          live.push(j);
        } else if (x < 0.625 && live.length > 0) {
          const front = line.peek()!;
          line.remove(front);
          take(live.indexOf(front));
        } else if (live.length > 0) {
          const j = take(Math.floor(r() * live.length));
          expect(line.has(j)).toBe(true);
          line.remove(j);
        }
        if (op % 50_000 === 0) {
          checkReady(line);
          expect(line.size).toBe(live.length);
          sparseSeen += held(line).chunks - held(line).dense;
          const cur = line.cursor();
          let n = 0;
          for (let j = cur.current(); j !== undefined; j = cur.current(), n++) cur.advance();
          expect(n).toBe(live.length);
        }
      }
      expect([...line.ordered()]).toEqual([...live].sort(byReady));
    }
    expect(sparseSeen).toBeGreaterThan(0);
  });

  test("emptied, the line starts again and old positions name nothing", () => {
    const line = new ReadyQueue();
    const a = job(0, 1);
    line.push(a);
    line.remove(a);
    expect(line.size).toBe(0);
    const b = job(0, 2);
    line.push(b);
    // a's old position is not b's: a is not in the line, removing it again throws.
    expect(line.has(a)).toBe(false);
    expect(() => line.remove(a)).toThrow();
    expect(line.peek()).toBe(b);
  });

  test("the cursor visits every job while the walker removes some: the run's once, the heap's at least once", () => {
    for (const seed of [5, 6, 7]) {
      const r = rng(seed);
      const line = new ReadyQueue();
      const all: Job[] = [];
      for (let i = 0; i < 2 * chunk + 300; i++) {
        const j = r() < 0.8 ? job(0, i + 1) : job(3, i + 1);
        line.push(j);
        all.push(j);
      }
      const visits = new Map<Job, number>();
      const removed = new Set<Job>();
      const cur = line.cursor();
      for (let j = cur.current(); j !== undefined; j = cur.current()) {
        if (removed.has(j)) throw new Error(`job ${j.id} visited after its removal`);
        visits.set(j, (visits.get(j) ?? 0) + 1);
        if (j.hi < -1 && visits.get(j)! > 1) throw new Error(`run job ${j.id} visited twice`);
        if (r() < 0.4) {
          line.remove(j);
          removed.add(j);
        } else cur.advance();
      }
      expect(visits.size).toBe(all.length);
      expect([...visits.values()].reduce((a, b) => a + b, 0)).toBeLessThan(2 * all.length);
      expect(line.size).toBe(all.length - removed.size);
      checkReady(line);
      expect([...line.ordered()]).toEqual(all.filter((j) => !removed.has(j)).sort(byReady));
    }
  });
});

describe("DeadlineTimer on a RunHeap", () => {
  interface Item {
    hi: number;
    deadline: number;
    n: number;
  }
  const byDeadline = (a: Item, b: Item) => a.deadline < b.deadline;

  test("due items come out in deadline order whether they arrived in order, out of it, or with the clock going back", () => {
    for (const seed of [3, 4, 5]) {
      const r = rng(seed);
      const fired: Item[] = [];
      const timer = new DeadlineTimer<Item>("t", (item) => {
        fired.push(item);
        timer.remove(item);
      });
      const live = new Set<Item>();
      let now = 1_000_000;
      let n = 0;
      for (let op = 0; op < 4000; op++) {
        const x = r();
        if (x < 0.55) {
          // Leases: now + the same duration, mostly; some shorter ones; the clock steps back.
          if (r() < 0.02) now -= Math.floor(r() * 500);
          else now += Math.floor(r() * 3);
          const deadline = now + (r() < 0.85 ? 30_000 : Math.floor(r() * 30_000));
          const it = { hi: -1, deadline, n: n++ };
          timer.push(it);
          live.add(it);
        } else if (x < 0.75 && live.size > 0) {
          // An ACK: removed from anywhere (usually near the front).
          const all = [...live];
          const it = all[r() < 0.7 ? 0 : Math.floor(r() * all.length)]!;
          timer.remove(it);
          live.delete(it);
        } else if (x < 0.85 && live.size > 0) {
          // A heartbeat: a later deadline for a live item.
          const it = [...live][Math.floor(r() * live.size)]!;
          timer.remove(it);
          it.deadline = now + 30_000;
          timer.push(it);
        } else {
          const due = now + Math.floor(r() * 40_000);
          const expected = [...live].filter((it) => it.deadline <= due).sort((a, b) => a.deadline - b.deadline);
          fired.length = 0;
          timer.runDue(due, 1 << 30);
          expect(fired.map((it) => it.deadline)).toEqual(expected.map((it) => it.deadline));
          for (const it of fired) live.delete(it);
        }
        checkRunHeap(timer.items, byDeadline);
        expect(timer.size).toBe(live.size);
        const min = [...live].reduce((m, it) => Math.min(m, it.deadline), Infinity);
        expect(timer.nextDeadline()).toBe(min);
      }
    }
  });

  test("leases of one duration never use the heap; a shorter one does", () => {
    const timer = new DeadlineTimer<Item>("t", (item) => timer.remove(item));
    for (let i = 0; i < 3 * chunk; i++) timer.push({ hi: -1, deadline: 30_000 + i, n: i });
    expect(timer.items.toArray().heap.length).toBe(0);
    const short = { hi: -1, deadline: 5_000, n: -1 };
    timer.push(short);
    expect(timer.items.toArray().heap).toEqual([short]);
    expect(timer.nextDeadline()).toBe(5_000);
  });
});
