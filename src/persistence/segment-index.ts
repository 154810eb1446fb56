// Which segment holds each stored job's latest record, and which held its first: job id ->
// segment ids (0: none). Older records of a job may survive in segments between the two, which
// is why a removal's tombstone covers the range from the first (journal.ts). Laid out
// like the engine's job table (engine/job-table.ts) and for the same reasons: ids come in order,
// so pages of 4,096 consecutive ids in Float64Arrays (8 bytes a job, nothing for the garbage
// collector to trace, no rehash of millions of entries in one go; 16 bytes a job, in durable
// mode only); a page whose entries fall
// below 1/jobTableSparseFraction moves them to Maps and goes, so a few held jobs cannot pin
// a page each. The newest page never goes sparse: it is filling up; when a newer one starts, the
// one before is checked, and an id below the newest page whose page does not exist goes to the
// Maps (recovery sees ids about in order: sparse ones must not cost 64 KB of pages each).

import { jobTablePageBits, jobTableSparseFraction } from "../constants.ts";

const PAGE = 1 << jobTablePageBits;
const MASK = PAGE - 1;
const SPARSE = Math.max(1, Math.floor(PAGE / jobTableSparseFraction));

interface Page {
  readonly segs: Float64Array;
  readonly firsts: Float64Array;
  live: number;
}

export class SegmentIndex {
  private readonly pages = new Map<number, Page>();
  private readonly overflow = new Map<number, number>();
  private readonly overflowFirst = new Map<number, number>();
  private count = 0;
  private newest = -1;

  get size(): number {
    return this.count;
  }

  /** The segment holding job `id`'s latest record, or 0. */
  get(id: number): number {
    const p = this.pages.get(Math.floor(id / PAGE));
    if (p !== undefined) {
      const s = p.segs[id & MASK]!;
      if (s !== 0) return s;
    }
    return this.overflow.size === 0 ? 0 : (this.overflow.get(id) ?? 0);
  }

  /** The segment of job `id`'s first record (while it has one), or 0. */
  first(id: number): number {
    const p = this.pages.get(Math.floor(id / PAGE));
    if (p !== undefined) {
      const s = p.firsts[id & MASK]!;
      if (s !== 0) return s;
    }
    return this.overflowFirst.size === 0 ? 0 : (this.overflowFirst.get(id) ?? 0);
  }

  /** Job `id`'s latest record is now in `seg`; its first stays what it was (or becomes `seg`). */
  set(id: number, seg: number): void {
    if (!(seg > 0)) throw new RangeError(`SegmentIndex: bad segment ${seg}`);
    if (this.overflow.size > 0 && this.overflow.has(id)) {
      this.overflow.set(id, seg);
      return;
    }
    const n = Math.floor(id / PAGE);
    let p = this.pages.get(n);
    if (p === undefined) {
      if (n < this.newest) {
        this.overflow.set(id, seg);
        this.overflowFirst.set(id, seg);
        this.count++;
        return;
      }
      const prev = this.pages.get(this.newest);
      if (prev !== undefined && prev.live < SPARSE) this.spill(this.newest, prev);
      p = { segs: new Float64Array(PAGE), firsts: new Float64Array(PAGE), live: 0 };
      this.pages.set(n, p);
    }
    const i = id & MASK;
    if (p.segs[i] === 0) {
      p.live++;
      this.count++;
      p.firsts[i] = seg;
    }
    p.segs[i] = seg;
    if (n > this.newest) this.newest = n;
  }

  delete(id: number): void {
    const n = Math.floor(id / PAGE);
    const p = this.pages.get(n);
    if (p !== undefined) {
      const i = id & MASK;
      if (p.segs[i] !== 0) {
        p.segs[i] = 0;
        p.firsts[i] = 0;
        p.live--;
        this.count--;
        if (p.live === 0) this.pages.delete(n);
        else if (p.live < SPARSE && n !== this.newest) this.spill(n, p);
        return;
      }
    }
    if (this.overflow.delete(id)) {
      this.overflowFirst.delete(id);
      this.count--;
    }
  }

  private spill(n: number, p: Page): void {
    for (let i = 0; i < PAGE; i++) {
      const s = p.segs[i]!;
      if (s !== 0) {
        this.overflow.set(n * PAGE + i, s);
        this.overflowFirst.set(n * PAGE + i, p.firsts[i]!);
      }
    }
    this.pages.delete(n);
  }
}
