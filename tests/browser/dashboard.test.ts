// The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser
// download) against a real server with AUTH_TOKENS. It asks for the token once, shows counts
// that change live as jobs are pushed and pulled over TCP (Server-Sent Events, no reload), retries
// a DLQ job and pauses a queue through the UI (checked through the API), shows a job's detail,
// and the server page. Screenshots go to tests/browser/screenshots/ (README shows one).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "../helpers/ports.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";
import { call } from "../http/helpers.ts";

const chromiumPath = "/usr/bin/chromium";
const shots = join(import.meta.dir, "screenshots");
const token = "browser-test-token";
const bearer = { authorization: `Bearer ${token}` };

let server: ServerProcess;
let base: string;
let browser: Browser;
let page: Page;
let tcp: RawClient;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: run bash scripts/setup.sh (it installs Debian's chromium)`);
  mkdirSync(shots, { recursive: true });
  const httpPort = await freePort();
  server = await ServerProcess.start({ io: "bun", env: { HTTP_PORT: String(httpPort), AUTH_TOKENS: token } });
  base = `http://127.0.0.1:${httpPort}`;
  tcp = await RawClient.connect(server.port);
  expect((await tcp.call({ cmd: "AUTH", token })).ok).toBe(true);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--headless=new"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("dialog", (d) => void d.accept());
}, 30_000);

afterAll(async () => {
  await browser?.close();
  tcp?.close();
  await server?.stop();
});

