// The key-value store (KVSET ... KVINCR, flashQ's Redis-like commands): values kept as the
// MessagePack bytes they arrived in, optional ms TTLs driven by a timer of the engine (expired
// keys go at their deadline and read as missing before that), and every change persisted
// through the journal's records (kind Kv) with the same durability modes as jobs. Bounded in
// keys, value size and total bytes; KVKEYS walks at most kvKeysMax keys, which bounds its time.

import { kvBytesMax, kvKeysMax, kvValueBytesMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import type { HeapItem } from "./heap.ts";
import type { Journal } from "./journal.ts";
import { RecordKind, type RecordOwner } from "./records.ts";
import { DeadlineTimer } from "./timers.ts";

export class KvEntry implements HeapItem {
  hi = -1;
  constructor(
    readonly key: string,
    public value: Uint8Array,
    /** ms epoch; 0: no TTL (then not in the expiry heap). */
    public deadline: number,
  ) {}
}

/** The stored form of an entry (records table): never rename these without a migration. */
interface StoredKv {
  v: Uint8Array;
  e: number;
}

export class KvStore implements RecordOwner {
  readonly kind = RecordKind.Kv;
  private readonly entries = new Map<string, KvEntry>();
  /** Keys with a TTL, by when they go (the engine registers it with its timers). */
  readonly expiry = new DeadlineTimer<KvEntry>("kv-expiry", (e) => this.drop(e));
  private bytes = 0;

  constructor(
    private readonly now: () => number,
    private readonly journal: () => Journal,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The live entry, or undefined (an expired one reads as missing before its timer runs). */
  private live(key: string): KvEntry | undefined {
    const e = this.entries.get(key);
    if (e === undefined || (e.deadline !== 0 && e.deadline <= this.now())) return undefined;
    return e;
  }

  get(key: string): Uint8Array | null {
    return this.live(key)?.value ?? null;
  }

  has(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** Checks a set before it happens (KVMSET checks every entry first: all or none). */
  checkSet(key: string, value: Uint8Array, added: { keys: number; bytes: number } = { keys: 0, bytes: 0 }): void {
    if (value.length > kvValueBytesMax) throw new ClientError("LIMIT", `KV value for '${key.slice(0, 64)}' is ${value.length} bytes (limit ${kvValueBytesMax})`);
    const old = this.entries.get(key);
    if (old === undefined && this.entries.size + added.keys + 1 > kvKeysMax) {
      throw new ClientError("LIMIT", `Too many KV keys (limit ${kvKeysMax}): KVDEL the ones no longer used, or give them a ttl`);
    }
    if (this.bytes + added.bytes + value.length + key.length - (old === undefined ? 0 : old.value.length + key.length) > kvBytesMax) {
      throw new ClientError("LIMIT", `The KV store would hold more than ${kvBytesMax} bytes: KVDEL or expire some keys`);
    }
  }

  /** Sets a value; `ttlMs` 0 or undefined: no TTL (a set without ttl clears an old one, as Redis). */
  set(key: string, value: Uint8Array, ttlMs: number | undefined): void {
    this.checkSet(key, value);
    this.put(key, value, ttlMs === undefined || ttlMs === 0 ? 0 : this.now() + ttlMs);
  }

  delete(key: string): boolean {
    const existed = this.live(key) !== undefined;
    const e = this.entries.get(key);
    if (e !== undefined) this.drop(e);
    return existed;
  }

  /** Sets the TTL of a live key; false when it does not exist. */
  expire(key: string, ttlMs: number): boolean {
    const e = this.live(key);
    if (e === undefined) return false;
    this.setDeadline(e, this.now() + ttlMs);
    this.persist(e);
    return true;
  }

  /** Remaining TTL in ms; -1 without one, -2 when the key does not exist (Redis, flashQ). */
  ttl(key: string): number {
    const e = this.live(key);
    if (e === undefined) return -2;
    return e.deadline === 0 ? -1 : e.deadline - this.now();
  }

  /** Adds `by` to an integer value (a missing key counts as 0); its TTL stays. */
  incr(key: string, by: number, decode: (b: Uint8Array) => unknown, encode: (v: number) => Uint8Array): number {
    const e = this.live(key);
    const current = e === undefined ? 0 : decode(e.value);
    if (typeof current !== "number" || !Number.isSafeInteger(current)) {
      throw new ClientError("INVALID_STATE", `KV value of '${key.slice(0, 64)}' is not an integer`);
    }
    const next = current + by;
    if (!Number.isSafeInteger(next)) throw new ClientError("LIMIT", `KVINCR of '${key.slice(0, 64)}' would pass 2^53`);
    const bytes = encode(next);
    this.checkSet(key, bytes);
    this.put(key, bytes, e === undefined ? 0 : e.deadline);
    return next;
  }

  /** Live keys matching a glob (`*` any run, `?` one character), in insertion order, up to `limit`. */
  keys(pattern: string | undefined, limit: number): { keys: string[]; truncated: boolean } {
    const re = pattern === undefined || pattern === "*" ? null : globToRegExp(pattern);
    const out: string[] = [];
    const now = this.now();
    for (const e of this.entries.values()) {
      if (e.deadline !== 0 && e.deadline <= now) continue;
      if (re !== null && !re.test(e.key)) continue;
      if (out.length >= limit) return { keys: out, truncated: true };
      out.push(e.key);
    }
    return { keys: out, truncated: false };
  }

  // ---- storage ----

  private put(key: string, value: Uint8Array, deadline: number): void {
    let e = this.entries.get(key);
    if (e === undefined) {
      e = new KvEntry(key, value, 0);
      this.entries.set(key, e);
      this.bytes += key.length + value.length;
    } else {
      this.bytes += value.length - e.value.length;
      e.value = value;
    }
    this.setDeadline(e, deadline);
    this.persist(e);
  }

  private setDeadline(e: KvEntry, deadline: number): void {
    const inHeap = this.expiry.has(e);
    e.deadline = deadline;
    if (deadline === 0) {
      if (inHeap) this.expiry.remove(e);
    } else if (inHeap) this.expiry.update(e);
    else this.expiry.push(e);
  }

  private drop(e: KvEntry): void {
    this.entries.delete(e.key);
    this.bytes -= e.key.length + e.value.length;
    if (this.expiry.has(e)) this.expiry.remove(e);
    this.journal().recordRemoved(RecordKind.Kv, e.key);
  }

  private persist(e: KvEntry): void {
    this.journal().recordChanged(RecordKind.Kv, e.key, { v: e.value, e: e.deadline } satisfies StoredKv);
  }

  restore(key: string, value: unknown): void {
    const s = value as StoredKv;
    if (!(s?.v instanceof Uint8Array) || typeof s.e !== "number") throw new Error("not a stored KV entry");
    if (s.e !== 0 && s.e <= this.now()) {
      this.journal().recordRemoved(RecordKind.Kv, key); // expired while the server was down
      return;
    }
    const e = new KvEntry(key, s.v, 0);
    this.entries.set(key, e);
    this.bytes += key.length + s.v.length;
    if (s.e !== 0) this.setDeadline(e, s.e);
  }

}

function globToRegExp(glob: string): RegExp {
  let src = "^";
  for (const ch of glob) {
    if (ch === "*") src += ".*";
    else if (ch === "?") src += ".";
    else src += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(src + "$", "s");
}
