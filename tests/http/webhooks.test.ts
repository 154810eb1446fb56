// Webhooks against a real receiver on loopback (so the server runs with WEBHOOK_ALLOW_PRIVATE=1,
// the allowance the SSRF guard needs for it): the events a webhook's filters select arrive as
// signed POSTs (X-Ringq-Signature = sha256 HMAC of "<timestamp>.<body>" with its secret), failed
// attempts are retried with back-off, a URL that keeps failing has its circuit opened, redirects
// are not followed, webhooks survive a restart (persisted records) and stop when deleted.
// Without the allowance, loopback, private, link-local and mapped addresses are refused.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webhookBreakerFailures } from "../../src/constants.ts";
import { checkTarget, isBlockedAddress, parseTarget } from "../../src/http/webhooks/ssrf.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { call, startHttp, type HttpServer } from "./helpers.ts";

interface Received {
  headers: Record<string, string>;
  body: string;
  json: any;
}

/** A webhook receiver on 127.0.0.1 that records requests and answers with `status()`. */
class Receiver {
  readonly got: Received[] = [];
  status: (n: number) => number = () => 200;
  private waiters: (() => void)[] = [];
  readonly server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req) => {
      const body = await req.text();
      this.got.push({ headers: Object.fromEntries(req.headers), body, json: JSON.parse(body) });
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
      const st = this.status(this.got.length);
      return st >= 300 && st < 400 ? new Response(null, { status: st, headers: { location: `${this.url}/elsewhere` } }) : new Response("ok", { status: st });
    },
  });
  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }
  async count(n: number, ms = 8_000): Promise<Received[]> {
    const deadline = Date.now() + ms;
    while (this.got.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`receiver got ${this.got.length} of ${n} deliveries within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.got;
  }
  stop(): void {
    this.server.stop(true);
  }
}

function verify(r: Received, secret: string): boolean {
  const ts = r.headers["x-ringq-timestamp"]!;
  const sig = createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex");
  return r.headers["x-ringq-signature"] === `sha256=${sig}`;
}

describe("SSRF guard", () => {
  test("loopback, private, link-local, CGNAT, multicast, reserved and mapped addresses are blocked; public ones are not", () => {
    for (const ip of ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
      "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:7f00:1", "64:ff9b::a00:1", "2001:db8::1"]) {
      expect({ ip, blocked: isBlockedAddress(ip) }).toEqual({ ip, blocked: true });
    }
    for (const ip of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect({ ip, blocked: isBlockedAddress(ip) }).toEqual({ ip, blocked: false });
    }
  });

  test("names are resolved and every address checked; schemes and credentials are refused", async () => {
    await expect(checkTarget(parseTarget("http://localhost:9/x"), false)).rejects.toThrow("WEBHOOK_ALLOW_PRIVATE");
    await expect(checkTarget(parseTarget("http://[::ffff:127.0.0.1]/"), false)).rejects.toThrow("loopback");
    await expect(checkTarget(parseTarget("http://localhost:9/x"), true)).resolves.toBeUndefined();
    expect(() => parseTarget("ftp://example.com/")).toThrow("scheme");
    expect(() => parseTarget("http://u:p@example.com/")).toThrow("credentials");
    expect(() => parseTarget("not a url")).toThrow("not a URL");
  });

  test("without WEBHOOK_ALLOW_PRIVATE the API refuses such targets, naming the address", async () => {
    const s = await startHttp();
    try {
      for (const url of ["http://127.0.0.1:8080/hook", "http://10.0.0.5/", "http://169.254.169.254/latest/meta-data", "http://[::1]:80/", "http://localhost/"]) {
        const r = await call(s.base, "POST", "/webhooks", { url });
        expect({ url, status: r.status }).toEqual({ url, status: 400 });
        expect(r.body.error).toContain("WEBHOOK_ALLOW_PRIVATE");
      }
      expect((await call(s.base, "GET", "/webhooks")).body.webhooks).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});

describe("deliveries", () => {
  let s: HttpServer;
  let rx: Receiver;
  const paths: string[] = [];
  beforeAll(async () => {
    s = await startHttp({ webhookAllowPrivate: true });
  });
  afterAll(async () => {
    await s.stop();
    for (const p of paths) for (const x of ["", "-wal", "-shm"]) rmSync(p + x, { force: true });
  });
  afterEach(async () => {
    rx?.stop();
    for (const w of (await call(s.base, "GET", "/webhooks")).body.webhooks) await call(s.base, "DELETE", `/webhooks/${w.id}`);
  });

  test("the selected events arrive signed, in the SSE/TCP message shape; others do not", async () => {
    rx = new Receiver();
    const made = await call(s.base, "POST", "/webhooks", { url: `${rx.url}/hook`, queue: "wh", events: ["completed"] });
    expect(made.status).toBe(200);
    const { secret, webhook } = made.body;
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(webhook).toMatchObject({ url: `${rx.url}/hook`, queue: "wh", events: ["completed"], circuit: "closed" });
    expect(JSON.stringify((await call(s.base, "GET", "/webhooks")).body)).not.toContain(secret);

    const c = await RawClient.connect(s.tcpPort);
    const id = (await c.call({ cmd: "PUSH", queue: "wh", data: 1 })).id;
    await c.call({ cmd: "PUSH", queue: "other", data: 1 });
    await c.call({ cmd: "PULL", queue: "wh", timeout: 1000 });
    await c.call({ cmd: "ACK", id, result: { ok: 1 } });
    const [r] = await rx.count(1);
    expect(r!.json).toMatchObject({ event: "completed", queue: "wh", id, result: { ok: 1 } });
    expect(r!.headers["x-ringq-event"]).toBe("completed");
    expect(r!.headers["content-type"]).toBe("application/json");
    expect(r!.headers["user-agent"]).toMatch(/^ringq\//);
    expect(r!.headers["x-ringq-attempt"]).toBe("1");
    expect(verify(r!, secret)).toBe(true);
    expect(verify(r!, "another secret entirely")).toBe(false);
    await Bun.sleep(100);
    expect(rx.got).toHaveLength(1);
    const listed = (await call(s.base, "GET", "/webhooks")).body.webhooks[0];
    expect(listed).toMatchObject({ delivered: 1, failed: 0, last_status: 200 });
    c.close();
  });

  test("a failed attempt is retried with back-off, with the same delivery id", async () => {
    rx = new Receiver();
    rx.status = (n) => (n === 1 ? 503 : 200);
    const { secret } = (await call(s.base, "POST", "/webhooks", { url: rx.url, queue: "wh-retry", events: ["waiting"], secret: "a-secret-of-16-chars-or-more" })).body;
    expect(secret).toBe("a-secret-of-16-chars-or-more");
    await call(s.base, "POST", "/queues/wh-retry/jobs", { data: 1 });
    const [first, second] = await rx.count(2);
    expect(first!.headers["x-ringq-attempt"]).toBe("1");
    expect(second!.headers["x-ringq-attempt"]).toBe("2");
    expect(second!.headers["x-ringq-delivery"]).toBe(first!.headers["x-ringq-delivery"]!);
    expect(verify(second!, secret)).toBe(true);
    const ms = Number(second!.headers["x-ringq-timestamp"]) - Number(first!.headers["x-ringq-timestamp"]);
    expect(ms).toBeGreaterThanOrEqual(400);
  });

  test(`${webhookBreakerFailures} failures in a row open the URL's circuit: later events are dropped and counted`, async () => {
    rx = new Receiver();
    rx.status = () => 500;
    const hook = (await call(s.base, "POST", "/webhooks", { url: rx.url, queue: "wh-break", events: ["waiting"] })).body.webhook;
    for (let i = 0; i < webhookBreakerFailures; i++) {
      await call(s.base, "POST", "/queues/wh-break/jobs", { data: i });
      await rx.count(i + 1);
      await Bun.sleep(20);
    }
    await Bun.sleep(50);
    const view = (await call(s.base, "GET", "/webhooks")).body.webhooks.find((w: { id: string }) => w.id === hook.id);
    expect(view.circuit).toBe("open");
    expect(view.last_error).toContain("HTTP 500");
    for (let i = 0; i < 3; i++) await call(s.base, "POST", "/queues/wh-break/jobs", { data: "after" });
    await Bun.sleep(100);
    expect(rx.got).toHaveLength(webhookBreakerFailures);
    const after = (await call(s.base, "GET", "/webhooks")).body.webhooks.find((w: { id: string }) => w.id === hook.id);
    expect(after.dropped).toBeGreaterThanOrEqual(3);
    const metrics = (await call(s.base, "GET", "/metrics")).text;
    expect(Number(/ringq_webhook_deliveries_total\{outcome="dropped"\} (\d+)/.exec(metrics)![1])).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/ringq_webhook_circuits_open [1-9]/);
    expect((await call(s.base, "POST", `/webhooks/${hook.id}/ping`)).status).toBe(429);
  });

  test("a redirect is a failure, never followed", async () => {
    rx = new Receiver();
    rx.status = () => 302;
    const hook = (await call(s.base, "POST", "/webhooks", { url: rx.url, queue: "wh-redirect", events: ["waiting"] })).body.webhook;
    await call(s.base, "POST", "/queues/wh-redirect/jobs", { data: 1 });
    await rx.count(1);
    await Bun.sleep(100);
    expect(rx.got.map((g) => g.json.event)).toEqual(["waiting"]);
    const view = (await call(s.base, "GET", "/webhooks")).body.webhooks.find((w: { id: string }) => w.id === hook.id);
    expect(view.last_error).toContain("redirects are not followed");
  });

  test("ping, delete, and the API's validation", async () => {
    rx = new Receiver();
    const hook = (await call(s.base, "POST", "/webhooks", { url: rx.url })).body.webhook;
    expect(hook).toMatchObject({ queue: "*", events: ["completed", "failed"] });
    expect((await call(s.base, "POST", `/webhooks/${hook.id}/ping`)).status).toBe(200);
    expect((await rx.count(1))[0]!.json).toMatchObject({ event: "ping", webhook: hook.id });
    expect((await call(s.base, "DELETE", `/webhooks/${hook.id}`)).body).toEqual({ ok: true });
    expect((await call(s.base, "DELETE", `/webhooks/${hook.id}`)).status).toBe(404);
    const c = await RawClient.connect(s.tcpPort);
    const id = (await c.call({ cmd: "PUSH", queue: "wh-gone", data: 1 })).id;
    await c.call({ cmd: "PULL", queue: "wh-gone", timeout: 1000 });
    await c.call({ cmd: "ACK", id });
    await Bun.sleep(100);
    expect(rx.got).toHaveLength(1);
    c.close();
    for (const [body, field] of [[{}, "url"], [{ url: rx.url, events: ["nope"] }, "events"], [{ url: rx.url, extra: 1 }, "extra"], [{ url: rx.url, secret: "short" }, "secret"], [{ url: rx.url, queue: "bad name" }, "queue"]] as const) {
      const r = await call(s.base, "POST", "/webhooks", body);
      expect({ field, status: r.status }).toEqual({ field, status: 400 });
      expect(r.body.error).toContain(`${field}`);
    }
  });

  test("webhooks are persisted: after a restart they are listed and still deliver, signed with the same secret", async () => {
    rx = new Receiver();
    const path = join(tmpdir(), `ringq-webhooks-${process.pid}-${Date.now()}.db`);
    paths.push(path);
    const a = await startHttp({ webhookAllowPrivate: true, dataPath: path, durability: "sync" });
    const made = (await call(a.base, "POST", "/webhooks", { url: `${rx.url}/p`, queue: "wh-persist", events: ["waiting"] })).body;
    const gone = (await call(a.base, "POST", "/webhooks", { url: `${rx.url}/gone`, queue: "wh-persist", events: ["waiting"] })).body;
    await call(a.base, "DELETE", `/webhooks/${gone.webhook.id}`);
    await a.stop();
    const b = await startHttp({ webhookAllowPrivate: true, dataPath: path, durability: "sync" });
    try {
      const listed = (await call(b.base, "GET", "/webhooks")).body.webhooks;
      expect(listed.map((w: { id: string }) => w.id)).toEqual([made.webhook.id]);
      expect(listed[0]).toMatchObject({ url: `${rx.url}/p`, queue: "wh-persist", events: ["waiting"] });
      await call(b.base, "POST", "/queues/wh-persist/jobs", { data: 1 });
      const [r] = await rx.count(1);
      expect(verify(r!, made.secret)).toBe(true);
      await Bun.sleep(100);
      expect(rx.got).toHaveLength(1);
    } finally {
      await b.stop();
    }
  });
});
