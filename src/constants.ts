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
/** Nesting of arrays and maps inside a payload (data, result). Deeper input is refused: replies
 *  and JSON conversions recurse over it, and 24,000 levels once broke a reply half-way. */
export const payloadDepthMax = 64;
/** Jobs in one PUSHB. flashQ's limit; over it is an error, not a silent truncation. */
export const pushBatchJobsMax = 1000;
/** Jobs one PULLB may return; bounds one reply's size and one turn's work. */
export const pullBatchJobsMax = 1000;
/** What one reply's items may add up to (the jobs of a PULLB or a listing, by jobBytesBound):
 *  the frame limit less room for the envelope. Past it a batch is cut and the rest stay. */
export const replyItemsBytesMax = frameBytesMax - 64 * KiB;
/** Largest result an ACK may store, encoded: the same bound as job data, so a job's replies fit. */
export const resultBytesMax = jobDataBytesMax;
/** Ids in one ACKB / GETJOBSBATCH. */
export const idsBatchMax = 10_000;
/** Queue name length (docs/protocol.md: 1-256 chars of letters, digits, `_-.:`). */
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
/** Failed AUTHs after which the connection is closed: guessing tokens costs a reconnect each. */
export const authFailuresMax = 3;
/** Open connections; each costs buffers. The 1,000-connection test fits well inside. Lowered at
 *  start-up to what the file descriptor limit allows (io/fd-limit.ts). */
export const connectionsMax = 10_000;
/** File descriptors kept free of connections: the database, its WAL, the HTTP port and its
 *  clients, accepts in flight. */
export const fdReserve = 64;
/** After accept fails with EMFILE/ENFILE (descriptors taken by something else), accepting
 *  pauses this long, doubling up to acceptBackoffMsMax, instead of retrying in a loop. */
export const acceptBackoffMsMin = 50;
export const acceptBackoffMsMax = 1_000;
/** Requests in flight per connection (parked PULLs, WAITJOBs, unanswered ordered replies). */
export const requestsInFlightPerConnectionMax = 10_000;
/** Output queued for one connection above which the server stops reading its requests. */
export const outputBytesHighWater = 4 * MiB;
/** ...and below which it resumes. */
export const outputBytesLowWater = 1 * MiB;
/** Input buffered (unparsed) while a connection is paused for back-pressure; past it: closed. */
export const inputPausedBytesMax = frameBytesMax + 1 * MiB;
/** Big frame buffers (over 64 KiB) that connections let go, kept for the next large frame of any
 *  connection (framing.ts), and the largest one kept: at most 8 MiB held in all. */
export const frameBuffersSpare = 8;
export const frameBufferSpareBytesMax = 1 * MiB;
/** Time a graceful stop waits for queued replies to be sent before closing sockets. */
export const shutdownFlushMs = 2_000;

// ---- engine ----
/** Queues at once. An empty queue (no job, no parked puller, no setting) is dropped at once and
 *  costs nothing; this bounds the ones that hold something, at a few hundred bytes each. */
export const queuesMax = 100_000;
/** Queue names whose event counters are kept (~100 bytes each), live queues first: a queue that
 *  empties and fills again keeps counting from where it was. */
export const queueCountersMax = 2 * queuesMax;
/** Default max_attempts: finite, so a poison job ends in the DLQ instead of looping forever. */
export const maxAttemptsDefault = 3;
/** Upper bound for max_attempts a client may ask for. */
export const maxAttemptsMax = 1_000;
/** Default lease (stall timeout) of a pulled job, ms. docs/protocol.md: 30000. */
export const stallTimeoutMsDefault = 30_000;
/** Stalls (expired leases) after which a job goes to the DLQ instead of back to waiting. */
export const stallsMax = 3;
/** Longest backoff delay, ms (1 day): exponential backoff must not overflow into years. */
export const backoffMsMax = 24 * 60 * 60 * 1000;
/** Longest delay / ttl / timeout a client may ask for, ms (~10 years). */
export const durationMsMax = 10 * 365 * 24 * 60 * 60 * 1000;
/** Longest delay one setTimeout may be given, ms: a longer one (a job delayed for a month) fires
 *  after 1 ms in Bun and Node, which made an idle server wake every millisecond. A farther
 *  deadline is reached in steps of this size: the timer fires, the deadline is looked at again. */
