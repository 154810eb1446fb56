// The public surface of the ringq TypeScript client (`import { Queue, Worker } from "ringq"`):
// BullMQ-shaped Queue, Worker, QueueEvents, Job and FlowProducer over the flashQ wire protocol.
// Runs on Bun and on Node 20 (node:net, node:events and msgpackr only; no Bun-only API).

export { Connection, type ConnectionOptions, type Reply } from "./connection.ts";
export {
  AuthError,
  BulkAddError,
  ClosedError,
  CommandError,
  ConnectionError,
  DelayedError,
  JobFailedError,
  RateLimitError,
  RingqError,
  TimeoutError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from "./errors.ts";
export { FlowProducer, type FlowChildJobsOptions, type FlowJob, type FlowOpts, type FlowProducerOptions, type JobNode } from "./flow-producer.ts";
export { Job, type JobState, type WireJob } from "./job.ts";
export type { Dependencies } from "./job-flow.ts";
export type { JobSchedulerJson, JobSchedulerTemplate, RepeatOptions } from "./job-schedulers.ts";
export type { BackoffOptions, JobsOptions, KeepJobs } from "./options.ts";
export { Queue, type JobCounts, type QueueOptions } from "./queue.ts";
export type { JobType } from "./queue-getters.ts";
export { QueueEvents, type QueueEventsOptions } from "./queue-events.ts";
export { Worker, type Processor, type WorkerOptions } from "./worker.ts";
