// Live events over HTTP: SSE (/events, /events/:queue) and WebSocket (/ws, /ws/:queue) carry the
// messages TCP SUBSCRIBE pushes, with the same filters (one queue or all, an event list), and
// bad filters are refused naming them. Back-pressure: a client that stops reading loses events
// once it owes eventStreamBufferedBytesMax, the next one it gets says `dropped: n`, and the
// server keeps serving everyone else meanwhile.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { eventStreamBufferedBytesMax } from "../../src/constants.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { call, SseReader, startHttp, WsClient, type HttpServer } from "./helpers.ts";

let s: HttpServer;
beforeAll(async () => {
  s = await startHttp();
});
afterAll(async () => {
  await s.stop();
});

async function tcp(): Promise<RawClient> {
  return RawClient.connect(s.tcpPort);
}

describe("SSE", () => {
  test("a queue's stream gets its events, as TCP SUBSCRIBE sends them, and only the asked ones", async () => {
    const all = await SseReader.open(`${s.base}/events/sse-a`);
    const some = await SseReader.open(`${s.base}/events/sse-a?events=completed,failed`);
    const other = await SseReader.open(`${s.base}/events/sse-other`);
    expect(all.response.headers.get("content-type")).toContain("text/event-stream");
    const sub = await tcp();
    expect((await sub.call({ cmd: "SUBSCRIBE", queue: "sse-a" })).ok).toBe(true);
    const c = await tcp();
    const id = (await c.call({ cmd: "PUSH", queue: "sse-a", data: 1, job_id: "sse-custom" })).id;
    const pulled = await c.call({ cmd: "PULL", queue: "sse-a", timeout: 1000 });
    expect(pulled.job.id).toBe(id);
    await c.call({ cmd: "ACK", id, result: { fine: true } });

    const viaTcp = [await sub.frame(), await sub.frame(), await sub.frame()];
    const viaSse = [await all.next(), await all.next(), await all.next()];
    // Same messages, field for field (timestamps included: one message object feeds both).
    expect(viaSse).toEqual(viaTcp);
    expect(viaSse.map((m) => m.event)).toEqual(["waiting", "active", "completed"]);
    expect(viaSse[2]).toMatchObject({ id, queue: "sse-a", result: { fine: true }, custom_id: "sse-custom" });
    expect((await some.next()).event).toBe("completed");
    expect(await other.drain(50)).toEqual([]);
    for (const r of [all, some, other]) r.close();
    sub.close();
    c.close();
  });

  test("/events follows every queue; bad filters are refused naming them", async () => {
    const every = await SseReader.open(`${s.base}/events?events=waiting`);
    await call(s.base, "POST", "/queues/sse-x/jobs", { data: 1 });
    await call(s.base, "POST", "/queues/sse-y/jobs", { data: 1 });
    expect((await every.next()).queue).toBe("sse-x");
    expect((await every.next()).queue).toBe("sse-y");
    every.close();
    const bad = await call(s.base, "GET", "/events/q?events=waiting,exploded");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain("events");
    const unknown = await call(s.base, "GET", "/events/q?evnts=waiting");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toContain("'evnts'");
    const badQueue = await call(s.base, "GET", "/events/bad%20queue");
    expect(badQueue.status).toBe(400);
  });

  test("a reader that stops reading loses events past its bound and is told how many; others are served meanwhile", async () => {
    const q = "sse-slow";
    const raw = net.connect({ host: "127.0.0.1", port: Number(new URL(s.base).port) });
    await new Promise<void>((r) => raw.once("connect", () => r()));
    raw.write(`GET /events/${q}?events=progress HTTP/1.1\r\nHost: x\r\n\r\n`);
    let received = Buffer.alloc(0);
    raw.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
    await Bun.sleep(50);
    raw.pause();

    // 2,000 progress events of ~8 KiB: 16 MiB, well past the bound plus the kernel's buffers.
    const c = await tcp();
    await c.call({ cmd: "PUSH", queue: q, data: 1 });
    const job = (await c.call({ cmd: "PULL", queue: q, timeout: 1000 })).job;
    const message = "m".repeat(8000);
    const n = 2000;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => c.call({ cmd: "PROGRESS", id: job.id, progress: ((i + k) % 100), message })));
    }
    // Meanwhile the server answers others.
    expect((await call(s.base, "GET", "/health")).status).toBe(200);
    const metricsBefore = (await call(s.base, "GET", "/metrics")).text;
    const dropped = Number(/^ringq_http_events_dropped_total (\d+)/m.exec(metricsBefore)![1]);
    expect(dropped).toBeGreaterThan(0);

    raw.resume();
    // One more event after the reader caught up carries the count.
    await Bun.sleep(200);
    await c.call({ cmd: "PROGRESS", id: job.id, progress: 100, message: "last" });
    await Bun.sleep(300);
    const events = sseMessages(dechunk(received));
    expect(events.length).toBeLessThan(n);
    // What reached the reader is bounded: the kernel's buffers plus the stream's own bound.
    expect(events.length * 8000).toBeLessThan(eventStreamBufferedBytesMax + 12 * 1024 * 1024);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ event: "progress", progress: 100, message: "last" });
    const total = events.reduce((sum, m) => sum + (m.dropped ?? 0), 0);
    expect(total).toBe(n + 1 - events.length);
    raw.destroy();
    c.close();
  });
});