export const timerDelayMsMax = 2 ** 31 - 1;
/** Longest a PULL/PULLB/WAITJOB may park, ms (1 hour). */
export const parkMsMax = 60 * 60 * 1000;
/** Default PULL timeout, ms (docs/protocol.md). */
export const pullTimeoutMsDefault = 60_000;
/** Default WAITJOB timeout, ms (docs/protocol.md). */
export const waitJobTimeoutMsDefault = 30_000;
/** Completed/failed job records kept in memory by default, across all queues. */
export const finishedJobsKeptDefault = 100_000;
/** KEEP_COMPLETED can be raised this far (and a job's keep count asked for): ~5 GB of records. */
export const finishedKeptMax = 10_000_000;
/** Age after which a finished job record is pruned by default, ms (1 hour). */
export const finishedJobAgeMsDefault = 60 * 60 * 1000;
/** Finished records pruned in one tick; keeps one tick short when a big backlog ages out. */
export const prunePerTickMax = 10_000;
/** Jobs one bulk operation (DRAIN, OBLITERATE, PURGEDLQ, RETRYDLQ, CLEAN) handles per loop turn;
 *  bigger ones continue in the next turns and answer when done. ~2 us a job: a few ms a turn. */
export const bulkJobsPerTurn = 2_000;
/** Expired leases / due delays handled in one tick before yielding back to I/O. */
export const timersPerTickMax = 50_000;
/** GETJOBS / DLQ / LISTQUEUES page size limit. */
export const listLimitMax = 10_000;
/** Jobs one GETJOBS walks inside one queue to reach its offset and fill its page; deeper pages
 *  are refused (LIMIT) so that no listing holds the loop for more than a few milliseconds. */
export const listWalkMax = 100_000;
/** RATELIMIT: jobs a second, and the bucket (burst). The default burst is a tenth of a second's
 *  worth (at least 1), so that in any window deliveries stay within ~10% of the rate. */
export const rateLimitPerSecondMax = 1_000_000;
export const rateBurstMax = 1_000_000;
/** SETCONCURRENCY: active jobs of a queue, and of one group. */
export const concurrencyLimitMax = 1_000_000;
/** Jobs in one FLOW (the parent, its children and theirs), and its nesting (a child's children
 *  ... this many levels below the parent; also what the request decoder's depth allows). */
export const flowJobsMax = 1_000;
export const flowDepthMax = 6;
/** Ids in one depends_on. */
export const dependsOnMax = 1_000;
/** The KV store: keys, one value's encoded size, and all keys and values together. KVKEYS walks
 *  every key, so the key bound is also what bounds its time (~10 ms at 100k keys). */
export const kvKeysMax = 100_000;
export const kvValueBytesMax = 1 * MiB;
export const kvBytesMax = 512 * MiB;
/** Keys in one KVMGET / KVMSET. */
export const kvBatchMax = 1_000;
/** Cron schedules (CRON), and the length of a schedule's name. */
export const schedulesMax = 10_000;
export const scheduleNameCharsMax = 256;
/** The shortest repeat_every, ms (a schedule is not a way to push a job every millisecond). */
export const scheduleEveryMsMin = 100;
/** METRICS: jobs_per_second and avg_latency_ms are over the last this-many-minus-one full seconds. */
export const throughputWindowSeconds = 11;
/** debounce_ttl when a push gives debounce_id alone (flashQ's default), ms. */
export const debounceTtlMsDefault = 5_000;
/** HELLO's client name. */
export const clientNameCharsMax = 256;
/** Stack traces kept per job (FAIL `stack`, newest last), like BullMQ's stackTraceLimit. */
export const stackTracesPerJobMax = 10;
/** Ids of jobs cancelled while active, remembered so that their worker's next HEARTBEAT, ACK or
 *  FAIL gets JOB_CANCELLED rather than NOT_FOUND (the oldest are forgotten past this). */
export const cancelledRememberedMax = 100_000;
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
 *  interval, so memory held between commits stays bounded under a burst. 100k made single
 *  commits of up to 470 ms that stalled the loop (bench/persistence.ts) with no throughput
 *  gain over batch; at ~2.3 us a row, 20k keeps one commit near 50 ms. */
export const noneCommitEntriesMax = 20_000;
/** WAL file size kept after a checkpoint (journal_size_limit); the WAL never stays at a burst's size. */
export const walBytesKeptMax = 64 * MiB;
/** SQLite page cache; big enough for the hot pages of a busy queue, small next to the jobs themselves. */
export const sqliteCacheBytes = 32 * MiB;
/** Jobs are stored in segments: one row holding the records a commit wrote (persistence/
 *  segments.ts). A commit's records are split into segments of at most this many bytes (one
 *  record bigger than that goes alone), so one compaction step reads a bounded row. */
