// The engine's table of every job, by id. Ids are handed out in order, so the table is paged by
// id: job `id` sits at slot `id & (page - 1)` of page `id >>> jobTablePageBits`, and a page
// whose live jobs fall below 1/jobTableSparseFraction of it moves them to a small hash map
// (IdMap) and goes, so a few held jobs cannot pin a page each. The same check runs when a newer
// page starts (the one before is then no longer filling up), and an id below the newest page
// whose page does not exist goes to the map: recovery restores in id order, so a file of a few
// jobs spread over millions of ids costs map entries, not a 32 KB page per job.
//
// Why not one hash table: JSC's write barrier remembers a whole object when a reference is
// stored into it, and each young collection rescans what it remembered. A hash table spreads
// consecutive ids over all of its value array, so with 5M jobs every young collection rescanned
// 8M slots: pauses of 260-310 ms, and PUSHB 5M deep at 46-90k jobs/s against 352k with the
// table left out (bench/README.md, evening section). Here a push writes the newest page and an
// acknowledgement of an old job an old page: a collection rescans the few pages written since.

import { jobTablePageBits, jobTableSparseFraction } from "../constants.ts";
import { IdMap } from "./id-map.ts";

const PAGE = 1 << jobTablePageBits;
const MASK = PAGE - 1;
/** A page below this many live jobs hands them to the overflow map (unless it is the newest). */
const SPARSE = Math.max(1, Math.floor(PAGE / jobTableSparseFraction));

interface Page<V> {
  readonly slots: (V | undefined)[];
  live: number;
}

export class JobTable<V extends { readonly id: number }> {
  private readonly pages = new Map<number, Page<V>>();
  /** Jobs of pages that went sparse (and ids too large for a page number). */
  private readonly overflow = new IdMap<V>();
  private count = 0;
  /** The page of the largest id set so far: it is filling up, so it never goes sparse. */
  private newest = -1;

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    const p = this.pages.get(Math.floor(id / PAGE));
    if (p !== undefined) {
      const v = p.slots[id & MASK];
      if (v !== undefined) return v;
    }
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(id: number, value: V): this {
    if (!(id >= 0) || !Number.isSafeInteger(id)) throw new RangeError(`JobTable: bad id ${id}`);
    // An id already in the overflow stays there: each id lives in one place.
    if (this.overflow.size > 0 && this.overflow.has(id)) {
      this.overflow.set(id, value);
      return this;
    }
    const n = Math.floor(id / PAGE);
    let p = this.pages.get(n);
    if (p === undefined) {
      if (n < this.newest) {
        this.overflow.set(id, value);
        this.count++;
        return this;
      }
      const prev = this.pages.get(this.newest);
      if (prev !== undefined && prev.live < SPARSE) this.spill(this.newest, prev);
      p = { slots: new Array<V | undefined>(PAGE).fill(undefined), live: 0 };
      this.pages.set(n, p);
    }
    const i = id & MASK;
    if (p.slots[i] === undefined) {
      p.live++;
      this.count++;
    }
    p.slots[i] = value;
    if (n > this.newest) this.newest = n;
    return this;
  }

  delete(id: number): boolean {
    const n = Math.floor(id / PAGE);
    const p = this.pages.get(n);
    if (p !== undefined) {
      const i = id & MASK;
      if (p.slots[i] !== undefined) {
        p.slots[i] = undefined;
        p.live--;
        this.count--;
        if (p.live === 0) this.pages.delete(n);
        else if (p.live < SPARSE && n !== this.newest) this.spill(n, p);
        return true;
      }
    }
    if (this.overflow.size > 0 && this.overflow.delete(id)) {
      this.count--;
      return true;
    }
    return false;
  }

  /** A sparse page's jobs go to the overflow map: at most SPARSE of them, once per page. */
  private spill(n: number, p: Page<V>): void {
    for (let i = 0; i < PAGE; i++) {
      const v = p.slots[i];
      if (v !== undefined) this.overflow.set(v.id, v);
    }
    this.pages.delete(n);
  }

  /** A snapshot in id order: callers may change the table meanwhile. */
  values(): V[] {
    const out: V[] = [];
    for (const p of this.pages.values()) for (const v of p.slots) if (v !== undefined) out.push(v);
    for (const [, v] of this.overflow) out.push(v);
    return out.sort((a, b) => a.id - b.id);
  }

  /** [id, value] pairs, pages first, then the overflow (checks use it to see every value under its own id). */
  *[Symbol.iterator](): IterableIterator<[number, V]> {
    for (const [n, p] of this.pages) {
      for (let i = 0; i < PAGE; i++) {
        const v = p.slots[i];
        if (v !== undefined) yield [n * PAGE + i, v];
      }
    }
    yield* this.overflow;
  }

  /** A snapshot of the ids, ascending. */
  keys(): number[] {
    return this.values().map((v) => v.id);
  }

  /** Pages held and jobs in the overflow (tests and the memory census). */
  shape(): { pages: number; overflow: number } {
    return { pages: this.pages.size, overflow: this.overflow.size };
  }
}
