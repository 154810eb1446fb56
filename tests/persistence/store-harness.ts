// What the in-process store tests share: temporary database paths removed after each test
// (with their -wal and -shm), stores closed after each test, a hand-set clock, and an engine
// over a store, recovered.

import { afterEach } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Engine } from "../../src/engine/engine.ts";
import { SqliteStore } from "../../src/persistence/sqlite-store.ts";
import type { Durability } from "../../src/persistence/schema.ts";

/** Registers the file's afterEach; `prefix` names its temporary files. */
export function storeHarness(prefix: string) {
  const paths: string[] = [];
  const stores: SqliteStore[] = [];
  const clock = { t: 1_000_000 };
  const now = () => clock.t;
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const p of paths.splice(0)) for (const suffix of ["", "-wal", "-shm"]) rmSync(p + suffix, { force: true });
  });
  return {
    clock,
    now,
    tmpPath(): string {
      const p = join(tmpdir(), `ringq-${prefix}-${process.pid}-${Math.random().toString(36).slice(2)}.db`);
      paths.push(p);
      return p;
    },
    /** A store on `path` and an engine recovered from it; closed after the test unless closed. */
    open(path: string, durability: Durability = "sync", opts: { keepFinished?: number; keepFinishedAgeMs?: number } = {}) {
      const store = new SqliteStore(path, durability, now);
      stores.push(store);
      const engine = new Engine({ now, journal: store.journal, ...opts });
      store.recover(engine);
      return { store, engine };
    },
    /** The stores still open (closed after the test; a test may close them itself). */
    stores: (): readonly SqliteStore[] => stores,
    close(store: SqliteStore): void {
      store.close();
      stores.splice(stores.indexOf(store), 1);
    },
  };
}