export const segmentBytesMax = 1 * MiB;
/** A segment below this size (about 25 jobs of 100 bytes) is "small": small segments are merged
 *  once there are more than segmentsSmallMax of them, so a run of one-job commits does not leave
 *  a row (and 150 bytes of the journal's memory) per job. Kept low because a merge writes each
 *  of its jobs again: at 64 KiB, PUSHB 100 (14 KiB a commit) wrote every job twice. */
export const segmentSmallBytes = 4 * KiB;
export const segmentsSmallMax = 32;
/** A segment whose live records fall below 1/segmentLiveFraction of its records is compacted:
 *  its live jobs are written again in a newer segment and it is deleted. The file then holds at
 *  most about segmentLiveFraction times the live records, plus the small segments. */
export const segmentLiveFraction = 2;
/** Bytes of old segments one commit reads to compact: the bound on the extra work one commit
 *  does for compaction (about 5 ms at 1 MiB); a backlog is worked off over the next commits. */
export const compactBytesPerCommit = 1 * MiB;
/** Start-up (quick_check and recovery) reads the file through mmap up to this size (SQLite's
 *  own cap is about 2 GiB): quick_check of 1M jobs' file 105-124 -> 15 ms, reading its segments
 *  110-130 -> 83 ms (bench/README.md). Turned off once recovery is done, so a disk error while
 *  serving is an error from a read, never a SIGBUS. */
export const startupMmapBytes = 2 * 1024 * MiB;

// ---- events (SUBSCRIBE) ----
/** Queues one connection may subscribe to by name ("*" covers all): a bound on per-event fan-out work. */
export const subscriptionsPerConnectionMax = 1024;

// ---- HTTP (src/http) ----
/** Largest HTTP request body: the same bound as one TCP frame (a PUSHB of big jobs fits). */
export const httpBodyBytesMax = frameBytesMax;
/** HTTP requests parked at once across all clients (PULL, PULLB, WAITJOB, bulk operations over
 *  REST): each holds a socket and a promise; past it a request gets BUSY (429). */
export const httpParkedRequestsMax = 10_000;
/** SSE and WebSocket connections at once: each may buffer eventStreamBufferedBytesMax, so this
 *  bounds their memory (1,000 x 1 MiB) as well as the per-event fan-out work. */
export const httpEventStreamsMax = 1_000;
/** Output one SSE or WebSocket client may owe before its events are dropped (and counted in the
 *  `dropped` of the next one it gets): a slow browser loses events, the server never grows. */
export const eventStreamBufferedBytesMax = 1 * MiB;
/** An idle SSE stream gets a comment line this often, so proxies and browsers keep it open. */
export const eventStreamHeartbeatMs = 15_000;
/** The dashboard's snapshot stream (GET /stats/stream) sends one snapshot this often. */
export const statsStreamIntervalMs = 1_000;
/** Queues in one snapshot of the stats stream, busiest first (the dashboard shows a page). */
export const statsStreamQueuesMax = 500;
/** Requests in flight on one WebSocket (parked PULLs, WAITJOBs), as for a TCP connection. */
export const wsRequestsInFlightMax = requestsInFlightPerConnectionMax;
/** Queues with their own series in one /metrics scrape (largest first); the rest are summed
 *  under queue="_other", so a server with 100,000 queues does not emit millions of lines. */
export const metricsQueuesMax = 1_000;
/** Histograms kept per queue name (wait and processing time); later queues share "_other". */
export const metricsHistogramQueuesMax = metricsQueuesMax;
/** Failed HTTP authentications counted per client address within authFailureWindowMs; past
 *  the bound that address gets 429 until the window passes (guessing tokens stays slow). */
export const httpAuthFailuresMax = 20;
export const httpAuthFailureWindowMs = 60_000;
/** Client addresses whose failures are tracked at once (the oldest are forgotten first). */
export const httpAuthTrackedAddressesMax = 10_000;

