// A bounded set of job ids that forgets the oldest past its capacity: a ring of ids in the order
// they were added, plus a Set for lookups. Used for the jobs cancelled while a worker held them,
// so that the worker's next HEARTBEAT/ACK/FAIL can be told JOB_CANCELLED. (A Map used as a FIFO
// would leave deleted slots at its front that every later walk steps over.)

export class RememberedIds {
  private readonly ring: Float64Array;
  private next = 0;
  private readonly ids = new Set<number>();

  constructor(readonly capacity: number) {
    this.ring = new Float64Array(capacity).fill(-1);
  }

  add(id: number): void {
    if (this.ids.has(id)) return;
    const old = this.ring[this.next]!;
    if (old >= 0) this.ids.delete(old);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.capacity;
    this.ids.add(id);
  }

  has(id: number): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
