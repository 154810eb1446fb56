// Job payloads (the MessagePack bytes of `data`), packed into slabs. As a Uint8Array of its own
// a 100-byte payload took 167 bytes and was one more object for the collector to mark per job;
// in a slab it takes its bytes and an 8-byte header, and a job holds a number (`Job.d`) naming
// where. Slabs are appended to and never written over: a freed record's space is only reclaimed
// with its whole slab, when its last record goes, or by compaction, which moves a sparse slab's
// live records to the slab being filled (and updates their jobs' `d`) once the arena holds more
// than payloadSlack times its live bytes. So the arena's memory stays within a bound of what is
// live whatever order jobs leave in, and a queue worked in order never compacts at all.
//
// Record: u32 length, u32 index of its owner in the slab's owner list, then the bytes. The owner
// list is how compaction finds live records and how every read checks that the job asking still
// owns the record it names (a read after free is an error, never another job's bytes).

import { copyBytes, ViewCache } from "./copy-bytes.ts";
import { payloadCompactionsPerStep, payloadOwnSlabBytes, payloadSlabBytesMax, payloadSlabBytesMin, payloadSlabsSpare, payloadSlack } from "../constants.ts";

/** What owns a payload: a Job (its `d` is the record's reference; -1 when it holds none). */
export interface PayloadOwner {
  d: number;
  readonly id: number;
}

/** References are slot x SPAN + offset; a slab shared by several records is at most SPAN bytes. */
const SPAN = 2 ** 18;
const HEADER = 8;

class Slab {
  readonly dv: DataView;
  /** Bytes appended so far. */
  used = 0;
  /** Bytes of records still owned (headers included). */
  live = 0;
  /** Owners by record, in the order appended; null once freed. */
  readonly owners: (PayloadOwner | null)[] = [];
  constructor(
    readonly slot: number,
    readonly buf: Uint8Array,
    /** A slab of one large payload's own (never compacted: there is nothing to gain). */
    readonly own: boolean,
  ) {
    this.dv = new DataView(buf.buffer);
  }
}

export class PayloadArena {
  private readonly slabs: (Slab | null)[] = [];
  private readonly freeSlots: number[] = [];
  /** The slab being appended to. */
  private cur: Slab | null = null;
  /** Bytes of every slab held, and of the records owned in them (headers included). */
  private allocated = 0;
  private liveBytes = 0;
  /** Let-go slabs' buffers kept for the next ones: a fresh 256 KiB buffer is zeroed memory the
   *  kernel must fault in, which a profile of PULLB+ACKB put at 2 % of the server's CPU. (So a
   *  view from Job.data is for reading at once: the bytes under it change once it is let go.) */
  private readonly spare: Uint8Array[] = [];
  private readonly srcViews = new ViewCache();
  private readonly dstViews = new ViewCache();
  /** Set by locate(): where the payload starts in the buffer it returned, its length, and a
   *  DataView of that buffer. */
  at = 0;
  len = 0;
  dv: DataView = new DataView(new ArrayBuffer(0));

  /** Copies `src[start, end)` in as `owner`'s payload; returns the reference for `owner.d`. */
  put(owner: PayloadOwner, src: Uint8Array, start = 0, end = src.length): number {
    const n = end - start;
    const need = HEADER + n;
    let s = this.cur;
    if (need > payloadOwnSlabBytes) s = this.newSlab(need, true);
    else if (s === null || s.used + need > s.buf.length) s = this.grow(need);
    const off = s.used;
    s.dv.setUint32(off, n, true);
    s.dv.setUint32(off + 4, s.owners.length, true);
    s.owners.push(owner);
    copyBytes(s.buf, s.dv, off + HEADER, src, this.srcViews.of(src), start, n);
    s.used += need;
    s.live += need;
    this.liveBytes += need;
    return s.slot * SPAN + off;
  }

  /** The buffer holding `owner`'s payload; `at` and `len` say where in it, `dv` views it. */
  locate(owner: PayloadOwner): Uint8Array {
    const s = this.recordOf(owner);
    const off = owner.d % SPAN;
    this.at = off + HEADER;
    this.len = s.dv.getUint32(off, true);
    this.dv = s.dv;
    return s.buf;
  }

  /** `owner`'s payload as a view (for reads off the hot paths; it keeps its slab alive). */
  view(owner: PayloadOwner): Uint8Array {
    const b = this.locate(owner);
    return b.subarray(this.at, this.at + this.len);
  }