// ---- webhooks (src/http/webhooks) ----
/** Registered webhooks; each event is matched against every one of them. */
export const webhooksMax = 100;
/** Length of a webhook URL and of its secret. */
export const webhookUrlCharsMax = 2_048;
export const webhookSecretCharsMax = 256;
/** Deliveries waiting to be sent (retries included); past it the oldest is dropped and counted. */
export const webhookQueueMax = 10_000;
/** Deliveries in flight at once (outgoing fetches). */
export const webhookConcurrencyMax = 8;
/** Attempts per delivery (the first included), with backoff doubling from min to max. */
export const webhookAttemptsMax = 5;
export const webhookBackoffMsMin = 1_000;
export const webhookBackoffMsMax = 60_000;
/** One attempt: connect, send and the receiver's answer. */
export const webhookTimeoutMs = 10_000;
/** Consecutive failed attempts to one URL that open its circuit: while open, its deliveries are
 *  dropped (counted) instead of piling up; after the open period one trial delivery is let
 *  through, and its failure doubles the period up to the max. */
export const webhookBreakerFailures = 5;
export const webhookBreakerOpenMs = 30_000;
export const webhookBreakerOpenMsMax = 10 * 60_000;

/** Ids (and lock tokens) reserved per durable write (Journal.reserve: one fsync per block). A
 *  crash skips what is left of the block; ids are 53-bit, so skipping is free. */
export const idBlockSize = 100_000;

// ---- engine tables ----
/** Smallest capacity of the job table (src/engine/id-map.ts); it grows and shrinks by halves. */
export const idMapCapacityMin = 1024;
/** A queue's active index starts at 8 slots and, once grown, shrinks no lower than this many
 *  (4 KiB: 8-byte ids and values). Shrinking to 8 on every full drain resized it 10 times per
 *  PULL 100 + ACK cycle (8 -> 256 -> 8): an in-process pull+complete took 311 ns a job with
 *  that, 232 without. A queue pays these 4 KiB only once it has had 90 jobs active at once. */
export const activeIndexSlotsRetained = 256;
/** The job table (engine/job-table.ts) keeps jobs in pages of 2^jobTablePageBits consecutive ids
 *  (32 KB each), so a young collection rescans only the pages written since the last one. */
export const jobTablePageBits = 12;
/** A page with fewer live jobs than 1/jobTableSparseFraction of its slots moves them to a hash
 *  map and goes: a held job costs at most 32 KB / 256 = 128 B of page, not a page. */
export const jobTableSparseFraction = 16;
/** Kinds per queue (model.ts JobKind: what jobs pushed with the same name, priority and options
 *  share, so a Job holds one reference for them). A kind is 64 bytes. When the table is full, it
 *  starts again (QueueState.forgetKinds): jobs keep the kinds they hold, and new combinations
 *  are shared again, so a long-lived queue with ever new job names stays at 64 bytes a kind,
 *  not a kind per job. */
export const jobKindsPerQueueMax = 1024;
/** Kinds of one name (one per priority and policy) looked through before a new one is made: a
 *  producer giving each job its own priority gets unshared kinds, not a long walk per push. */
export const jobKindsPerNameMax = 8;
/** Policies per queue (model.ts KindPolicy: attempts, backoff, timeouts, lifo, logs and
 *  retention options, 160 bytes each), looked through in a list; past this many, a kind gets a
 *  policy of its own. */
export const kindPoliciesPerQueueMax = 16;
/** A heap keeps its items in chunks of 2^heapChunkBits slots (32 KB), for the same reason as the
 *  job table's pages: a young collection rescans the chunks written since, not a 5M-job array. */
export const heapChunkBits = 12;
/** A run heap's chunk (run-heap.ts) no longer appended to becomes sparse (offsets and items
 *  only, about 16 B an item instead of 32 KB a chunk) at this many live items or fewer: the run's
 *  memory then follows its live items, not the span of positions it once held. */
export const runChunkSparseItems = 256;

/** Job payloads are packed into slabs (payloads.ts): a new slab is at least this big, doubling
 *  with what the arena holds up to the largest; a payload bigger than payloadOwnSlabBytes gets
 *  a slab of its own. The arena compacts (moves a sparse slab's live payloads on) once it holds
 *  more than payloadSlack times its live bytes plus two slabs: its memory follows what is live. */
export const payloadSlabBytesMin = 4 * KiB;
export const payloadSlabBytesMax = 256 * KiB;
export const payloadOwnSlabBytes = 64 * KiB;
export const payloadSlack = 2;
/** Slabs compacted at most per put or free (each moves at most half a slab's bytes). */
export const payloadCompactionsPerStep = 4;
/** Let-go slab buffers an arena keeps for reuse (of the largest size: 1 MiB). */
export const payloadSlabsSpare = 4;

