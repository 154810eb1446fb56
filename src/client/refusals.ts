// The BullMQ names (constructor options, methods, events) the client does not support, each
// refused by name with the reason, so code moved over from BullMQ fails at the first call that
// would behave differently instead of running without the behaviour it asked for. Job options
// are refused in options.ts; docs/migrating-from-bullmq.md lists every name of both files.

import { EventEmitter } from "node:events";
import { RingqError } from "./errors.ts";

const noHold = "the server cannot hold a queue for a time: use setGlobalRateLimit, or Worker.rateLimit (holds that worker)";
const noLimiterState = "the server does not report how much of the rate limit is used (only the rate: getGlobalRateLimit)";
const dedup = "the server has no command to look up or remove a deduplication id (a window ends with its ttl or its job's record)";
const repeatables = "BullMQ's legacy repeatable jobs are not kept apart from schedules: use the job scheduler API (getJobSchedulers, removeJobScheduler)";
const noRedis = "ringq is not Redis: there is no such thing to manage";

/** Options every BullMQ class takes (QueueBaseOptions) that ringq refuses. */
const baseOptionRefusals: Record<string, string> = {
  prefix: "ringq has no key prefixes; use distinct queue names (or another server)",
  blockingConnection: "the client always uses its one connection",
  skipWaitingForReady: "requests made while disconnected always wait for the connection (offlineWaitMs)",
  telemetry: "ringq's client has no OpenTelemetry integration",
};

export const queueOptionRefusals: Readonly<Record<string, string>> = {
  ...baseOptionRefusals,
  streams: "ringq keeps no event stream to trim",
  skipMetasUpdate: noRedis,
  settings: "custom repeat strategies are not supported: the server computes each schedule's runs",
};

export const flowProducerOptionRefusals: Readonly<Record<string, string>> = baseOptionRefusals;

export const workerOptionRefusals: Readonly<Record<string, string>> = {
  ...baseOptionRefusals,
  name: "workers are not named on the server",
  maximumRateLimitDelay: "a rate-limited pull waits on the server until a token comes (parked up to drainDelay)",
  metrics: "the server keeps no per-worker metrics",
  maxStartedAttempts: "the server does not count starts",
  stalledInterval: "the server detects stalls itself, when a job's lease (stallTimeout) expires",
  skipStalledCheck: "the server detects stalls itself, when a job's lease (stallTimeout) expires",
  lockDuration: "a job's lease is set when it is added (the stallTimeout job option); HEARTBEAT renews it and cannot change it",
  removeOnComplete: "ACK carries no retention: a job's retention is set when it is added (the removeOnComplete job option, or the Queue's defaultJobOptions)",
  removeOnFail: "FAIL carries no retention: a job's retention is set when it is added (the removeOnFail job option, or the Queue's defaultJobOptions)",
  runRetryDelay: "a failed pull is retried with back-off from 50 ms to 2 s",
  settings: "custom backoff strategies are not supported (backoff is computed by the server)",
  useWorkerThreads: "sandboxed processors are not supported",
  workerForkOptions: "sandboxed processors are not supported",
  workerThreadsOptions: "sandboxed processors are not supported",
};

export const queueEventsOptionRefusals: Readonly<Record<string, string>> = {
  ...baseOptionRefusals,
  blockingTimeout: "events are pushed by the server (SUBSCRIBE); there is no blocking read",
};

/** Connection options of ioredis that a BullMQ user may pass, and what to use instead. */
export const connectionOptionRefusals: Readonly<Record<string, string>> = {
  password: "use token (one of the server's AUTH_TOKENS)",
  username: "use token (one of the server's AUTH_TOKENS)",
  db: "ringq has no numbered databases; use distinct queue names",
  url: "use host and port",
  path: "ringq listens on TCP only",
  enableOfflineQueue: "requests always wait for the connection, up to offlineWaitMs",
  retryStrategy: "reconnects back off from 50 ms to 2 s by themselves",
  lazyConnect: "the client always connects on the first request",
};

/** Methods of BullMQ's Queue the client does not have, and why. */
export const queueMethodRefusals: Readonly<Record<string, string>> = {
  getRepeatableJobs: repeatables,
  removeRepeatable: repeatables,
  removeRepeatableByKey: repeatables,
  rateLimit: noHold,
  getRateLimitTtl: noLimiterState,
  removeRateLimitKey: `${noLimiterState}; removeGlobalRateLimit clears the limit`,
  getDeduplicationJobId: dedup,
  removeDeduplicationKey: dedup,
  getDebounceJobId: dedup,
  removeDebounceKey: dedup,
  getDependencies: "use job.getDependencies() on the parent (queue.getJob(parentId))",
  getWorkers: "the server does not list its connections",
  getWorkersCount: "the server does not list its connections",
  getMetrics: "the server keeps no completed/failed time series",
  exportPrometheusMetrics: "the server keeps no completed/failed time series",
  recordJobCountsMetric: "the server keeps no completed/failed time series",
  getCountsPerPriority: "the server does not count jobs per priority",
  trimEvents: "ringq keeps no event stream to trim",
  removeOrphanedJobs: noRedis,
  removeDeprecatedPriorityKey: noRedis,
  getVersion: noRedis,
  getMeta: noRedis,
  getRanges: "use getJobs",
  getQueueEvents: "the server does not list its subscribers",
};

