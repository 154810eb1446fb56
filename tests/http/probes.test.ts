// The probes and the server's life as HTTP sees it: /health answers from the start, /ready says
// 503 until storage is recovered and the protocol port listens (and the API waits for it too);
// under DURABILITY=sync an HTTP reply, like a TCP one, goes out only after the commit of what it
// reports; the start-up line names the HTTP port or says why it is off; the configuration
// refuses bad values naming the variable.

import { afterEach, describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config.ts";
import type { Journal } from "../../src/engine/journal.ts";
import type { Store } from "../../src/persistence/store.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { freePort } from "../helpers/ports.ts";
import { ServerProcess } from "../helpers/server-process.ts";
import { call } from "./helpers.ts";

/** A store whose recovery and commits the test releases by hand. */
class HandStore implements Store {
  readonly description = "storage: test (by hand)";
  holdRepliesUntilCommit = true;
  changed = 0;
  readonly journal: Journal = {
    jobChanged: () => void this.changed++,
    jobRemoved: () => void this.changed++,
    queueChanged: () => {},
    queueRemoved: () => {},
    reserve: () => {},
    recordChanged: () => void this.changed++,
    recordRemoved: () => void this.changed++,
  };
  private recoverDone!: () => void;
  private readonly recovering = new Promise<void>((r) => (this.recoverDone = r));
  readonly commits: (() => void)[] = [];
  auto = false;
  recover(): Promise<void> {
    return this.recovering;
  }
  finishRecovery(): void {
    this.recoverDone();
  }
  commit(): Promise<void> | void {
    if (this.auto || this.changed === 0) return;
    return new Promise((resolve) => this.commits.push(resolve));
  }
  settle(): void {
    for (const c of this.commits.splice(0)) c();
  }
  close(): void {}
}

let running: RunningServer | null = null;
let store: HandStore | null = null;
afterEach(async () => {
  if (store !== null) {
    store.auto = true;
    store.finishRecovery();
    store.settle();
  }
  await running?.stop();
  running = null;
  store = null;
});

describe("probes", () => {
  test("/health answers during recovery, /ready and the API say 503 until recovery is over and TCP listens", async () => {
    store = new HandStore();
    const httpPort = await freePort();
    const starting = startServer({ host: "127.0.0.1", port: 0, io: "bun", store, httpPort, log: () => {} });
    const base = `http://127.0.0.1:${httpPort}`;
    let health = null;
    for (let i = 0; i < 200 && health === null; i++) {
      health = await fetch(`${base}/health`).then((r) => r.status, () => null);
      if (health === null) await Bun.sleep(10);
    }
    expect(health).toBe(200);
    const ready = await call(base, "GET", "/ready");
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ok: false, ready: false });
    const api = await call(base, "GET", "/queues");
    expect(api.status).toBe(503);
    expect(api.body.error).toContain("recovery");
    expect((await fetch(`${base}/ready`, { method: "HEAD" })).status).toBe(503);
    store.finishRecovery();
    running = await starting;
    expect((await call(base, "GET", "/ready")).body).toEqual({ ok: true, ready: true });
    expect((await call(base, "GET", "/queues")).status).toBe(200);
  });

  test("DURABILITY=sync: an HTTP reply waits for the commit of what it reports", async () => {
    store = new HandStore();
    store.finishRecovery();
    running = await startServer({ host: "127.0.0.1", port: 0, io: "bun", store, httpAnyPort: true, log: () => {} });
    const base = `http://127.0.0.1:${running.httpPort}`;
    let answered = false;
    const push = call(base, "POST", "/queues/dur/jobs", { data: 1 }).then((r) => ((answered = true), r));
    const end = Date.now() + 5000;
    while (store.commits.length === 0 && Date.now() < end) await Bun.sleep(2);
    expect(running.engine.jobs.size).toBe(1);
    await Bun.sleep(100);
    expect(answered).toBe(false); // run, journaled, not yet committed: no reply
    store.settle();
    expect((await push).body).toMatchObject({ ok: true, id: expect.any(Number) });
    // A parked pull answered by a later push waits for that push's commit too.
    let pulled = false;
    const pull = call(base, "POST", "/queues/dur2/pull?timeout=5000").then((r) => ((pulled = true), r));
    await Bun.sleep(30);
    const second = call(base, "POST", "/queues/dur2/jobs", { data: 2 });
    while (store.commits.length === 0 && Date.now() < end) await Bun.sleep(2);
    await Bun.sleep(100);
    expect(pulled).toBe(false);
    store.settle();
    expect((await pull).body.job).toMatchObject({ data: 2 });
    expect((await second).body.ok).toBe(true);
  });
});

