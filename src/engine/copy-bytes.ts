// Copying a payload's bytes between two long-lived buffers (a frame and a slab, a slab and a
// reply) without allocating: `dst.set(src.subarray(...))` makes a view per copy, which a
// profile of PULLB+ACKB put at 10 % of the server's CPU with two copies per job. Up to
// copyBytesLoopMax bytes go four at a time through the buffers' DataViews (unaligned reads and
// writes of integers, never floats: a NaN's bits could change); longer ones through set(), whose
// view is paid back by its memcpy.

/** Bytes up to which a copy is a loop (micro-benchmarked: 100 B, 38 ns against 44 for set()). */
const copyBytesLoopMax = 256;

export function copyBytes(dst: Uint8Array, dstView: DataView, at: number, src: Uint8Array, srcView: DataView, from: number, n: number): void {
  if (n > copyBytesLoopMax) {
    dst.set(src.subarray(from, from + n), at);
    return;
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) dstView.setUint32(at + i, srcView.getUint32(from + i));
  for (; i < n; i++) dst[at + i] = src[from + i]!;
}

/** A DataView of exactly `b`'s bytes (offset 0 is b[0]), cached for the last buffer asked. A
 *  new array over the same memory (Bun sockets hand each read over as one) keeps the view. */
export class ViewCache {
  private bytes: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.bytes.buffer);

  of(b: Uint8Array): DataView {
    if (b !== this.bytes) {
      const v = this.view;
      if (v.buffer !== b.buffer || v.byteOffset !== b.byteOffset || v.byteLength !== b.byteLength) {
        this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      }
      this.bytes = b;
    }
    return this.view;
  }
}
