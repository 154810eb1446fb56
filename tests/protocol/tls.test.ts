// TLS for the TCP protocol (TLS_CERT/TLS_KEY), over a real TLS socket with a certificate made
// here by openssl: the start-up line says why the backend is Bun sockets (io_uring has no TLS),
// requests work in both framings, a plain-TCP client gets nothing, a forced RINGQ_IO=uring with
// TLS is a start-up error, and the TypeScript client's `tls` option connects.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { pack, unpack } from "msgpackr";
import { Queue } from "../../src/client/index.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ServerProcess } from "../helpers/server-process.ts";

const openssl = Bun.which("openssl");
if (openssl === null) console.warn("[protocol/tls] SKIP: no openssl on this machine to make a test certificate (scripts/setup.sh installs it)");

describe.skipIf(openssl === null)("TLS", () => {
  let dir = "";
  let cert = "";
  let key = "";
  let server: ServerProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ringq-tls-"));
    cert = join(dir, "cert.pem");
    key = join(dir, "key.pem");
    const p = Bun.spawnSync([openssl!, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stderr: "pipe" });
    if (p.exitCode !== 0) throw new Error(`openssl failed: ${p.stderr.toString()}`);
    server = await ServerProcess.start({ io: "auto", env: { TLS_CERT: cert, TLS_KEY: key } });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS connection that trusts the test certificate; replies as they come. */
  function connect(): Promise<{ sock: tls.TLSSocket; next: () => Promise<Buffer> }> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ host: "127.0.0.1", port: server.port, ca: readFileSync(cert) }, () => resolve({ sock, next }));
      sock.on("error", reject);
      let buf = Buffer.alloc(0);
      const waiting: (() => void)[] = [];
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (const w of waiting.splice(0)) w();
      });
      const next = async (): Promise<Buffer> => {
        for (;;) {
          if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
            const n = buf.readUInt32BE(0);
            const body = buf.subarray(4, 4 + n);
            buf = buf.subarray(4 + n);
            return body;
          }
          await new Promise<void>((r) => waiting.push(r));
        }
      };
    });
  }

  const frame = (o: unknown) => {
    const b = pack(o) as Buffer;
    const f = Buffer.alloc(4 + b.length);
    f.writeUInt32BE(b.length, 0);
    b.copy(f, 4);
    return f;
  };

  test("the start-up line says TLS and why the backend is Bun sockets", () => {
    expect(server.startupLine).toContain("(tcp+tls, flashQ protocol)");
    expect(server.ioLine).toMatch(/bun sockets.*TLS.*io_uring path has no TLS/);
  });

  test("PUSH, PULL, ACK over TLS in binary and text framing", async () => {
    const { sock, next } = await connect();
    sock.write(frame({ cmd: "PUSH", queue: "tls", data: { secret: true } }));
    const id = unpack(await next()).id;
    sock.write(frame({ cmd: "PULL", queue: "tls", timeout: 1000 }));
    const job = unpack(await next()).job;
    expect(job).toMatchObject({ id, data: { secret: true } });
    sock.write(frame({ cmd: "ACK", id, lock_token: job.lock_token }));
    expect(unpack(await next())).toEqual({ ok: true });
    sock.end();
    const t = tls.connect({ host: "127.0.0.1", port: server.port, ca: readFileSync(cert) });
    const line = await new Promise<string>((resolve, reject) => {
      t.on("secureConnect", () => t.write('{"cmd":"PING"}\n'));
      t.on("data", (d) => resolve(d.toString()));
      t.on("error", reject);
    });
    expect(JSON.parse(line)).toEqual({ ok: true, pong: true });
    t.end();
  });

  test("a plain TCP client is not served: no protocol reply, and the server hangs up", async () => {
    const c = await RawClient.connect(server.port);
    c.send('{"cmd":"PING"}\n');
    expect(await c.waitClosed(3000)).toBe(true);
    await expect(c.line(100)).rejects.toThrow(); // whatever came (a TLS alert) is no reply line
  });

  test("the client's tls option connects", async () => {
    const q = new Queue("tls-client", { connection: { host: "127.0.0.1", port: server.port, tls: { ca: readFileSync(cert) } } });
    const job = await q.add("x", { n: 1 });
    expect((await q.getJob(job.id!))?.data).toEqual({ n: 1 });
    await q.close();
  });

  test("RINGQ_IO=uring with TLS refuses to start, saying why", async () => {
    const s = ServerProcess.spawn({ io: "uring", env: { TLS_CERT: cert, TLS_KEY: key } });
    expect(await s.exited()).toBe(1);
    expect(s.log).toMatch(/RINGQ_IO=uring.*TLS/);
  });

  test("TLS_CERT without TLS_KEY, or a missing file, is a start-up error naming it", async () => {
    const a = ServerProcess.spawn({ io: "auto", env: { TLS_CERT: cert } });
    expect(await a.exited()).toBe(1);
    expect(a.log).toContain("TLS_KEY");
    const b = ServerProcess.spawn({ io: "auto", env: { TLS_CERT: join(dir, "nope.pem"), TLS_KEY: key } });
    expect(await b.exited()).toBe(1);
    expect(b.log).toContain("nope.pem");
  });
});
