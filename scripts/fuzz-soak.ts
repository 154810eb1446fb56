// The long fuzz run (the test suite runs 25,000 requests per backend): 1M mutated binary frames
// and 250k text lines against a server started here, in batches over a few connections; prints
// how many were answered, the server's memory, and fails if it crashed or stopped answering.
//   npx bun scripts/fuzz-soak.ts [--frames=1000000] [--io=auto|uring|bun] [--seed=N]
import { ServerProcess } from "../tests/helpers/server-process.ts";
import { RawClient } from "../tests/helpers/raw-client.ts";
import { binaryBatch, textBatch } from "../tests/helpers/fuzz.ts";

const arg = (k: string, d: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3) ?? d;
const frames = Number(arg("frames", "1000000"));
const seed = Number(arg("seed", String(Date.now() % 1e9)));
const io = arg("io", "auto") as "auto" | "uring" | "bun";
const batch = 5000;

const server = await ServerProcess.start({ io });
console.log(`fuzz soak: seed ${seed}, ${frames} frames + ${frames / 4} lines, ${server.ioLine}`);
let sent = 0;
let answered = 0;
const t0 = Date.now();
try {
  for (let b = 0; sent < frames; b++) {
    const c = await RawClient.connect(server.port);
    const text = b % 5 === 4;
    const n = text ? batch / 4 : batch;
    if (text) {
      c.send(Buffer.from('{"cmd":"PING"}\n'));
      await c.line();
    }
    const x = text ? textBatch(seed + b, n, `soak-${b % 7}`) : binaryBatch(seed + b, n, `soak-${b % 7}`);
    c.send(x.bytes);
    for (let i = 0; i < x.count; i++) {
      try {
        await (text ? c.line(1500) : c.frame(1500));
        answered++;
      } catch {
        break;
      }
    }
    if (!text) sent += n;
    c.close();
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}:\n${server.log.slice(-2000)}`);
    if (b % 20 === 0) console.log(`  ${sent} frames, ${answered} replies, server RSS ${server.memoryKiB("VmRSS")} KiB`);
  }
  const c = await RawClient.connect(server.port);
  const ok = (await c.call({ cmd: "PING", reqId: "end" })).ok === true;
  c.close();
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${answered} replies, server alive: ${ok}, RSS ${server.memoryKiB("VmRSS")} KiB`);
  if (!ok) process.exit(1);
} finally {
  await server.stop();
}