/** Waits (bounded) until `read()` gives a value `ok` accepts; fails with the last value. */
async function eventually<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return;
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}; last value: ${JSON.stringify(last)}`);
    await Bun.sleep(50);
  }
}

const count = (queue: string, state: string) => page.locator(`tr[data-queue="${queue}"] [data-count="${state}"]`);

describe("dashboard", () => {
  test("asks for the token once: a wrong one is refused, the right one is kept for the tab", async () => {
    await page.goto(`${base}/`);
    await page.locator("#login").waitFor({ state: "visible" });
    await page.fill("#login-token", "not-the-token");
    await page.click("#login-form button[type=submit]");
    await eventually(() => page.locator("#login-error").textContent(), (t) => String(t).includes("refused"), "the refusal");
    await page.fill("#login-token", token);
    await page.click("#login-form button[type=submit]");
    await page.locator("#login").waitFor({ state: "hidden" });
    await page.locator("#queues").waitFor();
    await page.locator("#live.on").waitFor();
    await page.reload();
    await page.locator("#queues").waitFor();
    expect(await page.locator("#login").isHidden()).toBe(true);
  });

  test("counts change live as jobs are pushed and pulled over TCP", async () => {
    await page.goto(`${base}/#/`);
    const jobs = Array.from({ length: 7 }, (_, i) => ({ data: { to: `user${i}@example.com` }, name: "welcome" }));
    await tcp.call({ cmd: "PUSHB", queue: "emails", jobs });
    await eventually(() => count("emails", "waiting").textContent(), (v) => v === "7", "7");
    await tcp.call({ cmd: "PULLB", queue: "emails", count: 2, timeout: 0 });
    await eventually(() => count("emails", "active").textContent(), (v) => v === "2", "2");
    await eventually(() => count("emails", "waiting").textContent(), (v) => v === "5", "5");
    await eventually(() => page.locator('[data-total="queued"] .n').textContent(), (v) => v === "5", "5");
  });

  test("a DLQ job is retried through the UI", async () => {
    const { id } = await tcp.call({ cmd: "PUSH", queue: "payments", data: { amount: 4200, currency: "EUR" }, max_attempts: 1, job_id: "order-1001" });
    expect((await tcp.call({ cmd: "PULL", queue: "payments", timeout: 1000 })).job.id).toBe(id);
    await tcp.call({ cmd: "LOG", id, message: "charging card", level: "info" });
    await tcp.call({ cmd: "FAIL", id, error: "card declined" });
    await page.goto(`${base}/#/queue/payments?state=failed`);
    const row = page.locator(`tr[data-job="${id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("card declined");
    await page.screenshot({ path: join(shots, "queue-failed.png") });
    await row.locator("button[data-action=retry]").click();
    await eventually(async () => (await call(base, "GET", `/jobs/${id}/state`, undefined, bearer)).body.state, (v) => v === "waiting", "waiting");
    // The page follows by itself (the queue's events reload it): the row leaves the failed tab.
    await row.waitFor({ state: "detached", timeout: 10_000 });
  });

  test("a queue is paused and resumed through the UI", async () => {
    await page.goto(`${base}/#/queue/emails`);
    const button = page.locator("#queue-pause");
    await eventually(() => button.textContent(), (v) => v === "Pause", "Pause");
    await button.click();
    await eventually(async () => (await call(base, "GET", "/queues/emails/paused", undefined, bearer)).body.paused, (v) => v === true, "true");
    await page.locator("#queue-paused").waitFor({ state: "visible" });
    await eventually(() => button.textContent(), (v) => v === "Resume", "Resume");
    await button.click();
    await eventually(async () => (await call(base, "GET", "/queues/emails/paused", undefined, bearer)).body.paused, (v) => v === false, "false");
  });

  test("a job's detail: data, failure reason, logs; found by its custom id", async () => {
    const { id } = await tcp.call({ cmd: "PUSH", queue: "payments", data: { amount: 99, currency: "USD" }, max_attempts: 1, job_id: "order-1002" });
    await tcp.call({ cmd: "PULL", queue: "payments", timeout: 1000 });
    await tcp.call({ cmd: "PULL", queue: "payments", timeout: 0 });
    await tcp.call({ cmd: "LOG", id, message: "fraud check failed", level: "warn" });
    await tcp.call({ cmd: "FAIL", id, error: "fraud suspected" });
    await page.goto(`${base}/#/`);
    await page.fill("#job-search", "order-1002");
    await page.press("#job-search", "Enter");
    await page.locator("#job-state").waitFor();
    expect(await page.locator("#job-state").textContent()).toBe("failed");
    expect(await page.locator("#job-failure").textContent()).toBe("fraud suspected");
    expect(JSON.parse((await page.locator("#job-data").textContent())!)).toEqual({ amount: 99, currency: "USD" });
    expect(await page.locator("#job-logs").textContent()).toContain("fraud check failed");
    await page.screenshot({ path: join(shots, "job.png"), fullPage: true });
    await page.locator("button[data-action=retry]").click();
    await eventually(() => page.locator("#job-state").textContent(), (v) => v === "waiting", "waiting");
  });

  test("the server page shows the backend, storage and uptime", async () => {
    await page.goto(`${base}/#/server`);
    await page.locator("#server-facts").waitFor();
    const facts = await page.locator("#server-facts").textContent();
    expect(facts).toContain("bun");
    expect(facts).toContain("memory only");
    expect(facts).toContain("tokens required");
  });

  test("cron schedules are listed and deleted through the UI", async () => {
    expect((await tcp.call({ cmd: "CRON", name: "nightly-report", queue: "reports", data: { kind: "daily" }, schedule: "0 3 * * *", tz: "Europe/Berlin" })).ok).toBe(true);
    await page.goto(`${base}/#/cron`);
    const row = page.locator('tr[data-cron="nightly-report"]');
    await row.waitFor();
    const text = await row.textContent();
    expect(text).toContain("0 3 * * *");
    expect(text).toContain("Europe/Berlin");
    await page.screenshot({ path: join(shots, "cron.png") });
    await row.locator("button").click();
    await row.waitFor({ state: "detached" });
    expect((await tcp.call({ cmd: "CRONLIST" })).crons).toEqual([]);
  });

  test("overview under a steady load, for the README's screenshot", async () => {
    await page.goto(`${base}/#/`);
    // A few seconds of work so the throughput chart has a line: pushes, and a worker that acks.
    const until = Date.now() + 6000;
    let n = 0;
    while (Date.now() < until) {
      await tcp.call({ cmd: "PUSHB", queue: "reports", jobs: Array.from({ length: 40 + (n % 5) * 20 }, (_, i) => ({ data: { report: n * 100 + i } })) });
      const got = (await tcp.call({ cmd: "PULLB", queue: "reports", count: 60, timeout: 0 })).jobs as { id: number }[];
      if (got.length > 0) await tcp.call({ cmd: "ACKB", ids: got.map((j) => j.id) });
      n++;
      await Bun.sleep(100);
    }
    await eventually(async () => Number((await count("reports", "completed").textContent())?.replace(/,/g, "")), (v) => (v as number) > 100, "more than 100");
    await page.screenshot({ path: join(shots, "overview.png") });
  }, 30_000);
});
