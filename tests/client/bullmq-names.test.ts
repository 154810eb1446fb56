// Every name of BullMQ's public surface (6.7.0's type declarations, plus the 5.x names since
// removed) is either supported by the client or refused by name: job options, the options of
// Queue, Worker and QueueEvents, the ioredis connection options BullMQ users pass, the methods
// of Queue, Worker and Job, and the events of QueueEvents and Worker. Each name must also be in
// docs/migrating-from-bullmq.md, so the guide cannot fall behind the code.

import { describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { FlowProducer, Job, Queue, QueueEvents, RingqError, Worker } from "../../src/client/index.ts";
import { toWireJob } from "../../src/client/options.ts";
import { repoRoot } from "./server.ts";

/** BullMQ's JobsOptions (6.7.0; `repeat` from 5.x), each with a value BullMQ accepts. */
const jobOptions: Record<string, unknown> = {
  timestamp: 1_700_000_000_000, priority: 3, delay: 10, attempts: 2, backoff: { type: "exponential", delay: 100 },
  lifo: true, removeOnComplete: true, removeOnFail: true, keepLogs: 10, stackTraceLimit: 5, sizeLimit: 1000,
  repeatJobKey: "k", jobId: "custom", parent: { id: "1", queue: "q" }, prevMillis: 1, deduplication: { id: "d" },
  failParentOnFailure: true, continueParentOnFailure: true, ignoreDependencyOnFailure: true,
  removeDependencyOnFailure: true, telemetry: { metadata: "m" }, repeat: { every: 1000 },
};
const queueOptions: Record<string, unknown> = {
  connection: { host: "127.0.0.1", port: 1 }, prefix: "bull", blockingConnection: false, skipVersionCheck: true,
  telemetry: {}, skipWaitingForReady: true, defaultJobOptions: { attempts: 2 }, streams: { events: { maxLen: 10 } },
  skipMetasUpdate: true, settings: {},
};
const workerOptions: Record<string, unknown> = {
  connection: { host: "127.0.0.1", port: 1 }, name: "w", autorun: false, concurrency: 2, limiter: { max: 1, duration: 1000 },
  metrics: { maxDataPoints: 10 }, maximumRateLimitDelay: 1000, maxStartedAttempts: 3, maxStalledCount: 1,
  stalledInterval: 30_000, removeOnComplete: { count: 10 }, removeOnFail: { count: 10 }, skipStalledCheck: true,
  skipLockRenewal: true, drainDelay: 5, lockDuration: 30_000, lockRenewTime: 15_000, runRetryDelay: 15_000, settings: {},
  useWorkerThreads: true, workerForkOptions: {}, workerThreadsOptions: {}, telemetry: {}, blockingConnection: true,
  skipVersionCheck: true, skipWaitingForReady: true, prefix: "bull",
};
const queueEventsOptions: Record<string, unknown> = {
  connection: { host: "127.0.0.1", port: 1 }, blockingConnection: true, skipVersionCheck: true, skipWaitingForReady: true,
  prefix: "bull", autorun: false, lastEventId: "$", blockingTimeout: 10_000,
};
const flowProducerOptions: Record<string, unknown> = {
  connection: { host: "127.0.0.1", port: 1 }, prefix: "bull", telemetry: {}, skipVersionCheck: true, skipWaitingForReady: true,
  blockingConnection: false,
};
/** ioredis options seen in BullMQ setups. */
const connectionOptions: Record<string, unknown> = {
  host: "127.0.0.1", port: 1, password: "p", username: "u", db: 1, tls: {}, maxRetriesPerRequest: null,
  enableOfflineQueue: false, retryStrategy: () => 1000, lazyConnect: true, url: "redis://x", path: "/tmp/s",
};
const queueMethods = [
  "add", "addBulk", "addJobLog", "clean", "close", "drain", "getJobScheduler", "getJobSchedulers", "getJobSchedulersCount",
  "getVersion", "isMaxed", "isPaused", "obliterate", "pause", "promoteJobs", "rateLimit", "remove", "removeDebounceKey",
  "removeDeduplicationKey", "removeDeprecatedPriorityKey", "removeGlobalConcurrency", "removeGlobalRateLimit",
  "removeJobScheduler", "removeOrphanedJobs", "removeRateLimitKey", "resume", "retryJobs", "setGlobalConcurrency",
  "setGlobalRateLimit", "trimEvents", "updateJobProgress", "upsertJobScheduler", "waitUntilReady",
  // queue-getters
  "count", "exportPrometheusMetrics", "getActive", "getActiveCount", "getCompleted", "getCompletedCount",
  "getCountsPerPriority", "getDebounceJobId", "getDeduplicationJobId", "getDelayed", "getDelayedCount", "getDependencies",
  "getFailed", "getFailedCount", "getGlobalConcurrency", "getGlobalRateLimit", "getJob", "getJobCountByTypes",
  "getJobCounts", "getJobLogs", "getJobState", "getJobs", "getMeta", "getMetrics", "getPrioritized", "getPrioritizedCount",
  "getQueueEvents", "getRanges", "getRateLimitTtl", "getWaiting", "getWaitingChildren", "getWaitingChildrenCount",
  "getWaitingCount", "getWorkers", "getWorkersCount", "recordJobCountsMetric",
  // 5.x
  "getRepeatableJobs", "removeRepeatable", "removeRepeatableByKey",
];
const workerMethods = [
  "cancelAllJobs", "cancelJob", "close", "delay", "extendJobLocks", "getNextJob", "isPaused", "isRunning", "pause",
  "processJob", "rateLimit", "resume", "run", "startStalledCheckTimer", "waitUntilReady",
];
const jobMethods = [
  "addJob", "asJSON", "asJSONSandbox", "changeDelay", "changePriority", "clearLogs", "extendLock", "getChildrenValues",
  "getDependencies", "getDependenciesCount", "getFailedChildrenValues", "getIgnoredChildrenFailures", "getState",
  "isActive", "isCompleted", "isDelayed", "isFailed", "isWaiting", "isWaitingChildren", "log", "moveToCompleted",
  "moveToDelayed", "moveToFailed", "moveToWait", "moveToWaitingChildren", "promote", "remove", "removeChildDependency",
  "removeDeduplicationKey", "removeUnprocessedChildren", "retry", "toFlowEntry", "toJSON", "updateData",
  "updateProgress", "waitUntilFinished",
  // 5.x
  "discard",
];
const queueEventNames = [
  "active", "added", "cleaned", "completed", "deduplicated", "delayed", "drained", "duplicated", "error", "failed",
  "paused", "progress", "removed", "resumed", "retries-exhausted", "stalled", "waiting", "waiting-children", "debounced",
];
const workerEventNames = [
  "active", "closed", "closing", "completed", "drained", "error", "failed", "paused", "progress", "ready", "resumed",
  "stalled", "ioredis:close",
];

interface Verdict {
  supported: string[];
  refused: Record<string, string>;
}

/** Run `attempt` per name: no error is "supported"; a RingqError naming it is "refused". */
function walk(names: string[], attempt: (name: string) => void): Verdict {
  const v: Verdict = { supported: [], refused: {} };
  for (const name of names) {
    try {
      attempt(name);
      v.supported.push(name);
    } catch (err) {
      expect(err).toBeInstanceOf(RingqError);
      // The error names what it refuses, so the caller knows which line to change.
      expect((err as Error).message).toContain(`${name}`);
      v.refused[name] = (err as Error).message;
    }
  }
  return v;
}

/** Calling a method with no arguments: a refused one throws NOT_SUPPORTED at once. */
function walkMethods(proto: object, names: string[]): Verdict {
  return walk(names, (name) => {
    const f = (proto as Record<string, unknown>)[name];
    expect({ name, type: typeof f }).toEqual({ name, type: "function" });
    let thrown: unknown = null;
    try {
      const r = (f as () => unknown).call(Object.create(proto));
      if (r instanceof Promise) r.catch(() => {});
    } catch (err) {
      thrown = err;
    }
    if (thrown instanceof RingqError && thrown.code === "NOT_SUPPORTED") throw thrown;
  });
}

const guide = fs.readFileSync(path.join(repoRoot, "docs/migrating-from-bullmq.md"), "utf8");
function inGuide(names: string[]): void {
  // `name` or `name(args)` in code quotes.
  const missing = names.filter((n) => !guide.includes(`\`${n}\``) && !guide.includes(`\`${n}(`));
  expect({ missing }).toEqual({ missing: [] });
}

describe("BullMQ's names: supported or refused by name", () => {
  test("job options (Queue.add / addBulk / defaultJobOptions)", () => {
    const v = walk(Object.keys(jobOptions), (name) => void toWireJob("n", { x: 1 }, { [name]: jobOptions[name] } as never));
    expect(v.supported.sort()).toEqual(["attempts", "backoff", "deduplication", "delay", "jobId", "keepLogs", "lifo", "priority", "removeOnComplete", "removeOnFail", "sizeLimit"]);
    // Retention counts and {age, count} (BullMQ's KeepJobs), deduplication with a ttl.
    for (const value of [10, { age: 60, count: 5 }]) expect(() => toWireJob("n", 1, { removeOnComplete: value, removeOnFail: value })).not.toThrow();
    expect(() => toWireJob("n", 1, { deduplication: { id: "d", ttl: 1000 }, dependsOn: [1, "2"] })).not.toThrow();
    // The flow options are a FlowProducer child's (tests/client/flows.test.ts), not queue.add's.
    for (const name of ["parent", "failParentOnFailure", "continueParentOnFailure", "ignoreDependencyOnFailure"]) expect(v.refused[name]).toMatch(/FLOW|FlowProducer/);
    inGuide(Object.keys(jobOptions));
  });

  test("Queue, Worker, QueueEvents and connection options", () => {
    const closers: { close(): Promise<unknown> }[] = [];
    const q = walk(Object.keys(queueOptions), (name) => void closers.push(new Queue("q", { [name]: queueOptions[name] } as never)));
    expect(q.supported.sort()).toEqual(["connection", "defaultJobOptions", "skipVersionCheck"]);
    const w = walk(Object.keys(workerOptions), (name) => void closers.push(new Worker("q", async () => {}, { autorun: false, [name]: workerOptions[name] } as never)));
    expect(w.supported.sort()).toEqual(["autorun", "concurrency", "connection", "drainDelay", "limiter", "lockRenewTime", "skipLockRenewal", "skipVersionCheck"]);
    const e = walk(Object.keys(queueEventsOptions), (name) => void closers.push(new QueueEvents("q", { autorun: false, [name]: queueEventsOptions[name] } as never)));
    expect(e.supported.sort()).toEqual(["autorun", "connection", "lastEventId", "skipVersionCheck"]);
    const f = walk(Object.keys(flowProducerOptions), (name) => void closers.push(new FlowProducer({ [name]: flowProducerOptions[name] } as never)));
    expect(f.supported.sort()).toEqual(["connection", "skipVersionCheck"]);
    const c = walk(Object.keys(connectionOptions), (name) => void closers.push(new Queue("q", { connection: { [name]: connectionOptions[name] } } as never)));
    expect(c.supported.sort()).toEqual(["host", "maxRetriesPerRequest", "port", "tls"]);
    for (const x of closers) void x.close();
    inGuide([...Object.keys(queueOptions), ...Object.keys(flowProducerOptions), ...Object.keys(workerOptions), ...Object.keys(queueEventsOptions), ...Object.keys(connectionOptions)]);
  });

  test("methods of Queue, Worker and Job", () => {
    const q = walkMethods(Queue.prototype, queueMethods);
    expect(Object.keys(q.refused).length).toBeGreaterThan(0);
    for (const m of ["add", "addBulk", "getJobs", "getWaiting", "getPrioritized", "promoteJobs", "remove", "getJobLogs"]) expect(q.supported).toContain(m);
    const w = walkMethods(Worker.prototype, workerMethods);
    expect(w.supported.sort()).toEqual(["cancelAllJobs", "cancelJob", "close", "isPaused", "isRunning", "pause", "rateLimit", "resume", "run", "waitUntilReady"]);
    const j = walkMethods(Job.prototype, jobMethods);
    for (const m of ["retry", "changeDelay", "discard", "moveToFailed", "moveToDelayed", "promote", "remove"]) expect(j.supported).toContain(m);
    expect(j.supported).toContain("clearLogs");
    for (const m of ["getChildrenValues", "getFailedChildrenValues", "getDependencies", "getDependenciesCount"]) expect(j.supported).toContain(m);
    for (const m of ["upsertJobScheduler", "getJobScheduler", "getJobSchedulers", "getJobSchedulersCount", "removeJobScheduler"]) expect(q.supported).toContain(m);
    for (const m of ["getRepeatableJobs", "removeRepeatable", "removeRepeatableByKey"]) expect(q.refused[m]).toMatch(/job scheduler API/);
    for (const m of ["getIgnoredChildrenFailures"]) expect(Object.keys(j.refused)).toContain(m);
    inGuide([...queueMethods, ...workerMethods, ...jobMethods]);
  });

  test("events of QueueEvents and Worker: a listener for one that never comes is refused", () => {
    const events = new QueueEvents("q", { autorun: false, connection: { port: 1 } });
    const worker = new Worker("q", async () => {}, { autorun: false, connection: { port: 1 } });
    const qe = walk(queueEventNames, (name) => void events.on(name, () => {}));
    expect(qe.supported.sort()).toEqual(["active", "added", "completed", "debounced", "deduplicated", "delayed", "drained", "error", "failed", "progress", "removed", "retries-exhausted", "stalled", "waiting", "waiting-children"]);
    const we = walk(workerEventNames, (name) => void worker.once(name, () => {}));
    expect(we.supported.sort()).toEqual(["active", "closed", "closing", "completed", "drained", "error", "failed", "paused", "progress", "ready", "resumed"]);
    // A typo is refused as well, naming the events there are.
    expect(() => events.on("complete", () => {})).toThrow(/unknown event "complete" \(events: active/);
    void events.close();
    void worker.close();
    inGuide([...queueEventNames, ...workerEventNames]);
  });
});
