// Every limit and default of the TypeScript client, named once with its reason.
// Server limits live in src/constants.ts; the client repeats the two it must respect (frame size,
// batch sizes) here on purpose, so the client has no import into the server tree and can be
// bundled alone for Node. Relations between the limits are asserted at the bottom, at load.

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- connection ----
/** Default server address (docs/protocol.md: port 6789). */
export const hostDefault = "127.0.0.1";
export const portDefault = 6789;
/** Largest frame the client accepts or sends; the server's limit (docs/protocol.md: 16 MiB). */
export const frameBytesMax = 16 * MiB;
/** Time a TCP connect (plus AUTH) may take before the attempt counts as failed. */
export const connectTimeoutMsDefault = 5_000;
/** First reconnect delay; small so a server restart costs little. */
export const reconnectDelayMsMin = 50;
/** Reconnect delay ceiling: exponential back-off stops doubling here so recovery stays prompt. */
export const reconnectDelayMsMax = 2_000;
/**
 * How long a request issued while the connection is down waits for it to come back before it
 * fails. Long enough to ride through a server restart, short enough that a caller hears of an
 * outage. Only applies once the connection has worked once: before that, a failed connect
 * fails the waiting requests at once (a wrong host or port should be loud, not slow).
 */
export const offlineWaitMsDefault = 10_000;
/** Requests parked while disconnected; past it new requests fail at once instead of piling up. */
export const offlineRequestsMax = 100_000;
/**
 * Time past a request's own server-side wait (PULL/WAITJOB timeout) after which a missing reply
 * is an error. Generous: a busy server with sync durability may be slow, never silent.
 */
export const replyTimeoutMsDefault = 30_000;
/** Interval of the sweep that expires overdue requests; one timer per connection, not per request. */
export const replySweepMs = 1_000;
/** Bytes buffered for one write before it is flushed early (bounds one write's size). */
export const writeBatchBytesMax = 1 * MiB;

// ---- batches (the server's limits, docs/protocol.md) ----
/** Jobs in one PUSHB; addBulk splits larger arrays into several pipelined PUSHBs. */
export const pushBatchJobsMax = 1000;
/** Jobs one PULLB may ask for. */
export const pullBatchJobsMax = 1000;
/** Ids in one ACKB. */
export const ackBatchIdsMax = 10_000;

// ---- worker ----
/** Default concurrency (BullMQ's default). */
export const concurrencyDefault = 1;
/** Upper bound on concurrency: each running job costs memory and a lease on the server. */
export const concurrencyMax = 100_000;
/**
 * Default time, in seconds, an idle worker's PULLB waits on the server (BullMQ's `drainDelay`).
 * BullMQ uses 5 s; ringq's Worker.close() waits for the parked pull so that jobs it returns are
 * run rather than left to a lease expiry, so a shorter wait keeps close() quick.
 */
export const drainDelaySecondsDefault = 1;
/**
 * PULLBs a worker keeps in flight. Two lets the server prepare the next batch while the client
 * runs the current one (measured: +40-60% no-op throughput on 2 cores); each asks for at most
 * concurrency/2 jobs, so the worker still never holds more than `concurrency`.
 */
export const pullsInFlightMax = 2;
/** Lease assumed for a job that does not say its stall_timeout (docs/protocol.md default). */
export const leaseMsDefault = 30_000;
/** Heartbeats per lease: renewing at a third of it survives two lost or late heartbeats. */
export const heartbeatsPerLease = 3;
/** Fastest heartbeat tick, so a tiny stall_timeout cannot turn the worker into a busy loop. */
export const heartbeatMsMin = 50;
/** Back-off after a failed pull, from min doubling to max, so an outage does not spin. */
export const pullRetryMsMin = 50;
export const pullRetryMsMax = 2_000;
/** Error message sent with FAIL; longer stack traces are cut (the server keeps 8 KiB). */
export const failErrorCharsMax = 8 * KiB;

// ---- listings (queue-getters.ts) ----
/**
 * Jobs per GETJOBS request of getJobs/getWaiting/...: a page the server walks and answers in a
 * few ms. The server refuses an offset more than 100,000 jobs into one state of a queue
 * (LIMIT); that error reaches the caller unchanged.
 */
export const listPageJobsMax = 1000;
/** Delayed jobs promoted per round of promoteJobs when no count is given (BullMQ's default). */
export const promoteBatchJobsDefault = 1000;

// ---- queue limits (limits.ts) ----
/** Queues per LISTQUEUES page when a queue's settings are looked up (the server allows 10,000). */
export const listQueuesPageMax = 1000;
/** Queues walked at most to find one queue's settings: bounds getGlobalConcurrency & co. */
export const queuesListedMax = 1_000_000;

// ---- worker cancellation and holds (worker.ts) ----
/** Longest Worker.rateLimit hold (BullMQ takes any ms; a day bounds a typo). */
export const workerHoldMsMax = 24 * 60 * 60 * 1000;

// ---- queue events ----
/**
 * Polling interval of QueueEvents on a server without SUBSCRIBE (queue-events-poll.ts).
 * Bounds the event latency; each poll is a handful of small requests.
 */
export const eventsPollMsDefault = 100;
/** Back-off of a failed SUBSCRIBE (server down at start), from min doubling to max. */
export const eventsSubscribeRetryMsMin = 50;
export const eventsSubscribeRetryMsMax = 2_000;
/** Jobs per GETJOBS page of QueueEvents. */
export const eventsListLimit = 1000;
/** Pages per state per poll: bounds one poll's work; what is left is read by the next poll. */
export const eventsPagesMax = 10;
/** Ids remembered as already reported, so a job is not announced twice; oldest forgotten first. */
export const eventsSeenIdsMax = 100_000;

// ---- job ----
/** Largest BullMQ priority (BullMQ's PRIORITY_LIMIT, 2^21 - 1); 0 means no priority. */
export const priorityMax = 2 ** 21 - 1;
/** Longest one WAITJOB asks the server to park (server's parkMsMax is 1 h); longer waits loop. */
export const waitJobMsMax = 60 * 60 * 1000;

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`client/constants.ts: ${what}`);
}
assert(reconnectDelayMsMin <= reconnectDelayMsMax, "reconnect delay min <= max");
assert(pullRetryMsMin <= pullRetryMsMax, "pull retry min <= max");
assert(eventsSubscribeRetryMsMin <= eventsSubscribeRetryMsMax, "subscribe retry min <= max");
assert(pullBatchJobsMax <= ackBatchIdsMax, "one pulled batch fits one ACKB");
assert(writeBatchBytesMax < frameBytesMax, "a write batch is smaller than one max frame");
assert(heartbeatsPerLease >= 2, "at least two heartbeats per lease");
