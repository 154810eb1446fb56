// The numbered steps from an empty file to the current schema. A database records the version
// it is at; opening one runs the steps above it in one transaction (all or none), so a file
// written by any earlier release opens in this one. A file from a newer release is refused, not
// guessed at. Steps are only ever added: one that shipped is never edited.

export interface Migration {
  readonly version: number;
  /** One line for the start-up log and docs. */
  readonly what: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    what: "jobs (hot fields as columns, rare ones as a MessagePack blob), queues, meta",
    // jobs.id is the rowid, so recovery reads the table in id order without an index.
    // meta: next_id (ids are never reused, even when the newest jobs were deleted), schema_version.
    sql: `
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
      );`,
  },
  {
    version: 2,
    what: "records: one table for the smaller entities (schedules, KV entries, limits, webhooks), each kind with its own codec",
    sql: `CREATE TABLE records (kind INTEGER NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;`,
  },
  {
    version: 3,
    what: "queues.settings: the rate limit and the concurrency limits (MessagePack; NULL when all are defaults)",
    sql: `ALTER TABLE queues ADD COLUMN settings BLOB;`,
  },
  {
    version: 4,
    what: "segments: jobs stored as records packed into one row per commit (persistence/segments.ts); the jobs table's rows move there at the first commit",
    // The jobs table stays (empty) so that a file of any version opens the same way.
    sql: `CREATE TABLE segments (id INTEGER PRIMARY KEY, body BLOB NOT NULL);`,
  },
];

/** The version this release writes. */
export const schemaVersion = migrations[migrations.length - 1]!.version;

for (let i = 0; i < migrations.length; i++) {
  if (migrations[i]!.version !== i + 1) throw new Error(`migrations.ts: step ${i} has version ${migrations[i]!.version}, expected ${i + 1}`);
}
