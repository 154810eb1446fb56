// Connection on its own (no socket, no backend): bytes in through its frame reader, replies read
// back from its writer. Reply order with and without reqId behind a parked PULL, programmer
// errors answered INTERNAL (logged with their stack, the stream intact), a reply that cannot be
// encoded rolled back and replaced, and disposal releasing parked requests.

import { describe, expect, test } from "bun:test";
import { pack, unpack } from "msgpackr";
import { registry } from "../../src/dispatch/commands.ts";
import { Engine } from "../../src/engine/engine.ts";
import { Connection, type ConnectionOwner } from "../../src/server/connection.ts";
import { EventHub } from "../../src/server/events.ts";
import { frame, line } from "../helpers/raw-client.ts";

function setup() {
  const engine = new Engine({ now: () => 1_000 });
  const errors: unknown[] = [];
  const owner: ConnectionOwner = {
    engine,
    events: new EventHub(engine),
    pendingBytes: () => 0,
    info: { version: "t", ioBackend: "none", authTokens: null, commands: registry.names, stats: { internalErrors: 0 }, clients: () => ({}) },
    markDirty(c) {
      c.dirty = true;
    },
    onInternalError(_c, e) {
      errors.push(e);
    },
  };
  const c = new Connection(1, owner);
  const send = (b: Uint8Array) => c.reader.push(b, 0, b.length);
  return { engine, c, errors, send };
}

/** Every reply frame written so far (binary mode), and clears the writer. */
function frames(c: Connection): any[] {
  const out: any[] = [];
  const b = c.out.buf;
  for (let p = 0; p < c.out.pos; ) {
    const n = (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
    out.push(unpack(b.subarray(p + 4, p + 4 + n)));
    p += 4 + n;
  }
  c.out.reset();
  return out;
}

function lines(c: Connection): any[] {
  const text = new TextDecoder().decode(c.out.buf.subarray(0, c.out.pos));
  c.out.reset();
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

describe("Connection", () => {
  test("replies without reqId keep request order behind a parked PULL; those with one do not wait", () => {
    const { c, send, engine } = setup();
    send(frame({ cmd: "PULL", queue: "o", timeout: 5000 }));
    send(frame({ cmd: "PING" }));
    send(frame({ cmd: "PING", reqId: "fast" }));
    expect(frames(c)).toEqual([{ reqId: "fast", ok: true, pong: true }]);
    const id = engine.push({ queue: "o", data: pack(1) as Uint8Array });
    const out = frames(c);
    expect(out.map((r) => (r.job ? `job ${r.job.id}` : r.pong ? "pong" : "?"))).toEqual([`job ${id}`, "pong"]);
  });

  test("a programmer error is answered INTERNAL with the reqId, logged, and the connection goes on", () => {
    const { c, send, engine, errors } = setup();
    engine.push = () => {
      throw new TypeError("a bug");
    };
    send(frame({ cmd: "PUSH", queue: "q", data: 1, reqId: "r1" }));
    send(frame({ cmd: "PING" }));
    expect(frames(c)).toEqual([
      { reqId: "r1", ok: false, code: "INTERNAL", error: expect.stringContaining("Internal error") },
      { ok: true, pong: true },
    ]);
    expect(errors.length).toBe(1);
    expect((errors[0] as Error).stack).toContain("a bug");
  });

  test("a reply that fails half-way through encoding is rolled back and replaced by INTERNAL, in both modes", () => {
    for (const mode of ["binary", "text"] as const) {
      const { c, send, engine, errors } = setup();
      const id = engine.push({ queue: "q", data: pack({ ok: 1 }) as Uint8Array });
      // A job whose queue has gone bad: the job writer throws in the middle of the map.
      Object.defineProperty(engine.getJob(id)!, "queue", { get: () => { throw new Error("bad queue"); } });
      const msg = (o: unknown) => (mode === "binary" ? frame(o) : line(o));
      send(msg({ cmd: "GETJOB", id, reqId: 7 }));
      send(msg({ cmd: "PING", reqId: 8 }));
      const out = mode === "binary" ? frames(c) : lines(c);
      expect(out).toEqual([{ reqId: 7, ok: false, code: "INTERNAL", error: expect.any(String) }, { reqId: 8, ok: true, pong: true }]);
      expect(errors.length).toBe(1);
    }
  });

  test("dispose cancels parked requests: the engine forgets the puller and no reply is written", () => {
    const { c, send, engine } = setup();
    send(frame({ cmd: "PULL", queue: "d", timeout: 5000 }));
    expect(engine.queue("d").waiters.length).toBe(1);
    c.dispose();
    expect(engine.queue("d").waiters.length).toBe(0);
    engine.push({ queue: "d", data: pack(1) as Uint8Array });
    expect(engine.queue("d").waitingCount).toBe(1);
    expect(c.out.pos).toBe(0);
  });

  test("an undecodable frame and an invalid reqId get errors; the next request is served", () => {
    const { c, send } = setup();
    send(Buffer.from([0, 0, 0, 1, 0xc1]));
    send(frame({ cmd: "PING", reqId: { no: 1 } }));
    send(frame({ cmd: "PING", reqId: "ok" }));
    expect(frames(c)).toEqual([
      { ok: false, code: "BAD_FRAME", error: expect.stringContaining("Undecodable") },
      { ok: false, code: "INVALID", error: expect.stringContaining("'reqId'") },
      { reqId: "ok", ok: true, pong: true },
    ]);
  });
});