export const workerMethodRefusals: Readonly<Record<string, string>> = {
  getNextJob: "manual processing is not supported: give the Worker a processor",
  processJob: "manual processing is not supported: give the Worker a processor",
  extendJobLocks: "the Worker renews its jobs' leases itself (HEARTBEAT)",
  startStalledCheckTimer: "the server detects stalls itself",
  delay: "an internal helper of BullMQ's Worker; use setTimeout",
};

export const jobMethodRefusals: Readonly<Record<string, string>> = {
  getIgnoredChildrenFailures: "the server does not say which child failures were ignored; getFailedChildrenValues lists every failed child",
  removeChildDependency: "the server has no command to detach a child from its parent",
  removeUnprocessedChildren: "the server has no command for it (removing a child one by one fails a parent that waits on it, unless the child ignores failures)",
  moveToWaitingChildren: "the server has no command to make a running job wait for children (a flow's parent waits from the start)",
  toFlowEntry: "an internal of BullMQ's flows",
  removeDeduplicationKey: dedup,
  extendLock: "a lease is renewed by the job's own stallTimeout (the Worker does it: HEARTBEAT)",
  addJob: "use queue.add",
  asJSON: "use toJSON",
  asJSONSandbox: "sandboxed processors are not supported",
};

/** QueueEvents events BullMQ has and the client cannot report, and why. */
export const queueEventRefusals: Readonly<Record<string, string>> = {
  cleaned: "the server sends no event for CLEAN",
  paused: "the server sends no event for PAUSE",
  resumed: "the server sends no event for RESUME",
  duplicated: "the server sends no event when an add names a live jobId (the add resolves to that job)",
};

export const workerEventRefusals: Readonly<Record<string, string>> = {
  stalled: "the server detects stalls; listen to QueueEvents 'stalled'",
  "ioredis:close": "ringq is not Redis; listen to 'error' for connection problems",
};

/** Throw, naming the option, for each key of `opts` that is refused or unknown. */
export function checkOptions(
  where: string,
  opts: object,
  supported: readonly string[],
  refused: Readonly<Record<string, string>>,
): void {
  for (const key of Object.keys(opts)) {
    if ((opts as Record<string, unknown>)[key] === undefined || supported.includes(key)) continue;
    if (key in refused) throw new RingqError(`${where}: option "${key}": ${refused[key]}`, "INVALID");
    throw new RingqError(`${where}: unknown option "${key}" (supported: ${supported.join(", ")})`, "INVALID");
  }
}

/** Give a class, for each refused method name, a method that throws naming it. */
export function installMethodRefusals(proto: object, cls: string, refused: Readonly<Record<string, string>>): void {
  for (const [method, reason] of Object.entries(refused)) {
    if (method in proto) throw new Error(`refusals.ts: ${cls}.${method} exists and is also refused`);
    Object.defineProperty(proto, method, {
      configurable: true,
      writable: true,
      value() {
        throw new RingqError(`${cls}.${method}: ${reason}`, "NOT_SUPPORTED");
      },
    });
  }
}

/**
 * An EventEmitter that refuses listeners for events it will never emit: a BullMQ event it
 * cannot report (with the reason), or a name it does not know (a typo would listen forever).
 */
export class CheckedEmitter extends EventEmitter {
  constructor(
    private readonly emitterName: string,
    private readonly knownEvents: readonly string[],
    private readonly refusedEvents: Readonly<Record<string, string>>,
  ) {
    super();
  }

  private checkEvent(event: string | symbol): void {
    // Symbols and EventEmitter's own events are not ours to judge.
    if (typeof event !== "string" || event === "newListener" || event === "removeListener") return;
    if (this.knownEvents.includes(event)) return;
    if (event in this.refusedEvents) {
      throw new RingqError(`${this.emitterName}: event "${event}" is not reported: ${this.refusedEvents[event]}`, "NOT_SUPPORTED");
    }
    throw new RingqError(`${this.emitterName}: unknown event "${event}" (events: ${this.knownEvents.join(", ")})`, "INVALID");
  }

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    this.checkEvent(event);
    return super.on(event, listener);
  }
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    this.checkEvent(event);
    return super.addListener(event, listener);
  }
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    this.checkEvent(event);
    return super.once(event, listener);
  }
  override prependListener(event: string | symbol, listener: (...args: any[]) => void): this {
    this.checkEvent(event);
    return super.prependListener(event, listener);
  }
  override prependOnceListener(event: string | symbol, listener: (...args: any[]) => void): this {
    this.checkEvent(event);
    return super.prependOnceListener(event, listener);
  }
}
