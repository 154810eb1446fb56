// FLOW: a parent job and its children (in any queues, nested), created in one operation. The
// whole tree is checked before anything is created (job count, unique keys and custom ids
// against the engine and inside the tree, the queue bound), so a refused flow creates nothing
// and emits nothing. Then the parent and every inner child wait in WaitingParent for their
// children; leaves are runnable at once. Resolution (a child completes, fails or is removed) is
// the core's dependency resolution: the parent runs when its last child completes, and a failed
// child fails it, is ignored, or lets it run now, per that child's on_failure.

import { flowJobsMax, queuesMax } from "../constants.ts";
import { ClientError } from "../errors.ts";
import type { Core, PushInput } from "./core.ts";
import { JobState, type Job } from "./model.ts";

export interface FlowNode {
  readonly push: PushInput;
  readonly children: readonly FlowNode[];
}

export interface FlowCreated {
  parent: Job;
  children: Job[];
}

export function createFlow(core: Core, root: FlowNode): FlowCreated {
  checkFlow(core, root);
  return createNode(core, root, 0);
}

function checkFlow(core: Core, root: FlowNode): void {
  let count = 0;
  const newQueues = new Set<string>();
  const uniqueKeys = new Set<string>();
  const customIds = new Set<string>();
  const walk = (n: FlowNode): void => {
    if (++count > flowJobsMax) throw new ClientError("LIMIT", `A flow holds at most ${flowJobsMax} jobs (flowJobsMax)`);
    const p = n.push;
    if (!core.queues.has(p.queue)) newQueues.add(p.queue);
    if (p.uniqueKey !== undefined) {
      const k = `${p.queue}\0${p.uniqueKey}`;
      const holder = core.queues.get(p.queue)?.uniqueKeys.get(p.uniqueKey);
      if (holder !== undefined || uniqueKeys.has(k)) {
        throw new ClientError("DUPLICATE", `Duplicate unique_key '${p.uniqueKey}' in queue '${p.queue}'${holder !== undefined ? ` (held by job ${holder})` : " (twice in the flow)"}`);
      }
      uniqueKeys.add(k);
    }
    if (p.customId !== undefined) {
      const holder = core.customIds.get(p.customId);
      if (holder !== undefined || customIds.has(p.customId)) {
        throw new ClientError("DUPLICATE", `job_id '${p.customId}' ${holder !== undefined ? `is held by job ${holder}` : "is used twice in the flow"}: a flow's jobs are all new`);
      }
      customIds.add(p.customId);
    }
    for (const c of n.children) walk(c);
  };
  walk(root);
  if (core.queues.size + newQueues.size > queuesMax) {
    throw new ClientError("LIMIT", `Too many queues (limit ${queuesMax}): the flow would create ${newQueues.size} more`);
  }
  // The per-job checks a single push makes (retention bounds), on every node.
  const check = (n: FlowNode): void => {
    core.checkPush(n.push);
    for (const c of n.children) check(c);
  };
  check(root);
}

function createNode(core: Core, n: FlowNode, parentId: number): FlowCreated {
  const q = core.queue(n.push.queue);
  const job = core.createJob(q, n.push);
  q.counters.pushed++;
  if (parentId !== 0) job.extra().parentId = parentId;
  const children: Job[] = [];
  for (const c of n.children) children.push(createNode(core, c, job.id).parent);
  if (children.length === 0) core.enterRunnable(job, core.now());
  else {
    job.extra().childrenIds = children.map((c) => c.id);
    core.waitOn(job, children, JobState.WaitingParent);
  }
  return { parent: job, children };
}
