// Run by node.test.ts under Node 20 with the bundled client (package "ringq", default export
// condition -> dist/client/index.js): push, work with a Worker, count, close. Prints one JSON line.
import { Queue, Worker, QueueEvents, CommandError } from "ringq";

const connection = { host: "127.0.0.1", port: Number(process.argv[2]) };
const queue = new Queue("node-smoke", { connection });
const events = new QueueEvents("node-smoke", { connection });
const eventCompleted = new Set();
events.on("completed", ({ jobId }) => eventCompleted.add(jobId));
await events.waitUntilReady();
const jobs = await queue.addBulk(Array.from({ length: 50 }, (_, i) => ({ name: "sq", data: { i }, opts: i === 7 ? { attempts: 1 } : undefined })));
let running = 0;
let maxRunning = 0;
const results = new Map();
const worker = new Worker(
  "node-smoke",
  async (job) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    if (job.data.i === 7) throw new Error("seven fails");
    return job.data.i * job.data.i;
  },
  { connection, concurrency: 4, drainDelay: 0.2 },
);
worker.on("completed", (job, result) => results.set(job.data.i, result));
const failed = [];
worker.on("failed", (job, err) => failed.push(`${job.data.i}: ${err.message}`));
const waited = await jobs[3].waitUntilFinished();
await new Promise((resolve) => {
  const check = () => (results.size + failed.length >= 50 ? resolve() : setTimeout(check, 10));
  check();
});
await worker.close();
for (let i = 0; i < 200 && eventCompleted.size < 49; i++) await new Promise((r) => setTimeout(r, 10));
await events.close();
const counts = await queue.getJobCounts();
let validation = "";
try {
  await queue.add("bad", 1, { delay: "soon" });
} catch (err) {
  validation = `${err instanceof CommandError}: ${err.message}`;
}
await queue.close();
console.log(JSON.stringify({ runtime: process.release.name, version: process.version, waited, completed: results.size, sum: [...results.values()].reduce((a, b) => a + b, 0), failed, maxRunning, counts, validation, eventsTransport: events.transport, eventCompleted: eventCompleted.size }));
