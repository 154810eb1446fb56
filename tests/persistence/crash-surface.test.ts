// kill -9 in DURABILITY=sync while a cron schedule fires every 100 ms, a producer builds flows
// (a parent and three children) that a worker processes, and a client counts with KVINCR and
// writes keys with KVSET. After each restart: no cron slot made two jobs and the schedule's run
// count is the number of jobs it made (the run and the advance share a commit); every
// acknowledged FLOW is whole (parent and children, linked both ways), a parent waits exactly
// while a child is unfinished, children_completed counts its completed children; the KV counter
// holds at least every acknowledged increment and at most every one sent, and each acknowledged
// KVSET is there with its value or a later one sent for the key.

import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionLost, FrameClient, killAllServers, ServerProcess } from "./server-process.ts";

const paths: string[] = [];
afterEach(async () => {
  await killAllServers();
  for (const p of paths.splice(0)) for (const s of ["", "-wal", "-shm"]) rmSync(p + s, { force: true });
});

const cycles = 6;

interface Ledger {
  flows: Map<number, number[]>; // acknowledged parent -> children
  incrSent: number;
  incrAcked: number;
  /** key -> values sent, in order; and the index of the last acknowledged one. */
  sets: Map<string, { sent: number[]; acked: number }>;
}

async function untilLost(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ConnectionLost)) throw e;
  }
}

async function flows(c: FrameClient, l: Ledger, tag: string): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await c.ok({ cmd: "FLOW", queue: "cs-parent", data: `${tag}-${i}`, children: [0, 1, 2].map((k) => ({ queue: "cs-child", data: k })) });
    l.flows.set(r.parent_id, r.children_ids);
  }
}

async function worker(c: FrameClient): Promise<void> {
  for (;;) {
    for (const queue of ["cs-child", "cs-parent"]) {
      const r = await c.ok({ cmd: "PULLB", queue, count: 20, timeout: 0 });
      await Promise.all(r.jobs.map((j: { id: number }) => c.call({ cmd: "ACK", id: j.id, result: j.id })));
    }
    await Bun.sleep(2);
  }
}

async function kv(c: FrameClient, l: Ledger, rnd: () => number): Promise<void> {
  for (let i = 0; ; i++) {
    l.incrSent++;
    await c.ok({ cmd: "KVINCR", key: "cs-counter" });
    l.incrAcked++;
    const key = `cs-key-${Math.floor(rnd() * 20)}`;
    const e = l.sets.get(key) ?? { sent: [], acked: -1 };
    l.sets.set(key, e);
    e.sent.push(i);
    await c.ok({ cmd: "KVSET", key, value: i });
    e.acked = e.sent.length - 1;
  }
}

async function verify(port: number, l: Ledger, context: string): Promise<void> {
  const c = await FrameClient.connect(port);
  try {
    // The schedule keeps firing while this reads: the runs listed are the jobs of the slots
    // before the next run listed with them.
    const listed = (await c.ok({ cmd: "CRONLIST" })).crons[0];
    const cron = (await c.ok({ cmd: "GETJOBS", queue: "cs-cron", limit: 10_000 })).jobs as { custom_id: string }[];
    const slots = cron.map((j) => Number(j.custom_id.split(":").at(-1)));
    expect({ context, twice: slots.length - new Set(slots).size }).toEqual({ context, twice: 0 });
    expect({ context, runs: listed.executions }).toEqual({ context, runs: slots.filter((t) => t < listed.next_run).length });

    for (const [parent, children] of l.flows) {
      const p = await c.ok({ cmd: "GETJOB", id: parent });
      if (p.job === null) throw new Error(`${context}: acknowledged flow parent ${parent} is missing`);
      expect(p.job.children_ids).toEqual(children);
      const kids = await c.ok({ cmd: "GETJOBSBATCH", ids: children });
      if (kids.jobs.length !== 3) throw new Error(`${context}: flow ${parent} has ${kids.jobs.length} of its 3 children`);
      for (const k of kids.jobs) expect(k.parent_id).toBe(parent);
      const done = kids.jobs.filter((k: { state: string }) => k.state === "completed").length;
      expect({ context, parent, done: p.job.children_completed }).toEqual({ context, parent, done });
      const waits = p.state === "waitingparent";
      expect({ context, parent, waits }).toEqual({ context, parent, waits: done < 3 });
    }

    const counter = (await c.ok({ cmd: "KVGET", key: "cs-counter" })).value ?? 0;
    if (counter < l.incrAcked || counter > l.incrSent) throw new Error(`${context}: counter ${counter}, acknowledged ${l.incrAcked}, sent ${l.incrSent}`);
    l.incrAcked = l.incrSent = counter; // the next cycle counts from what is stored
    for (const [key, e] of l.sets) {
      const v = (await c.ok({ cmd: "KVGET", key })).value;
      if (e.acked < 0) continue;
      if (!e.sent.slice(e.acked).includes(v)) throw new Error(`${context}: ${key} is ${v}; acknowledged ${e.sent[e.acked]}, sent after it ${e.sent.slice(e.acked + 1)}`);
      e.sent = [v];
      e.acked = 0;
    }
  } finally {
    c.close();
  }
}

test(`kill -9 in sync mode, ${cycles} times: cron slots fire once, flows stay whole, KV keeps what was acknowledged`, async () => {
  const path = join(tmpdir(), `ringq-crash-surface-${process.pid}.db`);
  paths.push(path);
  const env = { DATA_PATH: path, DURABILITY: "sync", KEEP_COMPLETED: "1000000", KEEP_COMPLETED_AGE_MS: String(24 * 3600_000) };
  const l: Ledger = { flows: new Map(), incrSent: 0, incrAcked: 0, sets: new Map() };
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let server = await ServerProcess.start(env);
  const setup = await FrameClient.connect(server.port);
  await setup.ok({ cmd: "CRON", name: "cs", queue: "cs-cron", data: "tick", repeat_every: 100 });
  setup.close();
  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      const [a, b, k] = await Promise.all([0, 1, 2].map(() => FrameClient.connect(server.port)));
      const loops = [untilLost(flows(a!, l, `c${cycle}`)), untilLost(worker(b!)), untilLost(kv(k!, l, rnd))];
      await Bun.sleep(150 + Math.floor(rnd() * 350));
      await server.crash();
      await Promise.all(loops);
      server = await ServerProcess.start(env);
      await verify(server.port, l, `after crash ${cycle + 1}`);
    }
    expect(l.flows.size).toBeGreaterThan(20);
    expect(l.incrAcked).toBeGreaterThan(20);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nserver log:\n${server.log}`);
  }
  expect(await server.stop()).toBe(0);
}, 120_000);
