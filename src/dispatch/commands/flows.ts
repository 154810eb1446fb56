// FLOW (a parent job and its children, nested, in any queues, all created or none) and
// GETCHILDREN (the children with their states, and the results of those that completed, kept on
// the parent). A child's EXT `on_failure` says what its failure does to its parent: fail_parent
// (default), ignore (counts as done) or continue (the parent runs now). The request schema is
// built level by level down to flowDepthMax, so a deeper child is refused by name rather than
// silently dropped; deduplication and depends_on are refused inside a flow.

import { Type, type TObject } from "@sinclair/typebox";
import { flowDepthMax, flowJobsMax } from "../../constants.ts";
import type { FlowNode } from "../../engine/engine.ts";
import { dependencyFailureNames, DependencyFailure, stateName } from "../../engine/model.ts";
import { ClientError } from "../../errors.ts";
import type { RawTree } from "../../protocol/decode.ts";
import { jobBytesBound } from "../../protocol/job-wire.ts";
import { Raw } from "../../protocol/msgpack.ts";
import { StatedJob } from "../../protocol/writer.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Id, JobWithState, Ok, Payload, pushOptions, Queue, ReplyBudget, Truncated, type JobSpec } from "../fields.ts";
import { defineCommand } from "../registry.ts";
import { pushInputOf } from "./produce.ts";

const OnFailure = Type.Union(dependencyFailureNames.map((n) => Type.Literal(n)), {
  description: "EXT: what this child's failure does to its parent: fail_parent (default), ignore (counts as done), continue (the parent runs now)",
});

function childSchema(level: number): TObject {
  const children = level < flowDepthMax
    ? Type.Array(childSchema(level + 1), { maxItems: flowJobsMax, description: "this child's own children" })
    : Type.Array(Type.Unknown(), { maxItems: 0, description: `flows nest at most ${flowDepthMax} levels below the parent` });
  return Type.Object({ queue: Queue, data: Payload, ...pushOptions, on_failure: Type.Optional(OnFailure), children: Type.Optional(children) });
}

const childTree: RawTree = { data: true };
childTree.children = [childTree];

interface ChildSpec extends JobSpec {
  queue: string;
  on_failure?: (typeof dependencyFailureNames)[number];
  children?: ChildSpec[];
}

function nodeOf(spec: ChildSpec, path: string): FlowNode {
  for (const f of ["depends_on", "debounce_id", "debounce_ttl", "deduplication"] as const) {
    if (spec[f] !== undefined) throw new ClientError("INVALID", `Invalid FLOW request: field '${path}${f}': not supported inside a flow (its jobs wait on each other)`);
  }
  const push = pushInputOf(spec.queue, spec);
  if (spec.on_failure !== undefined) push.onFailure = dependencyFailureNames.indexOf(spec.on_failure) as DependencyFailure;
  const children = (spec.children ?? []).map((c, i) => nodeOf(c, `${path}children.${i}.`));
  return { push, children };
}

export const flowCommands = [
  defineCommand({
    name: "FLOW",
    summary: `Creates a parent job and its children (nested up to ${flowDepthMax} levels, in any queues, at most ${flowJobsMax} jobs), all or none; the parent waits (waitingparent) until its children complete.`,
    schema: Type.Object({
      queue: Queue,
      data: Payload,
      ...pushOptions,
      children: Type.Array(childSchema(1), { minItems: 1, maxItems: flowJobsMax, description: "each: queue, data, push options, on_failure, children" }),
    }),
    raw: { data: true, children: [childTree] },
    reply: Ok({ parent_id: Id, children_ids: Type.Array(Id, { description: "the direct children, in order" }) }),
    handler(ctx: Ctx, r): HandlerResult {
      const root = nodeOf(r as unknown as ChildSpec, "");
      if (root.push.onFailure !== undefined) throw new ClientError("INVALID", "Invalid FLOW request: field 'on_failure' belongs to a child");
      const { parent, children } = ctx.engine.flow(root);
      return { ok: true, parent_id: parent.id, children_ids: children.map((c) => c.id) };
    },
  }),

  defineCommand({
    name: "GETCHILDREN",
    summary: "A flow parent's children with their states, how many completed, and (EXT) the results of the completed ones, kept on the parent even after a child's record is gone.",
    schema: Type.Object({ parent_id: Id }),
    reply: Ok({
      parent_id: Id,
      children: Type.Array(JobWithState, { description: "the children whose records still exist" }),
      completed: Type.Integer({ minimum: 0 }),
      total: Type.Integer({ minimum: 0 }),
      results: Type.Array(Type.Object({
        id: Id,
        queue: Type.Union([Type.String(), Type.Null()], { description: "the child's queue (null for a result stored by a release that did not keep it)" }),
        result: Type.Unknown(),
      }), { description: "EXT: each completed child's result, in completion order" }),
      truncated: Truncated,
    }),
    handler(ctx: Ctx, r): HandlerResult {
      const parent = ctx.engine.mustGet(r.parent_id);
      const x = parent.x;
      const ids = x?.childrenIds ?? [];
      const budget = new ReplyBudget();
      const results: { id: number; queue: string | null; result: Raw | null }[] = [];
      for (const [id, result, queue] of x?.childValues ?? []) {
        if (!budget.take(24 + 3 * (queue?.length ?? 0) + (result?.length ?? 1))) break;
        results.push({ id, queue, result: result === null ? null : new Raw(result) });
      }
      const children: StatedJob[] = [];
      for (const id of ids) {
        const job = ctx.engine.getJob(id);
        if (job === undefined) continue;
        if (!budget.take(jobBytesBound(job))) break;
        children.push(new StatedJob(job, stateName(job)));
      }
      const reply: Record<string, unknown> = { ok: true, parent_id: parent.id, children, completed: x?.childrenCompleted ?? 0, total: ids.length, results };
      if (budget.truncated) reply.truncated = true;
      return reply;
    },
  }),
];
