// Every limit in ringq, named once with its reason. Relations between limits are asserted at the
// bottom, at load, so a bad edit fails at start-up rather than in production.
// Runtime-tunable values (ports, retention, durability) live in config.ts; these are the bounds.

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- protocol ----
/** Largest binary frame or text line. flashQ's limit; bigger payloads belong in object storage. */
export const frameBytesMax = 16 * MiB;
/** Largest `data` of one job, encoded. Keeps one job from eating the memory of thousands. */
export const jobDataBytesMax = 10 * MiB;
/** Jobs in one PUSHB. flashQ's limit; over it is an error, not a silent truncation. */
export const pushBatchJobsMax = 1000;
/** Jobs one PULLB may return; bounds one reply's size and one turn's work. */
export const pullBatchJobsMax = 1000;
/** Ids in one ACKB / GETJOBSBATCH. */
export const idsBatchMax = 10_000;
/** Queue name length (PROTOCOL.md: 1-256 chars of letters, digits, `_-.:`). */
export const queueNameCharsMax = 256;
/** reqId length; an echo of a huge reqId would amplify input. */
export const reqIdCharsMax = 256;
/** Custom job id / unique key / group id length. */
export const keyCharsMax = 1024;
/** Tags on one job and length of one tag. */
export const tagsMax = 64;
export const tagCharsMax = 256;
/** Error message stored for a failed job; long stack traces are cut, not refused. */
export const errorCharsMax = 8 * KiB;

// ---- connections and output ----
/** Open connections; each costs buffers. The 1,000-connection test fits well inside. */
export const connectionsMax = 10_000;
/** Requests in flight per connection (parked PULLs, WAITJOBs, unanswered ordered replies). */
export const requestsInFlightPerConnectionMax = 10_000;
/** Output queued for one connection above which the server stops reading its requests. */
export const outputBytesHighWater = 4 * MiB;
/** ...and below which it resumes. */
export const outputBytesLowWater = 1 * MiB;
/** Input buffered (unparsed) while a connection is paused for back-pressure; past it: closed. */
export const inputPausedBytesMax = frameBytesMax + 1 * MiB;
/** Time a graceful stop waits for queued replies to be sent before closing sockets. */
export const shutdownFlushMs = 2_000;

// ---- engine ----
/** Default max_attempts: finite, so a poison job ends in the DLQ instead of looping forever. */
export const maxAttemptsDefault = 3;
/** Upper bound for max_attempts a client may ask for. */
export const maxAttemptsMax = 1_000;
/** Default lease (stall timeout) of a pulled job, ms. PROTOCOL.md: 30000. */
export const stallTimeoutMsDefault = 30_000;
/** Stalls (expired leases) after which a job goes to the DLQ instead of back to waiting. */
export const stallsMax = 3;
/** Longest backoff delay, ms (1 day): exponential backoff must not overflow into years. */
export const backoffMsMax = 24 * 60 * 60 * 1000;
/** Longest delay / ttl / timeout a client may ask for, ms (~10 years). */
export const durationMsMax = 10 * 365 * 24 * 60 * 60 * 1000;
/** Longest a PULL/PULLB/WAITJOB may park, ms (1 hour). */
export const parkMsMax = 60 * 60 * 1000;
/** Default PULL timeout, ms (PROTOCOL.md). */
export const pullTimeoutMsDefault = 60_000;
/** Default WAITJOB timeout, ms (PROTOCOL.md). */
export const waitJobTimeoutMsDefault = 30_000;
/** Completed/failed job records kept in memory by default, across all queues. */
export const finishedJobsKeptDefault = 100_000;
/** Age after which a finished job record is pruned by default, ms (1 hour). */
export const finishedJobAgeMsDefault = 60 * 60 * 1000;
/** Finished records pruned in one tick; keeps one tick short when a big backlog ages out. */
export const prunePerTickMax = 10_000;
/** Expired leases / due delays handled in one tick before yielding back to I/O. */
export const timersPerTickMax = 50_000;
/** GETJOBS / DLQ page size limit. */
export const listLimitMax = 10_000;
/** Progress messages and log lines kept per job. */
export const logsPerJobMax = 1_000;
export const logMessageCharsMax = 8 * KiB;

// ---- loop ----
/** Longest the io loop waits in the kernel without looking at the engine, ms. */
export const loopWaitMsMax = 1_000;
/** Longest one loop turn may keep the main thread before yielding to Bun's event loop, ms. */
export const loopSliceMs = 2;

// ---- persistence ----
/** DURABILITY=none: longest a change waits in memory before a commit, ms. Amortises many loop
 *  turns per transaction while bounding what a crash can lose. */
export const noneCommitIntervalMs = 100;
/** DURABILITY=none: pending changes (jobs written + removed) that force a commit before the
 *  interval, so memory held between commits stays bounded under a burst. */
export const noneCommitEntriesMax = 100_000;
/** WAL file size kept after a checkpoint (journal_size_limit); the WAL never stays at a burst's size. */
export const walBytesKeptMax = 64 * MiB;
/** SQLite page cache; big enough for the hot pages of a busy queue, small next to the jobs themselves. */
export const sqliteCacheBytes = 32 * MiB;

// ---- relations, asserted at load ----
function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`constants.ts: ${what}`);
}
assert(jobDataBytesMax < frameBytesMax, "a job's data must fit in one frame");
assert(outputBytesLowWater < outputBytesHighWater, "low water below high water");
assert(inputPausedBytesMax >= frameBytesMax, "a paused connection can still hold one whole frame");
assert(pushBatchJobsMax <= idsBatchMax, "PUSHB ids fit an ids batch");
assert(stallsMax >= 1, "at least one stall before the DLQ");
assert(maxAttemptsDefault >= 1 && maxAttemptsDefault <= maxAttemptsMax, "default attempts in range");
assert(noneCommitIntervalMs > 0 && noneCommitEntriesMax > 0, "DURABILITY=none still commits");
