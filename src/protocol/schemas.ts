// Request schemas (typebox), compiled once at load. validate() returns null or a message that
// names the offending field. Unknown fields are allowed (PROTOCOL.md: ignored).

import { Type, type TSchema, type Static } from "@sinclair/typebox";
import { eventNames } from "../server/events.ts";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { stateNames } from "../engine/job.ts";
import {
  durationMsMax,
  idsBatchMax,
  keyCharsMax,
  listLimitMax,
  maxAttemptsMax,
  parkMsMax,
  pullBatchJobsMax,
  pushBatchJobsMax,
  queueNameCharsMax,
  tagCharsMax,
  tagsMax,
  logMessageCharsMax,
} from "../constants.ts";

const Id = Type.Integer({ minimum: 0 });
const Queue = Type.String({ minLength: 1, maxLength: queueNameCharsMax, pattern: "^[A-Za-z0-9_.:\\-]+$" });
const Duration = Type.Integer({ minimum: 0, maximum: durationMsMax });
const Key = Type.String({ minLength: 1, maxLength: keyCharsMax });
const LockToken = Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Integer({ minimum: 0 })]));
const Ids = Type.Array(Id, { maxItems: idsBatchMax });
const Opt = Type.Optional;

const pushOptions = {
  /** EXT: the producer's name for the job (BullMQ job.name), returned in the job object. */
  name: Opt(Type.String({ maxLength: keyCharsMax })),
  priority: Opt(Type.Integer({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1 })),
  delay: Opt(Duration),
  ttl: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax })),
  timeout: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax })),
  max_attempts: Opt(Type.Integer({ minimum: 1, maximum: maxAttemptsMax })),
  backoff: Opt(
    Type.Union([
      Duration,
      Type.Object({ type: Type.Union([Type.Literal("fixed"), Type.Literal("exponential")]), delay: Duration }),
    ]),
  ),
  unique_key: Opt(Key),
  job_id: Opt(Key),
  tags: Opt(Type.Array(Type.String({ maxLength: tagCharsMax }), { maxItems: tagsMax })),
  lifo: Opt(Type.Boolean()),
  remove_on_complete: Opt(Type.Boolean()),
  remove_on_fail: Opt(Type.Boolean()),
  stall_timeout: Opt(Type.Integer({ minimum: 1, maximum: durationMsMax })),
  group_id: Opt(Key),
};

export const JobSpec = Type.Object({ data: Type.Unknown(), ...pushOptions });
export type JobSpec = Static<typeof JobSpec>;

const byId = Type.Object({ id: Id });
const byQueue = Type.Object({ queue: Queue });
const none = Type.Object({});

