// METRICS' recent figures on a fake clock: completions a second over the last full seconds, the
// mean processing and waiting time of those completions, and totals that count dropped queues.

import { expect, test } from "bun:test";
import { metrics } from "../../src/engine/queries.ts";
import { Harness } from "./engine-harness.ts";

test("jobs_per_second and avg_latency_ms over the last full seconds; totals keep dropped queues", () => {
  const h = new Harness();
  h.t = Math.ceil(h.t / 1000) * 1000 + 10_000;
  for (let s = 0; s < 12; s++) {
    for (let i = 0; i < 5; i++) {
      const id = h.push({ queue: s % 2 === 0 ? "a" : "b" });
      h.advance(10); // waits 10 ms
      const [j] = h.engine.pull(h.job(id).queue.name, 1);
      h.advance(40); // processing 40 ms
      h.engine.complete(j!.id, j!.lockToken, null);
    }
    h.advance(1000 - 5 * 50);
  }
  const m = metrics(h.engine, 0, 100);
  expect(m.jobs_per_second).toBe(5);
  expect(m.avg_latency_ms).toBe(40);
  expect(m.avg_wait_ms).toBe(10);
  expect(m.total_pushed).toBe(60);
  expect(m.total_completed).toBe(60);
  // Retention dropping the records, and with them the queues, does not take the totals back.
  for (const q of [...h.engine.queues.values()]) for (const j of [...q.completed.values()]) h.engine.remove(j);
  expect(h.engine.queues.size).toBe(0);
  expect(metrics(h.engine, 0, 100).total_completed).toBe(60);
});
