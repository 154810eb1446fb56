// What the server looks like now, for the dashboard (GET /server, the stats stream) and for
// /metrics: the queues worth showing (all of them up to a bound, else the busiest), their counts
// and event counters, and the server's facts. Read-only and O(queues): nothing walks jobs.

import type { QueueState } from "../engine/model.ts";
import type { Engine } from "../engine/engine.ts";
import * as queries from "../engine/queries.ts";
import type { HttpHost } from "./host.ts";

const load = (q: QueueState): number => q.waitingCount + q.active.size + q.delayedCount + q.failed.size;

/** Up to `max` queues by name; when there are more, the `max` busiest (jobs not yet completed),
 *  and the rest apart so a caller can sum them. */
export function selectQueues(engine: Engine, max: number): { shown: QueueState[]; rest: QueueState[] } {
  const all = [...engine.queues.values()];
  if (all.length > max) all.sort((a, b) => load(b) - load(a));
  const shown = all.slice(0, max).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { shown, rest: all.length > max ? all.slice(max) : [] };
}

export function queueRow(q: QueueState) {
  const c = q.counters;
  return {
    name: q.name,
    ...queries.jobCounts(q),
    paused: q.paused,
    totals: { pushed: c.pushed, completed: c.completed, failed: c.failed, retried: c.retried, stalled: c.stalled },
  };
}

/** The server's facts (GET /server, the dashboard's header). */
export function serverFacts(host: HttpHost) {
  const io = host.ioStats();
  return {
    server: "ringq",
    version: host.info.version,
    io_backend: host.info.ioBackend,
    io: io === null ? null : { connections_open: io.connectionsOpen, connections_accepted: io.connectionsAccepted, bytes_in: io.bytesIn, bytes_out: io.bytesOut, turns: io.turns },
    storage: host.storage,
    durability: host.durability,
    auth: host.info.authTokens !== null,
    started_at: host.startedAt,
    uptime_ms: Date.now() - host.startedAt,
    ready: host.ready,
  };
}

/** One snapshot of the stats stream. */
export function statsSnapshot(host: HttpHost, queuesMax: number) {
  const engine = host.engine;
  const { shown } = selectQueues(engine, queuesMax);
  return {
    type: "stats",
    ts: engine.now(),
    uptime_ms: Date.now() - host.startedAt,
    totals: queries.stats(engine),
    queues_total: engine.queues.size,
    queues: shown.map(queueRow),
    truncated: engine.queues.size > shown.length,
  };
}
