// The durable Store behind DATA_PATH: SQLite (bun:sqlite) in WAL mode, one transaction per loop
// turn, recovery at start-up. The durability mode decides only when a commit happens and whether
// replies wait for it; what is written is the same in every mode (see journal.ts).
//   sync  (default) commit every turn, replies of the turn sent after the fsync of the WAL, which
//         runs on a thread (wal-sync.ts) while the loop serves the next turn.
//   batch synchronous=NORMAL, commit every turn, replies sent before the commit: a kill of ringq
//         can lose the one turn whose replies were already out (crash.test.ts sees it happen);
//         a power cut or kernel crash can lose the turns since the last fsync (checkpoint).
//   none  synchronous=OFF, commit at most every noneCommitIntervalMs (or noneCommitEntriesMax
//         pending changes): a crash may lose that much; the OS decides when it reaches the disk.

import type { Database } from "bun:sqlite";
import { noneCommitEntriesMax, noneCommitIntervalMs } from "../constants.ts";
import type { Engine } from "../engine/engine.ts";
import { SqliteJournal } from "./journal.ts";
import { recover, storedJobStates, type Recovered } from "./recovery.ts";
import { openDatabase, schemaVersion, StorageError, synchronousOf, type Durability } from "./schema.ts";
import type { Store } from "./store.ts";
import { WalSync } from "./wal-sync.ts";

const modeText: Record<Durability, string> = {
  sync: "durability=sync: replies after an fsync'd commit",
  batch: "durability=batch: committed every turn, replies not held",
  none: `durability=none: committed every ${noneCommitIntervalMs} ms, no fsync`,
};

export class SqliteStore implements Store {
  readonly journal: SqliteJournal;
  readonly holdRepliesUntilCommit: boolean;
  recovered: Recovered | null = null;
  private readonly db: Database;
  private readonly created: boolean;
  private readonly migratedFrom: number;
  private closed = false;
  private lastCommitMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** sync mode: the WAL's fsync after each commit. */
  private readonly wal: WalSync | null;

  /** `clock` is for tests of the none-mode interval; the server uses wall time. */
  constructor(readonly path: string, readonly durability: Durability, private readonly clock: () => number = Date.now) {
    const opened = openDatabase(path, durability);
    this.db = opened.db;
    this.created = opened.created;
    this.migratedFrom = opened.migratedFrom;
    this.journal = new SqliteJournal(this.db, synchronousOf[durability]);
    this.holdRepliesUntilCommit = durability === "sync";
    this.wal = durability === "sync" ? new WalSync(`${path}-wal`) : null;
  }

  get description(): string {
    const r = this.recovered;
    const what = this.created
      ? "new database"
      : r === null
        ? "not recovered yet"
        : `recovered ${r.jobs} jobs in ${r.queues} queues${r.records > 0 ? ` and ${r.records} records` : ""} in ${Math.round(r.ms)} ms` +
          (r.recordsKept > 0 ? `; ${r.recordsKept} records of a part that is off kept as stored` : "");
    const migrated = this.migratedFrom < schemaVersion ? `; schema migrated from version ${this.migratedFrom} to ${schemaVersion}` : "";
    return `storage: sqlite ${this.path} (WAL, ${modeText[this.durability]}; ${what}${migrated})`;
  }

  recover(engine: Engine): void {
    if (this.recovered !== null) throw new Error("SqliteStore.recover called twice");
    this.journal.engine = engine;
    try {
      this.recovered = recover(this.db, this.path, engine, this.journal);
    } finally {
      this.db.exec("PRAGMA mmap_size = 0"); // start-up's mmap (schema.ts) ends here
    }
    // Rows of an older schema's jobs table, and segments found dead, are dealt with now.
    if (this.journal.pending > 0 && this.commitNow()) this.wal?.syncNow();
  }

  commit(): void | Promise<void> {
    if (this.closed) return;
    if (this.wal !== null) return this.commitNow() ? this.wal.sync() : undefined;
    if (this.durability === "none") {
      const pending = this.journal.pending;
      if (pending === 0) return;
      const due = this.lastCommitMs + noneCommitIntervalMs - this.clock();
      if (due > 0 && pending < noneCommitEntriesMax) {
        // An idle server gets no more turns: a timer makes sure the tail reaches the file.
        this.timer ??= setTimeout(this.commitFromTimer, due);
        return;
      }
    }
    this.commitNow();
  }

  private readonly commitFromTimer = (): void => {
    this.timer = null;
    if (!this.closed) this.commitNow();
  };

  /** True when something was written. */
  private commitNow(): boolean {
    let wrote: boolean;
    try {
      wrote = this.journal.commit();
    } catch (e) {
      // Fail-stop: the engine has moved on in memory and in sync mode its replies are held; the
      // only safe course is to stop before anything unpersisted is acknowledged.
      throw new StorageError(`commit to DATA_PATH ${this.path} failed: ${(e as Error).message}. ringq stops so that nothing unsaved is acknowledged; fix the disk and restart (stored state is intact).`);
    }
    this.lastCommitMs = this.clock();
    return wrote;
  }

  /** Jobs stored in the file, read back as recovery reads them (tests and diagnostics: the file
   *  holds what the engine holds). */
  storedJobs(): number {
    return storedJobStates(this.db).size;
  }

  close(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // After a recovery that failed (a corrupt file), nothing is written: the engine holds only
    // part of the file, and its counters must not replace the stored reservations.
    if (this.recovered !== null) {
      this.commitNow();
      this.wal?.syncNow();
      this.journal.releaseReservations();
    }
    this.closed = true;
    this.journal.close();
    this.db.close(); // checkpoints the WAL into the file, with its fsyncs
    this.wal?.close();
  }
}

export function openSqliteStore(path: string, durability: Durability): Store {
  return new SqliteStore(path, durability);
}
