// FlowProducer, the flow methods of Job, dependsOn and the `waiting-children` event against a
// real server process: a BullMQ user's flow (the parent waits, then reads its children's
// results in its processor), the three child failure options, reading a flow back, and the
// flow options refused by name where the server cannot honour them.

import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { FlowProducer, type Job, Queue, QueueEvents, RingqError, Worker } from "../../src/client/index.ts";
import { serverPerFile, until } from "./server.ts";

setDefaultTimeout(20_000);

const server = serverPerFile();
let n = 0;
const conn = () => ({ port: server.port });
const fresh = (what: string) => `${what}-${++n}`;


describe("FlowProducer", () => {
  test("BullMQ's flow: the parent waits for its children and sums their results in its processor", async () => {
    const parentQ = fresh("renovate");
    const stepsQ = fresh("steps");
    const flow = new FlowProducer({ connection: conn() });
    const events = new QueueEvents(parentQ, { connection: conn() });
    const waitingChildren: string[] = [];
    events.on("waiting-children", (e) => waitingChildren.push(e.jobId));
    await events.waitUntilReady();
    const seen: Record<string, unknown> = {};
    const parentWorker = new Worker(
      parentQ,
      async (job: Job) => {
        const values = await job.getChildrenValues<number>();
        Object.assign(seen, values);
        return Object.values(values).reduce((a, b) => a + b, 0);
      },
      { connection: conn(), drainDelay: 0.2 },
    );
    const stepsWorker = new Worker(stepsQ, async (job: Job) => job.data.cost, { connection: conn(), concurrency: 3, drainDelay: 0.2 });
    try {
      const tree = await flow.add({
        name: "renovate-interior",
        queueName: parentQ,
        data: { house: 1 },
        children: [
          { name: "paint", data: { cost: 100 }, queueName: stepsQ },
          { name: "fix", data: { cost: 20 }, queueName: stepsQ },
          { name: "wall", data: { cost: 3 }, queueName: stepsQ },
        ],
      });
      expect(tree.job.name).toBe("renovate-interior");
      expect(tree.children!.map((c) => c.job.name)).toEqual(["paint", "fix", "wall"]);
      const result = await tree.job.waitUntilFinished(undefined, 10_000);
      expect(result).toBe(123);
      // Keyed as BullMQ keys children (its default prefix), each child with its own result.
      const keys = tree.children!.map((c) => `bull:${stepsQ}:${c.job.id}`);
      expect(seen).toEqual({ [keys[0]!]: 100, [keys[1]!]: 20, [keys[2]!]: 3 });
      await until(() => waitingChildren.includes(tree.job.id), "waiting-children of the parent");
      // Read back, each child knows its parent.
      const child = (await new Queue(stepsQ, { connection: parentWorker.connection }).getJob(tree.children![0]!.job.id))!;
      expect(child.parentId).toBe(tree.job.id);
    } finally {
      await Promise.all([parentWorker.close(), stepsWorker.close(), events.close(), flow.close()]);
    }
  });

  test("nested flows: the returned tree has every job's id, and getFlow reads it back with depth and maxChildren", async () => {
    const q = fresh("nest");
    const flow = new FlowProducer({ connection: conn() });
    const queue = new Queue(q, { connection: flow.connection });
    try {
      const tree = await flow.add({
        name: "root", queueName: q, data: 0,
        children: [
          { name: "a", queueName: q, data: 1, children: [{ name: "a1", queueName: q, data: 11 }, { name: "a2", queueName: q, data: 12 }] },
          { name: "b", queueName: q, data: 2, children: [{ name: "b1", queueName: q, data: 21, children: [{ name: "b1x", queueName: q, data: 211 }] }] },
        ],
      });
      // Every id of the returned tree is the server's job of that name and data.
      const all: { id: string; name: string; data: unknown; parent?: string }[] = [];
      const walk = (node: typeof tree, parent?: string) => {
        all.push({ id: node.job.id, name: node.job.name, data: node.job.data, parent });
        for (const c of node.children ?? []) walk(c, node.job.id);
      };
      walk(tree);
      expect(all.length).toBe(7);
      for (const j of all) {
        const back = (await queue.getJob(j.id))!;
        expect({ name: back.name, data: back.data, parent: back.parentId }).toEqual({ name: j.name, data: j.data, parent: j.parent });
      }
      expect(await queue.getJobState(tree.job.id)).toBe("waiting-children");
      expect(await queue.getJobState(tree.children![1]!.children![0]!.job.id)).toBe("waiting-children");
      expect(await queue.getJobState(tree.children![0]!.children![0]!.job.id)).toBe("waiting");

      const full = (await flow.getFlow({ id: tree.job.id, queueName: q }))!;
      const names = (node: typeof tree): unknown => ({ [node.job.name]: (node.children ?? []).map(names) });
      expect(names(full)).toEqual(names(tree));
      const shallow = (await flow.getFlow({ id: tree.job.id, queueName: q, depth: 1, maxChildren: 1 }))!;
      expect(shallow.children!.map((c) => c.job.name)).toEqual(["a"]);
      expect(shallow.children![0]!.children).toBeUndefined();
      expect(await flow.getFlow({ id: tree.job.id, queueName: "another-queue" })).toBeNull();

      // A flow without children is one job; addBulk adds several flows.
      const single = await flow.add({ name: "alone", queueName: q, data: "x" });
      expect(single.children).toBeUndefined();
      expect(await queue.getJobState(single.job.id)).toBe("waiting");
      const bulk = await flow.addBulk([
        { name: "p1", queueName: q, children: [{ name: "c1", queueName: q }] },
        { name: "p2", queueName: q, children: [{ name: "c2", queueName: q }] },
      ]);
      expect(bulk.map((b) => b.children![0]!.job.name)).toEqual(["c1", "c2"]);
      expect((await queue.getJob(bulk[1]!.children![0]!.job.id))!.parentId).toBe(bulk[1]!.job.id);
    } finally {
      await flow.close();
    }
  });

  test("children removed on completion still give their results (the server keeps them on the parent)", async () => {
    const q = fresh("gone");
    const flow = new FlowProducer({ connection: conn() });
    const values: Record<string, unknown>[] = [];
    const worker = new Worker(q, async (job: Job) => {
      if (job.name === "parent") {
        values.push(await job.getChildrenValues());
        return "done";
      }
      return job.data * 2;
    }, { connection: conn(), concurrency: 2, drainDelay: 0.2 });
    try {
      const tree = await flow.add({
        name: "parent", queueName: q,
        children: [1, 2].map((d) => ({ name: "child", queueName: q, data: d, opts: { removeOnComplete: true } })),
      });
      await tree.job.waitUntilFinished(undefined, 10_000);
      // The children's records are gone; the parent still knows their results and queues.
      expect(values).toEqual([{ [`bull:${q}:${tree.children![0]!.job.id}`]: 2, [`bull:${q}:${tree.children![1]!.job.id}`]: 4 }]);
    } finally {
      await Promise.all([worker.close(), flow.close()]);
    }
  });

  test("a child's failure: fails the parent by default, is ignored with ignoreDependencyOnFailure, lets it run now with continueParentOnFailure", async () => {
    const q = fresh("fail");
    const flow = new FlowProducer({ connection: conn() });
    const seen: Record<string, unknown> = {};
    const worker = new Worker(q, async (job: Job) => {
      if (job.data === "bad") throw new Error(`broken ${job.name}`);
      if (job.name.startsWith("parent")) {
        seen[job.name] = {
          failed: await job.getFailedChildrenValues(),
          deps: await job.getDependencies(),
          counts: await job.getDependenciesCount(),
          onlyFailed: await job.getDependenciesCount({ failed: true }),
        };
      }
      return job.name;
    }, { connection: conn(), concurrency: 4, drainDelay: 0.2 });
    try {
      const byDefault = await flow.add({ name: "parent-default", queueName: q, children: [{ name: "c", queueName: q, data: "bad" }] });
      await expect(byDefault.job.waitUntilFinished(undefined, 10_000)).rejects.toThrow(`child ${byDefault.children![0]!.job.id} failed: broken c`);

      const ignored = await flow.add({
        name: "parent-ignore", queueName: q,
        children: [{ name: "ok", queueName: q, data: "fine" }, { name: "x", queueName: q, data: "bad", opts: { ignoreDependencyOnFailure: true } }],
      });
      expect(await ignored.job.waitUntilFinished(undefined, 10_000)).toBe("parent-ignore");
      const [okKey, badKey] = ignored.children!.map((c) => `bull:${q}:${c.job.id}`);
      expect(seen["parent-ignore"]).toEqual({
        failed: { [badKey!]: "broken x" },
        deps: { processed: { [okKey!]: "ok" }, unprocessed: [], failed: [badKey] },
        counts: { processed: 1, unprocessed: 0, failed: 1 },
        onlyFailed: { failed: 1 },
      });

      // The other child is delayed a minute: the parent runs as soon as the first one fails.
      const continued = await flow.add({
        name: "parent-continue", queueName: q,
        children: [{ name: "y", queueName: q, data: "bad", opts: { continueParentOnFailure: true } }, { name: "later", queueName: q, data: "fine", opts: { delay: 60_000 } }],
      });
      expect(await continued.job.waitUntilFinished(undefined, 10_000)).toBe("parent-continue");
      const laterKey = `bull:${q}:${continued.children![1]!.job.id}`;
      expect((seen["parent-continue"] as { deps: unknown }).deps).toEqual({ processed: {}, unprocessed: [laterKey], failed: [`bull:${q}:${continued.children![0]!.job.id}`] });
    } finally {
      await Promise.all([worker.close(), flow.close()]);
    }
  });

  test("what the server cannot do is refused by name, before anything is added", async () => {
    const q = fresh("refuse");
    const flow = new FlowProducer({ connection: conn() });
    const queue = new Queue(q, { connection: flow.connection });
    const refusal = async (p: Promise<unknown>, text: RegExp) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(RingqError);
      expect((err as Error).message).toMatch(text);
    };
    try {
      await refusal(queue.add("x", 1, { parent: { id: "1", queue: q } } as never), /parent: .*FLOW.*FlowProducer/);
      await refusal(queue.add("x", 1, { failParentOnFailure: true } as never), /failParentOnFailure: applies to a child of a flow/);
      await refusal(
        flow.add({ name: "p", queueName: q, children: [{ name: "c", queueName: q, opts: { removeDependencyOnFailure: true } as never }] }),
        /removeDependencyOnFailure: the server has no mode that forgets a failed child/,
      );
      await refusal(flow.add({ name: "p", queueName: q, opts: { failParentOnFailure: true }, children: [{ name: "c", queueName: q }] }), /top job has no parent/);
      await refusal(
        flow.add({ name: "p", queueName: q, children: [{ name: "c", queueName: q, opts: { failParentOnFailure: true, ignoreDependencyOnFailure: true } }] }),
        /exclude each other/,
      );
      await refusal(flow.add({ name: "p", queueName: q, prefix: "bull", children: [] } as never), /option "prefix": ringq has no key prefixes/);
      // The server's own refusal inside a flow reaches the caller, and the flow is all or none.
      await refusal(flow.add({ name: "p", queueName: q, children: [{ name: "c", queueName: q, opts: { deduplication: { id: "d" } } }] }), /deduplication/);
      expect(await queue.count()).toBe(0);
      await refusal(Promise.resolve().then(() => (queue as unknown as { getDependencies(): unknown }).getDependencies()), /Queue.getDependencies: use job.getDependencies/);
      const parent = await flow.add({ name: "p", queueName: q, children: [{ name: "c", queueName: q }] });
      await refusal(parent.job.getDependencies({ ignored: true }), /ignored: the server does not say which child failures were ignored/);
    } finally {
      await flow.close();
    }
  });
});