describe("start-up and configuration", () => {
  test("the start-up line names the HTTP port, or says HTTP is off and why", async () => {
    const httpPort = await freePort();
    const on = await ServerProcess.start({ io: "bun", env: { HTTP_PORT: String(httpPort) } });
    try {
      expect(on.startupLine).toContain(`HTTP on 127.0.0.1:${httpPort} (REST, events, /metrics, /ready, dashboard at /)`);
      expect((await call(`http://127.0.0.1:${httpPort}`, "GET", "/ready")).status).toBe(200);
    } finally {
      await on.stop();
    }
    const zero = await ServerProcess.start({ io: "bun", env: { HTTP_PORT: "0" } });
    expect(zero.startupLine).toContain("HTTP off (HTTP_PORT=0)");
    await zero.stop();
    const no = await ServerProcess.start({ io: "bun", env: { HTTP_PORT: String(httpPort), NO_HTTP: "1" } });
    expect(no.startupLine).toContain("HTTP off (NO_HTTP)");
    expect(await fetch(`http://127.0.0.1:${httpPort}/health`).then(() => "answered", () => "refused")).toBe("refused");
    await no.stop();
  });

  test("NO_DASHBOARD=1 leaves the API and drops the page", async () => {
    const httpPort = await freePort();
    const s = await ServerProcess.start({ io: "bun", env: { HTTP_PORT: String(httpPort), NO_DASHBOARD: "1" } });
    try {
      expect(s.startupLine).toContain("dashboard off");
      const base = `http://127.0.0.1:${httpPort}`;
      expect((await call(base, "GET", "/")).status).toBe(404);
      expect((await call(base, "GET", "/ui/app.js")).status).toBe(404);
      expect((await call(base, "GET", "/stats")).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  test("an HTTP port in use stops start-up with a message naming HTTP_PORT", async () => {
    const holder = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    try {
      const s = ServerProcess.spawn({ io: "bun", env: { HTTP_PORT: String(holder.port) } });
      expect(await s.exited()).toBe(1);
      expect(s.log).toContain(`HTTP_PORT ${holder.port}`);
      expect(s.log).toContain("set HTTP_PORT, or HTTP_PORT=0");
      expect(s.log).not.toContain("set TCP_PORT");
    } finally {
      holder.stop(true);
    }
  });

  test("bad values are refused naming the variable", () => {
    const bad: [Record<string, string>, string][] = [
      [{ HTTP_PORT: "http" }, "HTTP_PORT"],
      [{ HTTP_PORT: "70000" }, "HTTP_PORT"],
      [{ NO_HTTP: "maybe" }, "NO_HTTP"],
      [{ NO_DASHBOARD: "2" }, "NO_DASHBOARD"],
      [{ WEBHOOK_ALLOW_PRIVATE: "sure" }, "WEBHOOK_ALLOW_PRIVATE"],
      [{ CORS_ORIGIN: "admin.example.com" }, "CORS_ORIGIN"],
      [{ CORS_ORIGIN: "https://admin.example.com/path" }, "CORS_ORIGIN"],
      [{ TCP_PORT: "7000", HTTP_PORT: "7000" }, "HTTP_PORT and TCP_PORT"],
    ];
    for (const [env, name] of bad) expect(() => loadConfig(env)).toThrow(name);
    expect(loadConfig({}).httpPort).toBe(6790);
    expect(loadConfig({ NO_HTTP: "yes", CORS_ORIGIN: "https://a.example:8443" })).toMatchObject({ noHttp: true, corsOrigin: "https://a.example:8443" });
    expect(loadConfig({}, ["--http-port=7001", "--webhook-allow-private=1"])).toMatchObject({ httpPort: 7001, webhookAllowPrivate: true });
  });
});