export const schemas = {
  PUSH: Type.Object({ queue: Queue, data: Type.Unknown(), ...pushOptions }),
  PUSHB: Type.Object({ queue: Queue, jobs: Type.Array(JobSpec, { maxItems: pushBatchJobsMax }) }),
  PULL: Type.Object({ queue: Queue, timeout: Opt(Type.Integer({ minimum: 0, maximum: parkMsMax })) }),
  PULLB: Type.Object({
    queue: Queue,
    count: Type.Integer({ minimum: 1, maximum: pullBatchJobsMax }),
    timeout: Opt(Type.Integer({ minimum: 0, maximum: parkMsMax })),
    /** EXT: leave out job fields that are null or false (about half of them for a plain job). */
    sparse: Opt(Type.Boolean()),
  }),
  ACK: Type.Object({ id: Id, result: Opt(Type.Unknown()), lock_token: LockToken }),
  ACKB: Type.Object({ ids: Ids }),
  FAIL: Type.Object({ id: Id, error: Opt(Type.String()), lock_token: LockToken }),
  HEARTBEAT: Type.Object({ id: Id, lock_token: LockToken }),
  PROGRESS: Type.Object({
    id: Id,
    progress: Type.Number({ minimum: 0, maximum: 100 }),
    message: Opt(Type.String({ maxLength: logMessageCharsMax })),
  }),
  GETPROGRESS: byId,
  GETJOB: byId,
  GETSTATE: byId,
  GETRESULT: byId,
  GETJOBBYCUSTOMID: Type.Object({ job_id: Key }),
  GETJOBSBATCH: Type.Object({ ids: Ids }),
  WAITJOB: Type.Object({ id: Id, timeout: Opt(Type.Integer({ minimum: 0, maximum: parkMsMax })) }),
  CANCEL: byId,
  CHANGEPRIORITY: Type.Object({ id: Id, priority: Type.Integer({ minimum: -(2 ** 31), maximum: 2 ** 31 - 1 }) }),
  MOVETODELAYED: Type.Object({ id: Id, delay: Duration, lock_token: LockToken }),
  PROMOTE: byId,
  UPDATEJOB: Type.Object({ id: Id, data: Type.Unknown() }),
  DISCARD: byId,
  DLQ: Type.Object({ queue: Queue, count: Opt(Type.Integer({ minimum: 1, maximum: listLimitMax })) }),
  RETRYDLQ: Type.Object({ queue: Queue, id: Opt(Id) }),
  PURGEDLQ: byQueue,
  PAUSE: byQueue,
  RESUME: byQueue,
  ISPAUSED: byQueue,
  DRAIN: byQueue,
  OBLITERATE: byQueue,
  COUNT: byQueue,
  GETJOBCOUNTS: byQueue,
  LISTQUEUES: none,
  STATS: none,
  SUBSCRIBE: Type.Object({
    queue: Type.Union([Queue, Type.Literal("*")]),
    events: Opt(Type.Array(Type.Union(eventNames.map((e) => Type.Literal(e))), { maxItems: eventNames.length })),
  }),
  UNSUBSCRIBE: Type.Object({ queue: Opt(Type.Union([Queue, Type.Literal("*")])) }),
  LOG: Type.Object({
    id: Id,
    message: Type.String({ maxLength: logMessageCharsMax }),
    level: Opt(Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")])),
  }),
  GETLOGS: byId,
  GETJOBS: Type.Object({
    queue: Opt(Queue),
    state: Opt(Type.Union(stateNames.map((n) => Type.Literal(n)))),
    limit: Opt(Type.Integer({ minimum: 1, maximum: listLimitMax })),
    offset: Opt(Type.Integer({ minimum: 0 })),
  }),
  CLEAN: Type.Object({
    queue: Queue,
    grace: Duration,
    state: Type.Union([Type.Literal("completed"), Type.Literal("failed"), Type.Literal("waiting"), Type.Literal("delayed")]),
    limit: Opt(Type.Integer({ minimum: 1, maximum: listLimitMax })),
  }),
  AUTH: Type.Object({ token: Type.String({ maxLength: keyCharsMax }) }),
  PING: none,
  HELLO: Type.Object({ protocol_version: Opt(Type.Integer()), client: Opt(Type.String({ maxLength: keyCharsMax })) }),
} satisfies Record<string, TSchema>;

export type CommandName = keyof typeof schemas;
export type RequestOf<C extends CommandName> = Static<(typeof schemas)[C]>;

const compiled = new Map<string, TypeCheck<TSchema>>();
for (const [name, schema] of Object.entries(schemas)) compiled.set(name, TypeCompiler.Compile(schema));

/** null if valid, else a message naming the first offending field. */
export function validate(cmd: string, body: unknown): string | null {
  const check = compiled.get(cmd);
  if (check === undefined) return null;
  if (check.Check(body)) return null;
  const first = check.Errors(body).First();
  if (first === undefined) return `Invalid ${cmd} request`;
  const field = first.path.replace(/^\//, "").replace(/\//g, ".") || "(request)";
  return `Invalid ${cmd} request: field '${field}': ${first.message}`;
}