// ---- request decoding ----
/** Slots of the decoder's short-string cache (power of two): keys, command and queue names.
 *  8192 x 32 bytes = 256 KiB. With 1024 slots, work spread over 1,000 queues missed often (a
 *  direct-mapped cache: names collide) and each miss built the string and re-hashed it for the
 *  queue lookup (9 % of the server's profile). Server CPU per PUSH over 1,000 queues: 0.94x
 *  (6 alternating rounds of bench/ab.ts; 3-round runs gave 0.84x and 0.99x); one queue unchanged. */
export const decodeInternSlots = 8192;
/** Longest string the decoder caches; longer ones are decoded each time. */
export const decodeInternBytesMax = 32;

// ---- io_uring ----
/** Slots the 32-bit user_data can name (14 bits, ffi/ringq_uring.h); connections must fit. */
export const uringSlotsMax = 1 << 14;
/** Submission queue entries. One turn's sends, re-arms and closes for ~2,000 busy connections
 *  fit without an extra enter; more costs one extra io_uring_enter, nothing else. */
export const uringSqEntries = 2048;
/** Completion queue entries: multishot recv/accept post without an SQE each, so the CQ is much
 *  larger than the SQ; the kernel keeps overflow (FEAT_NODROP) but that path is slow. */
export const uringCqEntries = 16_384;
/** Size of one provided recv buffer. Small frames fit in one; a 1 MiB frame spans 128. */
export const uringRecvBufferBytes = 8 * KiB;
/** Provided recv buffers (power of two, buffer ids are 16 bits). Buffers are lent for one batch
 *  only, so this bounds data in flight between kernel and JS per turn, not per connection. */
export const uringRecvBuffers = 2048;
/** One send-arena chunk; pipelined replies coalesce in it. A connection's chunks go out in one
 *  send SQE up to uringSendBytesMax: a plain send when they sit next to each other in the
 *  arena, a gathering SENDMSG when they do not. */
export const uringSendChunkBytes = 16 * KiB;
/** Most one send SQE moves: a 57 KB PULLB 100 reply is one send, not four in turn (one send is
 *  in flight per connection, so each piece would wait for a loop iteration). At most 16
 *  pieces apart in the arena (ffi/ringq_uring.h, RINGQ_SEND_IOVS), so at most 16 chunks. */
export const uringSendBytesMax = 256 * KiB;
/** Send-arena chunks (64 MiB of address space, NORESERVE: only touched pages cost memory). */
export const uringSendChunks = 4096;
/** Arena chunks one connection may hold (4 MiB); past it output waits in a per-connection JS
 *  queue, so one slow reader cannot starve the arena for everyone else. */
export const uringSendChunksPerConnectionMax = 256;
/** Arena chunks kept for connections holding fewer than uringSendChunksSmall: 16 slow readers
 *  at their 4 MiB cap fill 64 MiB, and without a reserve every other connection's replies
 *  waited for one of them to read (conformance finding). 512 chunks = 8 MiB. */
export const uringSendChunksReserve = 512;
/** A connection holding fewer chunks than this (128 KiB queued) may take from the reserve. */
export const uringSendChunksSmall = 8;
/** Command records per FFI call; a fuller turn submits early (one extra enter). */
export const uringCommandsMax = 8192;
/** Completions copied out per run; the rest wait in the CQ for the next run. */
export const uringCompletionsMax = 4096;
/** With RINGQ_URING_FILES=direct, accepted connections are direct descriptors in a registered
 *  file table (RECV, SEND and CLOSE skip the kernel's fd lookup): table entries beyond
 *  connectionsMax, where connections over the bound are accepted and closed at once. A full
 *  table fails the accept with ENFILE (handled as EMFILE: a pause). Not the default: it removed
 *  `fget` (1.3 % of the server's samples at one send per request) but server CPU per request at
 *  50k req/s over 1,000 connections stayed 0.98-1.02x, and plain fds keep connections visible
 *  to lsof, /proc/<pid>/fd and the open-fds gauge (bench/README.md, evening section). */
export const uringDirectFilesSlack = 64;
/** Listen backlog (the kernel clamps it to net.core.somaxconn); 1,000 simultaneous connects fit. */
export const uringListenBacklog = 4096;
/** Bound on the start-up probe's loopback self-test (docs/architecture.md: 100 ms). */
export const uringProbeTimeoutMs = 100;
/** Bound on validating the poll on Bun's epoll fd at listen. */
export const uringBunPollValidateMs = 100;
/** Longest one loop turn runs before yielding to Bun with setImmediate (docs/architecture.md: 1-2 ms), so
 *  Bun's own work (timers, signals, other sockets) never waits behind a busy ring. */