describe("WebSocket", () => {
  test("/ws/:queue pushes the queue's events; SUBSCRIBE and UNSUBSCRIBE over it change what comes", async () => {
    const wsBase = s.base.replace("http", "ws");
    const ws = await WsClient.open(`${wsBase}/ws/ws-a?events=waiting`);
    await call(s.base, "POST", "/queues/ws-a/jobs", { data: 1 });
    expect(await ws.next((m) => m.event !== undefined)).toMatchObject({ event: "waiting", queue: "ws-a" });
    expect((await ws.call({ cmd: "SUBSCRIBE", queue: "ws-b", events: ["waiting"] })).ok).toBe(true);
    expect((await ws.call({ cmd: "UNSUBSCRIBE", queue: "ws-a" })).count).toBe(1);
    await call(s.base, "POST", "/queues/ws-a/jobs", { data: 2 });
    await call(s.base, "POST", "/queues/ws-b/jobs", { data: 3 });
    expect(await ws.next((m) => m.event !== undefined)).toMatchObject({ event: "waiting", queue: "ws-b" });
    ws.close();
  });

  test("commands over the WebSocket: a parked PULL answered later, replies by reqId, errors named", async () => {
    const ws = await WsClient.open(`${s.base.replace("http", "ws")}/ws/ws-cmd?events=completed`);
    ws.send({ cmd: "PULL", queue: "ws-cmd", timeout: 5000, reqId: "p1" });
    const pushed = await ws.call({ cmd: "PUSH", queue: "ws-cmd", data: { x: 1 } });
    const pulled = await ws.next((m) => m.reqId === "p1");
    expect(pulled.job).toMatchObject({ id: pushed.id, data: { x: 1 } });
    expect((await ws.call({ cmd: "ACK", id: pushed.id, result: "r" })).ok).toBe(true);
    expect(await ws.next((m) => m.event === "completed")).toMatchObject({ id: pushed.id, result: "r" });
    expect(await ws.call({ cmd: "PUSH", queue: "ws-cmd" })).toMatchObject({ ok: false, code: "INVALID" });
    ws.ws.send("{not json");
    expect(await ws.next((m) => m.code === "BAD_FRAME")).toMatchObject({ ok: false });
    ws.close();
  });

  test("a WebSocket reader that stops reading loses events and is told how many", async () => {
    const q = "ws-slow";
    const port = Number(new URL(s.base).port);
    const raw = net.connect({ host: "127.0.0.1", port });
    await new Promise<void>((r) => raw.once("connect", () => r()));
    raw.write(`GET /ws/${q}?events=progress HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let received = Buffer.alloc(0);
    raw.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
    await Bun.sleep(50);
    expect(received.toString("latin1")).toContain("101 Switching Protocols");
    raw.pause();
    const c = await tcp();
    await c.call({ cmd: "PUSH", queue: q, data: 1 });
    const job = (await c.call({ cmd: "PULL", queue: q, timeout: 1000 })).job;
    const message = "w".repeat(8000);
    const n = 2000;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => c.call({ cmd: "PROGRESS", id: job.id, progress: 1, message })));
    }
    raw.resume();
    await Bun.sleep(200);
    await c.call({ cmd: "PROGRESS", id: job.id, progress: 100, message: "last" });
    await Bun.sleep(300);
    const head = received.indexOf("\r\n\r\n") + 4;
    const events = wsTextFrames(received.subarray(head)).map((t) => JSON.parse(t));
    expect(events.length).toBeLessThan(n);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ event: "progress", progress: 100, message: "last" });
    expect(events.reduce((sum, m) => sum + (m.dropped ?? 0), 0)).toBe(n + 1 - events.length);
    raw.destroy();
    c.close();
  });
});

/** The body of a chunked HTTP/1.1 response (headers skipped). */
function dechunk(raw: Buffer): string {
  let p = raw.indexOf("\r\n\r\n") + 4;
  const parts: Buffer[] = [];
  while (p < raw.length) {
    const eol = raw.indexOf("\r\n", p);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(p, eol).toString("latin1"), 16);
    if (!(size > 0) || eol + 2 + size > raw.length) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
  return Buffer.concat(parts).toString("utf8");
}

function sseMessages(text: string): any[] {
  return text.split("\n\n").flatMap((block) => block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6))));
}

/** Unmasked text frames from a server (RFC 6455), in order; stops at an incomplete one. */
function wsTextFrames(b: Buffer): string[] {
  const out: string[] = [];
  let p = 0;
  while (p + 2 <= b.length) {
    const op = b[p]! & 0x0f;
    let len = b[p + 1]! & 0x7f;
    let h = 2;
    if (len === 126) { len = b.readUInt16BE(p + 2); h = 4; }
    else if (len === 127) { len = Number(b.readBigUInt64BE(p + 2)); h = 10; }
    if (p + h + len > b.length) break;
    if (op === 1) out.push(b.subarray(p + h, p + h + len).toString("utf8"));
    p += h + len;
  }
  return out;
}
