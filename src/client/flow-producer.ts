// FlowProducer: BullMQ's flows (a parent job and its children, nested, in any queues) on the
// server's FLOW, which creates the whole tree or nothing; the parent waits (BullMQ's
// waiting-children) until its children are done and reads their results with
// job.getChildrenValues() (job-flow.ts). getFlow reads a tree back (GETJOB, GETCHILDREN).
// A child's failure options map to FLOW's on_failure; what FLOW cannot express is refused by
// name, as everywhere in the client.

import { Connection, type ConnectionOptions } from "./connection.ts";
import { RingqError } from "./errors.ts";
import { Job, type WireJob } from "./job.ts";
import { readChildren } from "./job-flow.ts";
import { type JobsOptions, toWireJob, withDefaults } from "./options.ts";
import { openConnection } from "./queue.ts";
import { checkOptions, flowProducerOptionRefusals } from "./refusals.ts";

/** A child's options: a job's, plus what its failure does to its parent (one of the three). */
export interface FlowChildJobsOptions extends JobsOptions {
  /** The parent fails when this child fails for good (the server's default in a flow). */
  failParentOnFailure?: boolean;
  /** The parent runs as soon as this child fails for good. */
  continueParentOnFailure?: boolean;
  /** This child's failure counts as done; it stays listed in getFailedChildrenValues. */
  ignoreDependencyOnFailure?: boolean;
}

/** One job of a flow (BullMQ's FlowJob / FlowChildJob). */
export interface FlowJob {
  name: string;
  queueName: string;
  data?: unknown;
  opts?: FlowChildJobsOptions;
  children?: FlowJob[];
}

/** A flow's job and its children as added or read back (BullMQ's JobNode). */
export interface JobNode {
  job: Job;
  children?: JobNode[];
}

/** Per-queue defaults merged under the options of the flow's jobs of that queue (BullMQ). */
export interface FlowOpts {
  queuesOptions?: Record<string, { defaultJobOptions?: JobsOptions }>;
}

export interface FlowProducerOptions {
  connection?: ConnectionOptions | Connection;
  /** Accepted for BullMQ code: ringq makes no server version check. */
  skipVersionCheck?: boolean;
}

const flowJobFields = ["name", "queueName", "data", "opts", "children"];
const flowJobRefusals: Record<string, string> = {
  prefix: "ringq has no key prefixes; use distinct queue names",
};

/** What the flow option says, as FLOW's on_failure; undefined when none is set. */
function onFailureOf(opts: FlowChildJobsOptions | undefined, path: string): string | undefined {
  if (opts === undefined) return undefined;
  const set: string[] = [];
  if (opts.failParentOnFailure === true) set.push("fail_parent");
  if (opts.continueParentOnFailure === true) set.push("continue");
  if (opts.ignoreDependencyOnFailure === true) set.push("ignore");
  if (set.length > 1) {
    throw new RingqError(`FlowProducer: ${path}: failParentOnFailure, continueParentOnFailure and ignoreDependencyOnFailure exclude each other`, "INVALID", "FLOW");
  }
  return set[0];
}

/** A job's fields for FLOW: its push options, on_failure, and its children, depth first. */
function toWireNode(node: FlowJob, path: string, isRoot: boolean, flowOpts: FlowOpts | undefined): Record<string, unknown> {
  if (node === null || typeof node !== "object") throw new RingqError(`FlowProducer: ${path}: expected {name, queueName, data?, opts?, children?}`, "INVALID", "FLOW");
  checkOptions(`FlowProducer: ${path}`, node, flowJobFields, flowJobRefusals);
  if (typeof node.queueName !== "string" || node.queueName === "") throw new RingqError(`FlowProducer: ${path}.queueName: a queue name is required`, "INVALID", "FLOW");
  if (typeof node.name !== "string") throw new RingqError(`FlowProducer: ${path}.name: a job name is required`, "INVALID", "FLOW");
  let jobOpts: JobsOptions | undefined;
  let onFailure: string | undefined;
  if (node.opts !== undefined) {
    const { failParentOnFailure: _f, continueParentOnFailure: _c, ignoreDependencyOnFailure: _i, ...rest } = node.opts;
    onFailure = onFailureOf(node.opts, path);
    if (onFailure !== undefined && isRoot) {
      throw new RingqError(`FlowProducer: ${path}: the flow's top job has no parent for failParentOnFailure, continueParentOnFailure or ignoreDependencyOnFailure`, "INVALID", "FLOW");
    }
    jobOpts = rest;
  }
  const merged = withDefaults(flowOpts?.queuesOptions?.[node.queueName]?.defaultJobOptions, jobOpts);
  const wire = toWireJob(node.name, node.data, merged, node.queueName);
  if (onFailure !== undefined) wire.on_failure = onFailure;
  const children = node.children ?? [];
  if (!Array.isArray(children)) throw new RingqError(`FlowProducer: ${path}.children: expected an array`, "INVALID", "FLOW");
  if (children.length > 0) wire.children = children.map((c, i) => toWireNode(c, `${path}.children[${i}]`, false, flowOpts));
  return wire;
}

export class FlowProducer {
  readonly connection: Connection;
  private readonly owned: boolean;
  private closing: Promise<void> | null = null;

  constructor(opts: FlowProducerOptions = {}) {
    checkOptions("FlowProducer", opts, ["connection", "skipVersionCheck"], flowProducerOptionRefusals);
    const { conn, owned } = openConnection(opts.connection);
    this.connection = conn;
    this.owned = owned;
  }

  async waitUntilReady(): Promise<void> {
    await this.connection.waitUntilReady();
  }

