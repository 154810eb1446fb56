// WalSync (persistence/wal-sync.ts), DURABILITY=sync's fsync off the loop: a commit's promise
// resolves only after an fsync begun after it; commits during one fsync share the next; a WAL
// file replaced at its path is reopened (never an fsync of a file SQLite no longer writes); and
// through a real store, a sync commit hands back a promise that resolves, while batch does not.

import { expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { WalSync } from "../../src/persistence/wal-sync.ts";
import { storeHarness } from "./store-harness.ts";

const { tmpPath, open, close } = storeHarness("walsync");

test("commits during a running fsync share the next one, and every promise resolves in order", async () => {
  const path = tmpPath();
  writeFileSync(path, "frames");
  const w = new WalSync(path);
  const order: string[] = [];
  const first = w.sync();
  // The first fsync is running (on the pool): these two must wait for another one, together.
  const second = w.sync();
  const third = w.sync();
  expect(second).toBe(third);
  expect(second).not.toBe(first);
  first.then(() => order.push("first"));
  second.then(() => order.push("second"));
  await Promise.all([first, second, third]);
  expect(order).toEqual(["first", "second"]);
  // Idle again: a new call starts a new fsync at once.
  await w.sync();
  w.close();
});

test("no WAL file yet: nothing to fsync, the promise resolves; a file replaced at the path is reopened", async () => {
  const path = tmpPath();
  const w = new WalSync(path);
  await w.sync(); // ENOENT: nothing was ever committed
  writeFileSync(path, "a");
  await w.sync();
  const held = (w as unknown as { ino: number }).ino;
  rmSync(path);
  writeFileSync(path, "b"); // a new inode
  await w.sync();
  expect((w as unknown as { ino: number }).ino).not.toBe(held);
  w.close();
  expect((w as unknown as { fd: number }).fd).toBe(-1);
});

test("a sync store's commit is a promise that resolves after its fsync; batch commits synchronously", async () => {
  const { store, engine } = open(tmpPath(), "sync");
  engine.push({ queue: "q", data: new Uint8Array([1]) });
  const r = store.commit();
  expect(r).toBeInstanceOf(Promise);
  await r;
  expect(store.commit()).toBeUndefined(); // nothing pending: nothing to wait for
  close(store);

  const batch = open(tmpPath(), "batch");
  batch.engine.push({ queue: "q", data: new Uint8Array([1]) });
  expect(batch.store.commit()).toBeUndefined();
});
