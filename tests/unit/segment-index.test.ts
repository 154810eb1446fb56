// The journal's index of where each stored job's latest and first records are
// (persistence/segment-index.ts), against Maps: random sets (mostly in id order, some below),
// overwrites that keep the first segment, deletes, pages that go sparse and spill, and ids set in
// order but far apart (a recovery of sparse jobs), which must not keep a page each.
import { expect, test } from "bun:test";
import { jobTablePageBits } from "../../src/constants.ts";
import { SegmentIndex } from "../../src/persistence/segment-index.ts";
import { rng } from "../helpers/rng.ts";

const PAGE = 1 << jobTablePageBits;

test("against Maps: latest and first segments under sets, overwrites, deletes and spills", () => {
  for (const seed of [1, 2, 3]) {
    const r = rng(seed);
    const ix = new SegmentIndex();
    const latest = new Map<number, number>();
    const first = new Map<number, number>();
    let next = 1;
    let seg = 1;
    for (let step = 0; step < 40_000; step++) {
      const op = r();
      if (op < 0.45) {
        const id = next++;
        ix.set(id, seg);
        latest.set(id, seg);
        first.set(id, seg);
      } else if (op < 0.7 && latest.size > 0) {
        // A job written again: its latest moves, its first stays.
        const id = 1 + Math.floor(r() * (next - 1));
        if (!latest.has(id)) continue;
        ix.set(id, seg);
        latest.set(id, seg);
      } else if (op < 0.98) {
        const id = 1 + Math.floor(r() * (next - 1));
        ix.delete(id);
        latest.delete(id);
        first.delete(id);
      } else {
        seg++;
        next += Math.floor(r() * 3 * PAGE); // a gap of ids
      }
    }
    expect(ix.size).toBe(latest.size);
    for (let k = 0; k < 2_000; k++) {
      const id = 1 + Math.floor(r() * (next - 1));
      expect([id, ix.get(id), ix.first(id)]).toEqual([id, latest.get(id) ?? 0, first.get(id) ?? 0]);
    }
    for (const [id, s] of latest) expect([ix.get(id), ix.first(id)]).toEqual([s, first.get(id)!]);
  }
});

test("ids set in order but far apart do not keep a page each", () => {
  const ix = new SegmentIndex();
  for (let k = 0; k < 300; k++) ix.set(k * 10 * PAGE + 1, 1 + k);
  const pages = (ix as unknown as { pages: Map<number, unknown> }).pages;
  expect(pages.size).toBeLessThanOrEqual(1);
  for (let k = 0; k < 300; k++) expect([ix.get(k * 10 * PAGE + 1), ix.first(k * 10 * PAGE + 1)]).toEqual([1 + k, 1 + k]);
  // Written again later: the latest moves, the first stays, wherever the id lives.
  ix.set(1, 999);
  expect([ix.get(1), ix.first(1)]).toEqual([999, 1]);
  expect(() => ix.set(5, 0)).toThrow(/bad segment/);
});
