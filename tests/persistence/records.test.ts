// The records table: an owner's changes reach the file at the turn's commit (the last change of
// a turn wins), come back to the same owner at recovery before the engine's `recovered`, stay
// untouched when no owner is registered in this run, and an unreadable one stops start-up.
// (A test owner takes the webhook kind, which only the HTTP layer registers.)

import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { RecordKind, type RecordOwner } from "../../src/engine/records.ts";
import { SqliteStore } from "../../src/persistence/sqlite-store.ts";

const paths: string[] = [];
afterEach(() => {
  for (const p of paths.splice(0)) for (const s of ["", "-wal", "-shm"]) rmSync(p + s, { force: true });
});

function tmpPath(): string {
  const p = join(tmpdir(), `ringq-records-${process.pid}-${Math.random().toString(36).slice(2)}.db`);
  paths.push(p);
  return p;
}

class Owner implements RecordOwner {
  readonly restored = new Map<string, unknown>();
  recoveredCalls = 0;
  constructor(readonly kind: RecordKind) {}
  restore(key: string, value: unknown): void {
    if (this.recoveredCalls > 0) throw new Error("restore after recovered");
    this.restored.set(key, value);
  }
  recovered(): void {
    this.recoveredCalls++;
  }
}

function open(path: string, owners: RecordKind[]) {
  const store = new SqliteStore(path, "sync");
  const engine = new Engine({ now: Date.now, journal: store.journal });
  const made = owners.map((k) => new Owner(k));
  for (const o of made) engine.records.add(o);
  store.recover(engine);
  return { store, engine, owners: made };
}

test("records written at commit come back to their owner, the last change of a turn winning", () => {
  const path = tmpPath();
  const a = open(path, [RecordKind.Webhook]);
  const j = a.store.journal;
  j.recordChanged(RecordKind.Webhook, "k1", { v: new Uint8Array([1, 2, 3]), at: 5 });
  j.recordChanged(RecordKind.Webhook, "k1", { v: new Uint8Array([9]), at: 6 });
  j.recordChanged(RecordKind.Webhook, "k2", { v: new Uint8Array([2]) });
  j.recordChanged(RecordKind.Webhook, "gone", { v: 1 });
  j.recordRemoved(RecordKind.Webhook, "gone");
  a.store.commit();
  j.recordChanged(RecordKind.Webhook, "k2", { v: "second turn" });
  a.store.commit();
  a.store.close();

  const b = open(path, [RecordKind.Webhook]);
  const o = b.owners[0]!;
  expect(o.recoveredCalls).toBe(1);
  expect([...o.restored.keys()].sort()).toEqual(["k1", "k2"]);
  const k1 = o.restored.get("k1") as { v: Uint8Array; at: number };
  expect([...k1.v]).toEqual([9]);
  expect(k1.at).toBe(6);
  expect(o.restored.get("k2")).toEqual({ v: "second turn" });
  expect(b.store.recovered!.records).toBe(2);
  b.store.journal.recordRemoved(RecordKind.Webhook, "k1");
  b.store.close();

  const c = open(path, [RecordKind.Webhook]);
  expect([...c.owners[0]!.restored.keys()]).toEqual(["k2"]);
  c.store.close();
});

test("records of a kind whose owner is off are kept as stored, and counted in the start-up line", () => {
  const path = tmpPath();
  const a = open(path, [RecordKind.Webhook]);
  a.store.journal.recordChanged(RecordKind.Webhook, "w1", { url: "http://example.test/" });
  a.store.close();

  const b = open(path, []);
  expect(b.store.recovered!.recordsKept).toBe(1);
  expect(b.store.description).toContain("1 records of a part that is off kept as stored");
  b.store.close();

  const c = open(path, [RecordKind.Webhook]);
  expect(c.owners[0]!.restored.get("w1")).toEqual({ url: "http://example.test/" });
  c.store.close();
});

test("an unreadable record, or a kind this release does not know, refuses start-up naming it", () => {
  const path = tmpPath();
  open(path, []).store.close();
  const db = new Database(path);
  db.run("INSERT INTO records (kind, key, value) VALUES (2, 'bad', x'92')");
  db.close();
  // The engine's own KV store owns kind 2.
  expect(() => open(path, [])).toThrow(/KV entry 'bad' cannot be read/);

  const path2 = tmpPath();
  open(path2, []).store.close();
  const db2 = new Database(path2);
  db2.run("INSERT INTO records (kind, key, value) VALUES (99, 'x', x'c0')");
  db2.close();
  expect(() => open(path2, [])).toThrow(/record kind 99 is unknown/);
});
