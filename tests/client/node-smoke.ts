// @ts-nocheck: type-checked by node.test.ts against the packed package (this line is left out there), not by the repository's tsconfig, where "ringq" is not installed
// Run by node.test.ts under Node 20 in an empty project with the packed "ringq" installed: push,
// work with a Worker, count, watch with QueueEvents, close. Compiled by tsc first (strict), so
// the package's types must describe what this does. Prints one JSON line.
import { CommandError, type Job, Queue, QueueEvents, RingqError, Worker } from "ringq";

interface Square {
  i: number;
}

const connection = { host: "127.0.0.1", port: Number(process.argv[2]) };
const queue = new Queue<Square, number>("node-smoke", { connection });
const events = new QueueEvents("node-smoke", { connection });
const eventCompleted = new Set<string>();
events.on("completed", ({ jobId }: { jobId: string }) => eventCompleted.add(jobId));
await events.waitUntilReady();
const jobs = await queue.addBulk(Array.from({ length: 50 }, (_, i) => ({ name: "sq", data: { i }, opts: i === 7 ? { attempts: 1 } : undefined })));
let running = 0;
let maxRunning = 0;
const results = new Map<number, number>();
const worker = new Worker<Square, number>(
  "node-smoke",
  async (job: Job<Square, number>) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    if (job.data.i === 7) throw new Error("seven fails");
    return job.data.i * job.data.i;
  },
  { connection, concurrency: 4, drainDelay: 0.2 },
);
worker.on("completed", (job: Job<Square, number>, result: number) => results.set(job.data.i, result));
const failed: string[] = [];
worker.on("failed", (job: Job<Square, number> | undefined, err: Error) => failed.push(`${job?.data.i}: ${err.message}`));
const waited: number = await jobs[3]!.waitUntilFinished();
await new Promise<void>((resolve) => {
  const check = () => (results.size + failed.length >= 50 ? resolve() : setTimeout(check, 10));
  check();
});
await worker.close();
for (let i = 0; i < 200 && eventCompleted.size < 49; i++) await new Promise((r) => setTimeout(r, 10));
await events.close();
const counts = await queue.getJobCounts();
let validation = "";
try {
  await queue.add("bad", { i: -1 }, { delay: "soon" as unknown as number });
} catch (err) {
  validation = `${err instanceof CommandError}: ${(err as Error).message}`;
}
let refused = "";
try {
  await queue.add("bad", { i: -1 }, { repeat: { every: 1000 } } as never);
} catch (err) {
  refused = `${err instanceof RingqError}: ${(err as Error).message}`;
}
await queue.close();
console.log(JSON.stringify({ runtime: process.release.name, version: process.version, waited, completed: results.size, sum: [...results.values()].reduce((a, b) => a + b, 0), failed, maxRunning, counts, validation, refused, eventsTransport: events.transport, eventCompleted: eventCompleted.size }));
