// Every command of the registry over HTTP: a session runs each one as POST /commands/<NAME>
// (JSON body) and over the WebSocket (JSON text messages), and each success reply must match the
// reply schema the registry declares, as over TCP (tests/protocol/registry.test.ts). A command
// added to the registry without a step here fails the test: HTTP reaches all of them.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { registry } from "../../src/dispatch/commands.ts";
import { checkReply, everyCommandSession } from "../helpers/every-command.ts";
import { call, startHttp, WsClient, type HttpServer } from "./helpers.ts";

let s: HttpServer;
beforeAll(async () => {
  s = await startHttp();
});
afterAll(async () => {
  await s.stop();
});

describe("every command over HTTP", () => {
  test("POST /commands/<NAME>: each success reply matches the registry's schema", async () => {
    const seen = new Set<string>();
    await everyCommandSession(async (req) => {
      const { cmd, ...body } = req;
      const r = await call(s.base, "POST", `/commands/${cmd}`, body);
      seen.add(cmd as string);
      expect({ cmd, status: r.status }).toEqual({ cmd, status: 200 });
      checkReply(cmd as string, r.body);
      return r.body;
    }, "http-cmd", { subscribe: false, client: "http-test", counted: false });
    // SUBSCRIBE needs a connection that stays open: over plain HTTP it says where to go instead.
    for (const cmd of ["SUBSCRIBE", "UNSUBSCRIBE"]) {
      const r = await call(s.base, "POST", `/commands/${cmd}`, { queue: "x" });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe("INVALID");
      expect(r.body.error).toMatch(/\/events|\/ws/);
      seen.add(cmd);
    }
    expect([...seen].sort()).toEqual([...registry.names].sort());
  });

  test("the WebSocket runs the same session, SUBSCRIBE included", async () => {
    const ws = await WsClient.open(`${s.base.replace("http", "ws")}/ws/none-yet`);
    const seen = new Set<string>();
    await everyCommandSession(async (req) => {
      const r = await ws.call(req);
      seen.add(req.cmd as string);
      const { reqId, ...reply } = r;
      expect(typeof reqId).toBe("string");
      checkReply(req.cmd as string, reply);
      return reply;
    }, "ws-cmd", { subscribe: true, client: "ws-test", counted: false });
    expect([...seen].sort()).toEqual([...registry.names].sort());
    ws.close();
  });

  test("the body's cmd must agree with the path, and an unknown command is 404 UNKNOWN_COMMAND", async () => {
    const a = await call(s.base, "POST", "/commands/PING", { cmd: "STATS" });
    expect(a.status).toBe(400);
    expect(a.body.error).toContain("disagrees");
    const b = await call(s.base, "POST", "/commands/NOSUCH", {});
    expect(b.status).toBe(404);
    expect(b.body.code).toBe("UNKNOWN_COMMAND");
    const c = await call(s.base, "POST", "/commands/PING?x=1", {});
    expect(c.status).toBe(400);
    expect(c.body.error).toContain("JSON body");
  });
});