export const uringSliceMs = 2;
/** Longest idle wait inside io_uring_enter. The POLL on Bun's epoll fd ends it early for
 *  socket work; Bun timers (none on the hot path) run at most this late. 100 wake-ups/s idle. */
export const uringIdleWaitMaxMs = 10;
/** Empty waits in a row (about 200 ms of idleness) after which the idle wait gets longer. */
export const uringIdleWaitsBeforeLong = 20;
/** The idle wait of a server with nothing to do: 4 wake-ups/s instead of 100 (measured before:
 *  50 ms of CPU and ~1,000 syscalls per 3 idle seconds). Bun timers (DURABILITY=none's commit
 *  timer is the only one on the server) run at most this late while the ring is idle. */
export const uringIdleWaitLongMs = 250;
/** After shutdownFlushMs, time stop() waits for the kernel to confirm aborted connections. */
export const uringStopAbortMs = 1_000;

// ---- relations, asserted at load ----
function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`constants.ts: ${what}`);
}
assert(jobDataBytesMax < frameBytesMax, "a job's data must fit in one frame");
assert(payloadSlabBytesMax <= 2 ** 18 && payloadOwnSlabBytes <= payloadSlabBytesMax / 2 && payloadSlack >= 1.5, "a shared slab fits a payload reference's offset (payloads.ts); compaction always gains");
assert(jobDataBytesMax < replyItemsBytesMax && resultBytesMax < replyItemsBytesMax, "one job (its data), and one result, fit one reply");
assert(outputBytesLowWater < outputBytesHighWater, "low water below high water");
assert(inputPausedBytesMax >= frameBytesMax, "a paused connection can still hold one whole frame");
assert(pushBatchJobsMax <= idsBatchMax, "PUSHB ids fit an ids batch");
assert(stallsMax >= 1, "at least one stall before the DLQ");
assert(maxAttemptsDefault >= 1 && maxAttemptsDefault <= maxAttemptsMax, "default attempts in range");
assert(noneCommitIntervalMs > 0 && noneCommitEntriesMax > 0, "DURABILITY=none still commits");
assert(segmentSmallBytes < segmentBytesMax && segmentLiveFraction > 1 && compactBytesPerCommit >= segmentBytesMax, "segments: small below max, compaction reads at least one whole segment a commit");
assert((idMapCapacityMin & (idMapCapacityMin - 1)) === 0, "job table capacity is a power of two");
assert((decodeInternSlots & (decodeInternSlots - 1)) === 0 && decodeInternBytesMax < 256, "intern cache: power-of-two slots, byte lengths");
assert(connectionsMax < uringSlotsMax, "every connection fits a user_data slot");
assert((uringRecvBuffers & (uringRecvBuffers - 1)) === 0 && uringRecvBuffers <= 32_768, "buffer ring: power of two, 15-bit ids");
assert(uringCompletionsMax <= uringCqEntries, "one run's copy-out fits the CQ");
assert(uringSendChunks * uringSendChunkBytes < 2 ** 31, "send-arena offsets are int32");
assert(uringSendBytesMax >= uringSendChunkBytes && uringSendBytesMax % uringSendChunkBytes === 0, "a send is whole chunks");
assert(uringSendBytesMax / uringSendChunkBytes <= 16, "a send gathers at most 16 chunks (RINGQ_SEND_IOVS)");
assert(uringSendChunksReserve < uringSendChunks && uringSendChunksSmall * uringSendChunkBytes >= 64 * KiB, "a reserve below the arena; small connections still send 64 KiB at a time");
assert(uringSendChunksPerConnectionMax * uringSendChunkBytes >= outputBytesLowWater, "low water reachable inside the arena");
assert(httpBodyBytesMax >= jobDataBytesMax, "one job's data fits an HTTP body");
assert(eventStreamBufferedBytesMax >= 64 * KiB, "an event stream holds at least a few big events");
assert(webhookBackoffMsMin <= webhookBackoffMsMax && webhookBreakerOpenMs <= webhookBreakerOpenMsMax, "webhook back-off ranges");
assert(webhookAttemptsMax >= 1 && webhookConcurrencyMax >= 1, "webhooks are delivered");