  /** Copies `owner`'s payload into `dst` at `at` (the caller made room: length() bytes). */
  copyTo(owner: PayloadOwner, dst: Uint8Array, at: number): number {
    const s = this.recordOf(owner);
    const off = owner.d % SPAN;
    const n = s.dv.getUint32(off, true);
    copyBytes(dst, this.dstViews.of(dst), at, s.buf, s.dv, off + HEADER, n);
    return n;
  }

  length(owner: PayloadOwner): number {
    const s = this.recordOf(owner);
    return s.dv.getUint32(owner.d % SPAN, true);
  }

  /** Lets go of `owner`'s payload; `owner.d` becomes -1. */
  free(owner: PayloadOwner): void {
    const s = this.recordOf(owner);
    const off = owner.d % SPAN;
    const size = HEADER + s.dv.getUint32(off, true);
    s.owners[s.dv.getUint32(off + 4, true)] = null;
    owner.d = -1;
    s.live -= size;
    this.liveBytes -= size;
    if (s === this.cur) return;
    if (s.live === 0) this.release(s);
    else this.compact();
  }

  /** Compactions so far (each moved one slab's live payloads and let the slab go). */
  compactions = 0;
  private compacting = false;

  private overBound(): boolean {
    return !this.compacting && this.allocated > payloadSlack * this.liveBytes + 2 * payloadSlabBytesMax;
  }

  /** Bytes held in slabs, and bytes of the payloads they hold (headers included). */
  get stats(): { slabs: number; allocated: number; live: number } {
    return { slabs: this.slabs.length - this.freeSlots.length, allocated: this.allocated, live: this.liveBytes };
  }

  private recordOf(owner: PayloadOwner): Slab {
    const d = owner.d;
    const s = d >= 0 ? this.slabs[Math.floor(d / SPAN)] : undefined;
    if (s == null || s.owners[s.dv.getUint32((d % SPAN) + 4, true)] !== owner) {
      throw new Error(`payloads: job ${owner.id} does not hold the payload it names (${d}): read or freed after it was let go`);
    }
    return s;
  }

  /** A new slab to append to, sized by what is live (small engines stay small). The full one
   *  may hold payloads that outlived their neighbours, freed while it was being filled: this is
   *  where the arena checks its bound for them (a free checks it for the older slabs). */
  private grow(need: number): Slab {
    const old = this.cur;
    if (old !== null && old.live === 0) this.release(old);
    let size = payloadSlabBytesMin;
    while (size < payloadSlabBytesMax && (size < need || size < this.liveBytes / 4)) size *= 2;
    const s = (this.cur = this.newSlab(size, false));
    if (!this.compact()) return s;
    return s === this.cur && s.used + need <= s.buf.length ? s : this.grow(need);
  }

  private newSlab(size: number, own: boolean): Slab {
    const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slabs.length;
    const reuse = !own && size === payloadSlabBytesMax && this.spare.length > 0;
    const s = new Slab(slot, reuse ? this.spare.pop()! : new Uint8Array(size), own);
    if (slot === this.slabs.length) this.slabs.push(s);
    else this.slabs[slot] = s;
    this.allocated += size;
    return s;
  }

  private release(s: Slab): void {
    if (!s.own && s.buf.length === payloadSlabBytesMax && this.spare.length < payloadSlabsSpare) this.spare.push(s.buf);
    this.slabs[s.slot] = null;
    this.freeSlots.push(s.slot);
    this.allocated -= s.buf.length;
  }

  /** While the arena is over its bound, compacts its sparsest slabs, a few at a time (each
   *  moves at most half a slab: this is not a pause). Whether it compacted any. */
  private compact(): boolean {
    let k = 0;
    while (k < payloadCompactionsPerStep && this.overBound() && this.compactOne()) k++;
    return k > 0;
  }

  /** Moves the live records of the sparsest shared slab to the current one and lets it go: at
   *  most half a slab's bytes (more than half the arena is free when this runs). */
  private compactOne(): boolean {
    let best: Slab | null = null;
    for (const s of this.slabs) {
      if (s === null || s === this.cur || s.own) continue;
      if (best === null || s.live / s.buf.length < best.live / best.buf.length) best = s;
    }
    if (best === null) return false;
    this.compacting = true;
    this.compactions++;
    const b = best.buf;
    const dv = best.dv;
    for (let off = 0; off < best.used; ) {
      const n = dv.getUint32(off, true);
      const owner = best.owners[dv.getUint32(off + 4, true)];
      if (owner != null) {
        best.live -= HEADER + n;
        this.liveBytes -= HEADER + n;
        owner.d = this.put(owner, b, off + HEADER, off + HEADER + n);
      }
      off += HEADER + n;
    }
    this.compacting = false;
    this.release(best);
    return true;
  }
}
