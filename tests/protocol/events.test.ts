// SUBSCRIBE / UNSUBSCRIBE (ringq extension): job events pushed to a connection over a real
// socket, their filters, and the back-pressure rule (a subscriber that does not read loses
// events, is told how many, and never makes the server hold more than its bound).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { RawClient } from "../helpers/raw-client.ts";

let server: RunningServer;
const open: RawClient[] = [];

beforeAll(async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {} });
});
afterAll(async () => {
  for (const c of open) c.close();
  await server.stop();
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(server.port);
  open.push(c);
  return c;
}

describe("SUBSCRIBE", () => {
  test("a subscriber sees a job's life in order, with the result, and nothing of other queues", async () => {
    const sub = await connect();
    expect(await sub.call({ cmd: "SUBSCRIBE", queue: "ev-a" })).toEqual({ ok: true });
    const w = await connect();
    await w.call({ cmd: "PUSH", queue: "ev-other", data: 0 });
    const { id } = await w.call({ cmd: "PUSH", queue: "ev-a", data: { n: 1 }, job_id: "order-1" });
    const pulled = await w.call({ cmd: "PULL", queue: "ev-a", timeout: 1000 });
    expect(pulled.job.id).toBe(id);
    expect(await w.call({ cmd: "ACK", id, result: { sent: true } })).toEqual({ ok: true });

    const events = await sub.frames(3);
    expect(events.map((e) => e.event)).toEqual(["waiting", "active", "completed"]);
    for (const e of events) {
      expect(e.queue).toBe("ev-a");
      expect(e.id).toBe(id);
      expect(e.custom_id).toBe("order-1");
      expect(typeof e.ts).toBe("number");
    }
    expect(events[2].result).toEqual({ sent: true });
    expect(sub.buffered).toBe(0); // ev-other said nothing
  });

  test("an event filter, failures with their error, and '*' for every queue", async () => {
    const failures = await connect();
    await failures.call({ cmd: "SUBSCRIBE", queue: "ev-b", events: ["failed", "retried"] });
    const everything = await connect();
    await everything.call({ cmd: "SUBSCRIBE", queue: "*", events: ["completed"] });
    const w = await connect();
    const { id } = await w.call({ cmd: "PUSH", queue: "ev-b", data: 1, max_attempts: 2, backoff: 0 });
    await w.call({ cmd: "PULL", queue: "ev-b", timeout: 1000 });
    await w.call({ cmd: "FAIL", id, error: "first try broke" });
    await w.call({ cmd: "PULL", queue: "ev-b", timeout: 1000 });
    await w.call({ cmd: "FAIL", id, error: "second try broke" });
    const other = await w.call({ cmd: "PUSH", queue: "ev-c", data: 2 });
    await w.call({ cmd: "PULL", queue: "ev-c", timeout: 1000 });
    await w.call({ cmd: "ACK", id: other.id });

    const [retried, failed] = await failures.frames(2);
    expect(retried).toMatchObject({ event: "retried", id, error: "first try broke", attempts: 1 });
    expect(failed).toMatchObject({ event: "failed", id, error: "second try broke", attempts: 2 });
    const done = await everything.frame();
    expect(done).toMatchObject({ event: "completed", queue: "ev-c", id: other.id });
    expect(failures.buffered + everything.buffered).toBe(0);
  });

  test("UNSUBSCRIBE ends the stream and says how many subscriptions ended", async () => {
    const sub = await connect();
    await sub.call({ cmd: "SUBSCRIBE", queue: "ev-d" });
    await sub.call({ cmd: "SUBSCRIBE", queue: "ev-e" });
    expect(await sub.call({ cmd: "UNSUBSCRIBE" })).toEqual({ ok: true, count: 2 });
    const w = await connect();
    await w.call({ cmd: "PUSH", queue: "ev-d", data: 1 });
    expect(await sub.call({ cmd: "PING" })).toMatchObject({ ok: true, pong: true }); // no event before it
  });

  test("text mode gets events as JSON lines; bad subscriptions name the field", async () => {
    const sub = await connect();
    expect(await sub.ask({ cmd: "SUBSCRIBE", queue: "ev-f", events: ["completed", "exploded"] })).toMatchObject({
      ok: false,
      code: "INVALID",
      error: expect.stringContaining("events"),
    });
    expect(await sub.ask({ cmd: "SUBSCRIBE", queue: "ev-f", events: ["waiting"] })).toEqual({ ok: true });
    const w = await connect();
    const { id } = await w.call({ cmd: "PUSH", queue: "ev-f", data: 1 });
    expect(await sub.line()).toMatchObject({ event: "waiting", queue: "ev-f", id });
  });

  test("a subscriber that does not read loses events past its bound, learns how many, and others are unaffected", async () => {
    const slow = await connect();
    await slow.call({ cmd: "SUBSCRIBE", queue: "ev-g", events: ["completed"] });
    slow.pause();
    const w = await connect();
    const result = { blob: "r".repeat(16 * 1024) }; // 16 KiB per completed event
    const n = 800; // ~12.5 MiB of events: well past the 4 MiB bound
    for (let i = 0; i < n; i += 100) {
      const { ids } = await w.call({ cmd: "PUSHB", queue: "ev-g", jobs: Array.from({ length: 100 }, () => ({ data: i })) });
      await w.call({ cmd: "PULLB", queue: "ev-g", count: 100, timeout: 1000 });
      for (const id of ids) await w.call({ cmd: "ACK", id, result });
    }
    expect(await w.call({ cmd: "PING" })).toMatchObject({ pong: true }); // the server still serves
    slow.resume();
    // One more event after the backlog drained carries the count of what was dropped.
    await Bun.sleep(200);
    const { id: last } = await w.call({ cmd: "PUSH", queue: "ev-g", data: "last" });
    await w.call({ cmd: "PULL", queue: "ev-g", timeout: 1000 });
    await w.call({ cmd: "ACK", id: last });
    let received = 0;
    let dropped = 0;
    for (;;) {
      const e = await slow.frame(5000);
      dropped += e.dropped ?? 0;
      if (e.id === last) break;
      received++;
    }
    expect(dropped).toBeGreaterThan(0);
    expect(received + dropped).toBe(n);
  }, 60_000);
});
