// The server as users run it: `bun src/main.ts` in its own process. One start-up line naming
// version, port, I/O backend and storage; SIGTERM stops it gracefully with exit code 0; a bad
// setting is a start-up error that names the variable.

import { expect, test } from "bun:test";
import { RawClient } from "../helpers/raw-client.ts";
import { freePort } from "../helpers/ports.ts";


async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!pattern.test(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${pattern} in: ${text}`);
      const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
      if (r === null || r.done) break;
      text += new TextDecoder().decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

test("start-up line, service, and graceful SIGTERM with exit 0", async () => {
  const port = await freePort();
  const proc = Bun.spawn(["bun", "src/main.ts"], {
    env: { ...process.env, TCP_PORT: String(port), HOST: "127.0.0.1", RINGQ_IO: "bun", HTTP_PORT: "0" },
    stderr: "pipe",
    stdout: "ignore",
  });
  try {
    const log = await readUntil(proc.stderr, /listening/);
    const startup = log.split("\n").find((l) => l.includes("listening"))!;
    expect(startup).toContain(`127.0.0.1:${port}`);
    expect(startup).toMatch(/ringq \d+\.\d+\.\d+/);
    expect(startup).toContain("IO backend: bun sockets");
    expect(startup).toContain("memory only");
    const w = await RawClient.connect(port);
    expect((await w.call({ cmd: "PUSH", queue: "proc", data: 1 })).ok).toBe(true);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    w.close();
  } finally {
    proc.kill("SIGKILL");
  }
});

test("an invalid setting is a start-up error naming the variable", async () => {
  const proc = Bun.spawn(["bun", "src/main.ts"], {
    env: { ...process.env, TCP_PORT: "not-a-port", RINGQ_IO: "bun" },
    stderr: "pipe",
    stdout: "ignore",
  });
  const code = await proc.exited;
  const err = await new Response(proc.stderr).text();
  expect(code).toBe(1);
  expect(err).toContain("TCP_PORT");
});
