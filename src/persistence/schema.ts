// Opens the SQLite file behind DATA_PATH: pragmas per durability mode, the schema, and the checks
// that refuse a corrupt, foreign or locked file with an error saying what to do. It never
// recreates or "repairs" a file it cannot read: an empty queue must never replace a lost one.
// Reading and writing jobs live in recovery.ts and journal.ts.

import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { sqliteCacheBytes, walBytesKeptMax } from "../constants.ts";

export type Durability = "none" | "batch" | "sync";

/** Bumped on any incompatible change of the tables below; an unknown version is refused. */
export const schemaVersion = 1;

/**
 * jobs: one row per job the engine holds, hot fields as columns, rare ones (JobExtra) as one
 * MessagePack blob. `id` is the rowid, so recovery reads the table in id order without an index.
 * queues: the names jobs refer to (as small ids) and the paused flag.
 * meta: next_id (ids are never reused, even when the newest jobs were deleted), schema_version.
 */
const schemaSql = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, paused INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY,
  q INTEGER NOT NULL,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  backoff INTEGER NOT NULL,
  stall_timeout INTEGER NOT NULL,
  stall_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  x BLOB
);
`;

/** synchronous per mode: sync fsyncs every commit; batch survives a process crash (WAL), not a power cut. */
const synchronousOf: Record<Durability, string> = { sync: "FULL", batch: "NORMAL", none: "OFF" };

export interface OpenedDatabase {
  db: Database;
  /** True when the file did not exist or was empty: said in the start-up log. */
  created: boolean;
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
    if (!created) checkExisting(db, path);
    db.exec("BEGIN IMMEDIATE");
    db.exec(schemaSql);
    valuesOnce(db, "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", schemaVersion);
    db.exec("COMMIT");
    return { db, created };
  } catch (e) {
    db.close();
    throw asStorageError(e, path);
  }
}

/** An existing file must pass quick_check and hold ringq's tables at a known version. */
function checkExisting(db: Database, path: string): void {
  const problems = valuesOnce(db, "PRAGMA quick_check").map((r) => String(r[0]));
  if (problems.length !== 1 || problems[0] !== "ok") {
    throw corruptError(path, `quick_check: ${problems.slice(0, 3).join("; ")}`);
  }
  const tables = new Set(valuesOnce(db, "SELECT name FROM sqlite_master WHERE type = 'table'").map((r) => String(r[0])));
  if (tables.size === 0) return; // an empty database (e.g. created and never written): nothing to lose
  for (const t of ["meta", "queues", "jobs"]) {
    if (!tables.has(t)) throw corruptError(path, `table '${t}' is missing`);
  }
  const v = valuesOnce(db, "SELECT value FROM meta WHERE key = 'schema_version'")[0]?.[0];
  if (v !== schemaVersion) {
    throw new StorageError(`DATA_PATH ${path} has schema version ${v ?? "none"}; this ringq reads version ${schemaVersion}. Use the ringq version that wrote it, or move the file away.`);
  }
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
