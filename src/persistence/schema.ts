// Opens the SQLite file behind DATA_PATH: pragmas per durability mode, the schema brought up to
// date by the numbered migrations, and the checks that refuse a corrupt, foreign, newer or
// locked file with an error saying what to do. It never recreates or "repairs" a file it cannot
// read: an empty queue must never replace a lost one. Reading and writing records live in
// recovery.ts and journal.ts.

import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { sqliteCacheBytes, startupMmapBytes, walBytesKeptMax } from "../constants.ts";
import { migrations, schemaVersion } from "./migrations.ts";

export { schemaVersion };

export type Durability = "none" | "batch" | "sync";

/** synchronous per mode. sync: NORMAL, and the store fsyncs the WAL after every commit itself,
 *  off the loop (wal-sync.ts), which is what FULL would add; batch survives a process crash
 *  (WAL), not a power cut. */
export const synchronousOf: Record<Durability, string> = { sync: "NORMAL", batch: "NORMAL", none: "OFF" };

export interface OpenedDatabase {
  db: Database;
  /** True when the file did not exist or was empty: said in the start-up log. */
  created: boolean;
  /** The schema version the file had before this open migrated it (= schemaVersion: none). */
  migratedFrom: number;
}

/** A start-up error about the data file; main.ts prints it and exits 1. */
export class StorageError extends Error {}

export function corruptError(path: string, detail: string): StorageError {
  return new StorageError(
    `DATA_PATH ${path} is corrupt or not a ringq database (${detail}). ringq refuses to start on it ` +
      `rather than run with an empty queue: restore the file from a backup, or move it (and any ` +
      `${path}-wal next to it) away to start empty.`,
  );
}

export function openDatabase(path: string, durability: Durability): OpenedDatabase {
  const created = !existsSync(path) || statSync(path).size === 0;
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (e) {
    throw new StorageError(`cannot open DATA_PATH ${path}: ${(e as Error).message} (does the directory exist and is it writable?)`);
  }
  try {
    // EXCLUSIVE: a second ringq on the same file must fail, not interleave writes; it also lets
    // WAL work without the -shm index. The lock is taken by the write below and held until close.
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    const mode = valuesOnce(db, "PRAGMA journal_mode = WAL")[0]?.[0];
    if (mode !== "wal") throw new StorageError(`cannot put DATA_PATH ${path} in WAL mode (got '${mode}')`);
    db.exec(`PRAGMA synchronous = ${synchronousOf[durability]}`);
    db.exec(`PRAGMA journal_size_limit = ${walBytesKeptMax}`);
    db.exec(`PRAGMA cache_size = ${-Math.floor(sqliteCacheBytes / 1024)}`);
    // Start-up reads the whole file (quick_check, then recovery) through mmap; the store turns
    // it off once recovered (SqliteStore.recover).
    db.exec(`PRAGMA mmap_size = ${startupMmapBytes}`);
    const from = created ? 0 : checkExisting(db, path);
    if (from < schemaVersion) migrate(db, path, from);
    return { db, created, migratedFrom: created ? schemaVersion : from };
  } catch (e) {
    db.close();
    throw asStorageError(e, path);
  }
}

/** Runs the migrations above `from`, all in one transaction. */
function migrate(db: Database, path: string, from: number): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const m of migrations) if (m.version > from) db.exec(m.sql);
    valuesOnce(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", schemaVersion);
    db.exec("COMMIT");
  } catch (e) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // SQLite may have rolled back already.
    }
    throw new StorageError(`DATA_PATH ${path}: migrating the schema from version ${from} to ${schemaVersion} failed (${(e as Error).message}); the file is unchanged`);
  }
}

/** An existing file must pass quick_check and hold ringq's tables at a known version; returns
 *  that version (0: an empty database, created and never written). */
function checkExisting(db: Database, path: string): number {
  const problems = valuesOnce(db, "PRAGMA quick_check").map((r) => String(r[0]));
  if (problems.length !== 1 || problems[0] !== "ok") {
    throw corruptError(path, `quick_check: ${problems.slice(0, 3).join("; ")}`);
  }
  const tables = new Set(valuesOnce(db, "SELECT name FROM sqlite_master WHERE type = 'table'").map((r) => String(r[0])));
  if (tables.size === 0) return 0; // an empty database (e.g. created and never written): nothing to lose
  for (const t of ["meta", "queues", "jobs"]) {
    if (!tables.has(t)) throw corruptError(path, `table '${t}' is missing`);
  }
  const v = valuesOnce(db, "SELECT value FROM meta WHERE key = 'schema_version'")[0]?.[0];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw corruptError(path, `schema version ${v ?? "missing"}`);
  if (v > schemaVersion) {
    throw new StorageError(`DATA_PATH ${path} has schema version ${v}, written by a newer ringq; this one reads versions 1 to ${schemaVersion}. Run the newer release, or move the file away.`);
  }
  return v;
}

/** Runs a one-off statement and finalizes it (an unfinalized statement keeps the file open after close). */
export function valuesOnce(db: Database, sql: string, ...params: (string | number)[]): unknown[][] {
  const st = db.prepare(sql);
  try {
    return st.values(...params) as unknown[][];
  } finally {
    st.finalize();
  }
}

/** SQLite's own error codes, turned into messages an operator can act on. */
export function asStorageError(e: unknown, path: string): Error {
  if (e instanceof StorageError) return e;
  const code = (e as { code?: string }).code ?? "";
  const msg = (e as Error).message ?? String(e);
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") return corruptError(path, msg);
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return new StorageError(`DATA_PATH ${path} is locked: another ringq (or another program) has it open. Stop it or use another DATA_PATH.`);
  }
  if (code.startsWith("SQLITE_")) return new StorageError(`DATA_PATH ${path}: ${msg} (${code})`);
  return e as Error;
}
