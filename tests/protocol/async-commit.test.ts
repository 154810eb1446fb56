// An asynchronous Store (as PostgreSQL will be): in sync mode the replies of a turn go out only
// once that turn's commit has resolved, in turn order, while the server keeps reading and
// running requests meanwhile; a commit that fails stops the server (onFatal) instead of
// acknowledging unsaved work. Over a real socket, with a store whose commits we resolve by hand.

import { afterEach, expect, test } from "bun:test";
import type { Job, QueueState } from "../../src/engine/model.ts";
import type { Journal } from "../../src/engine/journal.ts";
import type { Store } from "../../src/persistence/store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { RawClient } from "../helpers/raw-client.ts";

/** A store whose commits stay pending until the test settles them. */
class HandStore implements Store {
  readonly holdRepliesUntilCommit = true;
  readonly description = "storage: test (asynchronous commits)";
  changed = 0;
  readonly commits: { changedAt: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly journal: Journal = {
    jobChanged: (_j: Job) => void this.changed++,
    jobRemoved: (_j: Job) => void this.changed++,
    queueChanged: (_q: QueueState) => {},
    queueRemoved: (_q: QueueState) => {},
    reserve: () => {},
    recordChanged: () => void this.changed++,
    recordRemoved: () => void this.changed++,
  };
  recover(): Promise<void> {
    return Promise.resolve();
  }
  /** Set when the test is over: commits resolve at once (stop() commits one last time). */
  auto = false;
  commit(): Promise<void> {
    if (this.auto) return Promise.resolve();
    return new Promise((resolve, reject) => this.commits.push({ changedAt: this.changed, resolve, reject }));
  }
  /** Resolves every commit made so far (in order). */
  settleAll(): void {
    for (const c of this.commits.splice(0)) c.resolve();
  }
  close(): void {}
}

let server: RunningServer | null = null;
let store: HandStore;
afterEach(async () => {
  store.auto = true;
  store.settleAll();
  await server?.stop();
  server = null;
});

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

test("sync mode over an asynchronous commit: replies wait for their turn's commit, the loop keeps serving", async () => {
  store = new HandStore();
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", store, log: () => {} });
  const a = await RawClient.connect(server.port);
  const b = await RawClient.connect(server.port);
  a.send(Buffer.from(JSON.stringify({ cmd: "PUSH", queue: "ac", data: 1 }) + "\n"));
  await until("A's push to run", () => server!.engine.jobs.size === 1);
  const aChanged = store.changed;
  await until("A's commit", () => store.commits.some((x) => x.changedAt >= aChanged));
  expect(await a.silentFor(100)).toBe(true); // its commit has not resolved: no reply yet
  const aCommits = store.commits.length;
  // Meanwhile the server goes on: B's push runs although A's commit is still pending.
  b.send(Buffer.from(JSON.stringify({ cmd: "PUSH", queue: "ac", data: 2 }) + "\n"));
  await until("B's push to run", () => server!.engine.jobs.size === 2);
  expect(await b.silentFor(50)).toBe(true);
  // Resolve only the commits made up to A's turn: A is answered, B is not.
  for (const c of store.commits.splice(0, aCommits)) c.resolve();
  expect((await a.line(2000)).ok).toBe(true);
  expect(await b.silentFor(100)).toBe(true);
  store.settleAll();
  expect((await b.line(2000)).ok).toBe(true);
  // A commit that resolves after a later one does not let the later turn's replies jump ahead.
  b.send(Buffer.from(JSON.stringify({ cmd: "PING" }) + "\n"));
  await until("PING's turn", () => store.commits.length > 0);
  const first = store.commits.splice(0, 1)[0]!;
  b.send(Buffer.from(JSON.stringify({ cmd: "PUSH", queue: "ac", data: 3 }) + "\n"));
  await until("the push", () => server!.engine.jobs.size === 3);
  // A request runs when its bytes arrive and its turn commits after: wait for that commit (on a
  // busy machine it came after the settle below, and was never resolved).
  const pushed = store.changed;
  await until("the push's commit", () => store.commits.some((x) => x.changedAt >= pushed));
  store.settleAll(); // the later commits resolve first...
  expect(await b.silentFor(100)).toBe(true); // ...but their replies wait for the first
  first.resolve();
  expect(await b.line(2000)).toEqual({ ok: true, pong: true });
  expect((await b.line(2000)).id).toBe(3);
  a.close();
  b.close();
});

test("a commit that fails is fatal: onFatal gets the error, and the reply it would have held never goes out", async () => {
  store = new HandStore();
  const fatal: Error[] = [];
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", store, log: () => {}, onFatal: (e) => fatal.push(e) });
  const c = await RawClient.connect(server.port);
  c.send(Buffer.from(JSON.stringify({ cmd: "PUSH", queue: "af", data: 1 }) + "\n"));
  await until("the push", () => store.changed > 0 && store.commits.some((x) => x.changedAt > 0));
  for (const x of store.commits.splice(0)) x.reject(new Error("disk on fire"));
  await until("onFatal", () => fatal.length > 0);
  expect(fatal[0]!.message).toBe("disk on fire");
  expect(await c.silentFor(100)).toBe(true);
  c.close();
});
