// Conformance, file descriptor exhaustion, against every I/O backend: the server runs under a
// low fd limit (prlimit --nofile=200) and is offered more connections than it can hold. Each
// client is served or closed at once (none hangs without a reply or a close), the server does
// not spin while at its bound, says its bound in the start-up line, and serves new clients as
// soon as others leave.

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { availableBackends, variants } from "../helpers/backends.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const avail = await availableBackends("conformance/fdlimit");
const prlimit = Bun.which("prlimit");
if (prlimit === null) console.warn("[conformance/fdlimit] SKIP: no prlimit (util-linux) on this machine");

/** CPU ticks (1/100 s) the process used so far. */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
}

/** PING on a fresh connection: "served", or "closed" when the server hangs up instead. */
async function tryPing(port: number): Promise<{ c: RawClient | null; outcome: "served" | "closed" }> {
  let c: RawClient;
  try {
    c = await RawClient.connect(port, "127.0.0.1", 5000);
  } catch {
    return { c: null, outcome: "closed" };
  }
  c.send('{"cmd":"PING"}\n');
  try {
    const r = await c.line(5000);
    if (r.pong === true) return { c, outcome: "served" };
  } catch {
    if (c.closed) return { c: null, outcome: "closed" };
    throw new Error("a client got neither a reply nor a close within 5 s");
  }
  throw new Error("unexpected reply");
}

/** Room comes back as clients leave: `k` of the served ones close, then `k` new ones are
 *  served; the server is still running. Closes every served client. */
async function roomComesBack(server: ServerProcess, served: { c: RawClient | null }[], k: number): Promise<void> {
  for (const r of served.slice(0, k)) r.c!.close();
  await Bun.sleep(200);
  for (let i = 0; i < k; i++) expect((await tryPing(server.port)).outcome).toBe("served");
  expect(server.exitCode).toBeNull();
  for (const r of served) r.c?.close();
}

for (const { name, io, env } of variants) {
  describe.skipIf(!avail[io].available || prlimit === null)(`file descriptor limit [${name}]`, () => {
    test("over the fd limit's share: each extra client is closed at once, nothing spins, and room comes back", async () => {
      const server = await ServerProcess.start({ io, env, wrap: [prlimit!, "--nofile=200:200"] });
      try {
        const m = /connections: at most (\d+) \(file descriptor limit 200/.exec(server.startupLine);
        expect(m).not.toBeNull();
        const bound = Number(m![1]);
        expect(bound).toBeGreaterThan(50);
        expect(bound).toBeLessThan(200);
        const results = [];
        for (let i = 0; i < bound + 40; i++) results.push(await tryPing(server.port));
        const served = results.filter((r) => r.outcome === "served");
        expect(served.length).toBe(bound);
        expect(results.length - served.length).toBe(40);
        // At its bound, with clients still knocking, the server does not spin.
        const t0 = cpuTicks(server.pid);
        for (let i = 0; i < 20; i++) expect((await tryPing(server.port)).outcome).toBe("closed");
        await Bun.sleep(1000);
        expect(cpuTicks(server.pid) - t0).toBeLessThan(50); // a spinning core would be ~100 a second
        await roomComesBack(server, served, 30);
      } finally {
        await server.stop();
      }
    }, 60_000);

    test("a burst of extra clients all at once: each is closed within the back-off bound, none served, and room comes back", async () => {
      // 300 at once: more than the fd reserve (64) on plain fds, where accept fails with EMFILE
      // and pauses (then says so, and that it accepts again); more than the io_uring file
      // table holds beyond the bound, unless refused ones are closed as fast as they come.
      const server = await ServerProcess.start({ io, env, wrap: [prlimit!, "--nofile=200:200"] });
      try {
        const bound = Number(/connections: at most (\d+) \(file descriptor limit 200/.exec(server.startupLine)![1]);
        const held = [];
        for (let i = 0; i < bound; i++) held.push(await tryPing(server.port));
        expect(held.every((r) => r.outcome === "served")).toBe(true);
        const t0 = Date.now();
        const burst = await Promise.all(Array.from({ length: 300 }, () => tryPing(server.port)));
        expect(burst.filter((r) => r.outcome === "served").length).toBe(0);
        expect(Date.now() - t0).toBeLessThan(5_000); // the back-off pauses accepts for 1 s at most
        expect(server.log).not.toContain("INTERNAL");
        if (server.log.includes("pausing accepts")) expect(server.log).toContain("accepting connections again");
        await roomComesBack(server, held, 10);
      } finally {
        await server.stop();
      }
    }, 60_000);
  });
}