  /**
   * Add a flow: every job of the tree or none (FLOW). The parent waits until its children are
   * done; a flow without children is one job (PUSH), as in BullMQ.
   */
  async add(flow: FlowJob, opts?: FlowOpts): Promise<JobNode> {
    checkOptions("FlowProducer.add", opts ?? {}, ["queuesOptions"], {});
    const wire = toWireNode(flow, "flow", true, opts);
    if (wire.children === undefined) {
      const reply = await this.connection.request("PUSH", wire);
      return { job: this.localJob(reply.id, flow, opts) };
    }
    const reply = await this.connection.request("FLOW", wire);
    return this.tree(flow, opts, reply.parent_id as number, reply.children_ids as number[]);
  }

  /**
   * Add several flows, pipelined. Each flow is all or none on its own; if one is refused the
   * others stay added and the first refusal is thrown (BullMQ adds them in one transaction).
   */
  async addBulk(flows: FlowJob[]): Promise<JobNode[]> {
    if (!Array.isArray(flows)) throw new RingqError("FlowProducer.addBulk: expected an array of flows", "INVALID", "FLOW");
    // Every flow is checked before any is sent, so a bad option adds none of them.
    const wires = flows.map((f, i) => toWireNode(f, `flows[${i}]`, true, undefined));
    const replies = await Promise.allSettled(wires.map((w) => this.connection.request(w.children === undefined ? "PUSH" : "FLOW", w)));
    const failed = replies.findIndex((r) => r.status === "rejected");
    if (failed >= 0) {
      const added = replies.filter((r) => r.status === "fulfilled").length;
      const err = (replies[failed] as PromiseRejectedResult).reason as Error;
      err.message = `FlowProducer.addBulk: flows[${failed}] was refused (${added} of ${flows.length} flows were added): ${err.message}`;
      throw err;
    }
    return replies.map((r, i) => {
      const reply = (r as PromiseFulfilledResult<Record<string, any>>).value;
      const flow = flows[i]!;
      if (wires[i]!.children === undefined) return { job: this.localJob(reply.id, flow, undefined) };
      return this.tree(flow, undefined, reply.parent_id, reply.children_ids);
    });
  }

  /**
   * A flow read back from its top job: the job and its children down to `depth` levels (default
   * all), at most `maxChildren` per job (default all). Children whose records are gone
   * (removeOnComplete, removeOnFail) are not listed: the server keeps only their results.
   */
  async getFlow(opts: { id: string; queueName: string; depth?: number; maxChildren?: number; prefix?: string }): Promise<JobNode | null> {
    checkOptions("FlowProducer.getFlow", opts, ["id", "queueName", "depth", "maxChildren"], flowJobRefusals);
    if (!/^\d+$/.test(String(opts.id))) throw new RingqError(`FlowProducer.getFlow: id ${JSON.stringify(opts.id)} is not a job id`, "INVALID", "GETJOB");
    const reply = await this.connection.request("GETJOB", { id: Number(opts.id) });
    const wire = reply.job as WireJob | null;
    if (wire === null || wire === undefined || wire.queue !== opts.queueName) return null;
    wire.state = reply.state;
    return this.readNode(Job.fromWire(this.connection, wire), opts.depth ?? Infinity, opts.maxChildren ?? Infinity);
  }

  close(): Promise<void> {
    this.closing ??= this.owned ? this.connection.close() : Promise.resolve();
    return this.closing;
  }

  private async readNode(job: Job, depth: number, maxChildren: number): Promise<JobNode> {
    if (depth <= 0 || !Array.isArray(job.childrenIds)) return { job };
    const { children } = await readChildren(this.connection, job.id);
    const kids = children.slice(0, maxChildren).map((w) => Job.fromWire(this.connection, w));
    return { job, children: await Promise.all(kids.map((k) => this.readNode(k, depth - 1, maxChildren))) };
  }

  /**
   * The JobNode tree of a flow FLOW just made. FLOW answers the parent's id and its direct
   * children's; the server numbers a flow's jobs in one go, depth first from the parent, so the
   * grandchildren's ids follow. The direct children are checked against the reply, so a server
   * that numbers otherwise is an error here, not a wrong tree.
   */
  private tree(flow: FlowJob, opts: FlowOpts | undefined, parentId: number, childrenIds: number[]): JobNode {
    let next = parentId;
    const build = (node: FlowJob): JobNode => {
      const id = next++;
      const job = this.localJob(id, node, opts);
      const kids = node.children ?? [];
      if (kids.length === 0) return { job };
      const children = kids.map(build);
      job.childrenIds = children.map((c) => Number(c.job.id));
      return { job, children };
    };
    const root = build(flow);
    const direct = root.children!.map((c) => Number(c.job.id));
    if (direct.length !== childrenIds.length || direct.some((id, i) => id !== childrenIds[i])) {
      throw new RingqError(`FLOW: the server numbered the children ${childrenIds.join(",")}, not depth first from the parent (${direct.join(",")}); the flow was added`, "INTERNAL", "FLOW");
    }
    const linkParents = (n: JobNode): void => {
      for (const c of n.children ?? []) {
        c.job.parentId = n.job.id;
        linkParents(c);
      }
    };
    linkParents(root);
    return root;
  }

  private localJob(id: number, node: FlowJob, opts: FlowOpts | undefined): Job {
    const jobOpts = withDefaults(opts?.queuesOptions?.[node.queueName]?.defaultJobOptions, node.opts);
    return new Job(this.connection, String(id), node.queueName, node.name, node.data, jobOpts, this.connection.receivedAt);
  }
}