describe("dependsOn", () => {
  test("a job with dependsOn waits (waiting-children, with its event) until its dependencies complete", async () => {
    const q = fresh("deps");
    const queue = new Queue(q, { connection: conn() });
    const events = new QueueEvents(q, { connection: conn() });
    const waiting: string[] = [];
    events.on("waiting-children", (e) => waiting.push(e.jobId));
    await events.waitUntilReady();
    try {
      const a = await queue.add("a", 1, { delay: 60_000 });
      const b = await queue.add("b", 2);
      const c = await queue.add("c", 3, { dependsOn: [a.id, Number(b.id)] });
      expect(await c.getState()).toBe("waiting-children");
      expect((await queue.getJob(c.id))!.opts.dependsOn).toEqual([Number(a.id), Number(b.id)]);
      await until(() => waiting.includes(c.id), "waiting-children of the dependent");
      await a.promote();
      const order: string[] = [];
      const worker = new Worker(q, async (job: Job) => void order.push(job.name), { connection: conn(), drainDelay: 0.2 });
      try {
        await c.waitUntilFinished(undefined, 10_000);
        expect(order.indexOf("c")).toBe(2);
      } finally {
        await worker.close();
      }
      await expect(queue.add("d", 4, { dependsOn: ["order-1"] })).rejects.toThrow(/dependsOn: "order-1" is not a job id/);
      await expect(queue.add("d", 4, { dependsOn: [987_654_321] })).rejects.toThrow(/987654321/);
    } finally {
      await Promise.all([events.close(), queue.close()]);
    }
  });
});
