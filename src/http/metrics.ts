// GET /metrics: Prometheus text for the whole server. Per-queue gauges and counters come from
// what the engine keeps anyway (structure sizes, QueueCounters); the timing histograms from
// timings.ts; process, I/O backend, HTTP, event stream and webhook figures from their owners.
// Bounded: at most metricsQueuesMax queues get their own series, the rest are summed under
// queue="_other". One scrape is O(queues), never O(jobs).

import { readdirSync, readFileSync } from "node:fs";
import { metricsQueuesMax } from "../constants.ts";
import type { QueueState } from "../engine/model.ts";
import { Exposition } from "./exposition.ts";
import type { HttpHost } from "./host.ts";
import { selectQueues } from "./snapshot.ts";
import { Histogram, otherQueues, type JobTimings } from "./timings.ts";

/** HTTP requests by route pattern, method and status, and their durations. */
export class HttpCounters {
  readonly requests = new Map<string, { route: string; method: string; status: string; n: number }>();
  readonly duration = new Histogram();

  count(route: string, method: string, status: number, ms: number): void {
    const key = `${method} ${route} ${status}`;
    const e = this.requests.get(key);
    if (e !== undefined) e.n++;
    else this.requests.set(key, { route, method, status: String(status), n: 1 });
    this.duration.observe(ms);
  }
}

/** What the other parts of the HTTP face report. */
export interface MetricSources {
  host: HttpHost;
  timings: JobTimings;
  http: HttpCounters;
  streams: () => { sse: number; ws: number; stats: number; sent: number; dropped: number };
  parked: () => number;
  webhooks: (out: Exposition) => void;
}

const states = ["waiting", "active", "delayed", "completed", "failed"] as const;

function counts(q: QueueState): Record<(typeof states)[number], number> {
  return { waiting: q.waitingCount, active: q.active.size, delayed: q.delayedCount, completed: q.completedCount, failed: q.failed.size };
}

export function renderMetrics(src: MetricSources): string {
  const out = new Exposition();
  const { host } = src;
  const engine = host.engine;

  out.gauge("ringq_info", "The server: version, I/O backend, storage and durability (value 1).", 1, {
    version: host.info.version, io_backend: host.info.ioBackend, storage: host.durability === null ? "memory" : "sqlite", durability: host.durability ?? "none",
  });
  out.gauge("ringq_ready", "1 once storage is recovered and the protocol port listens (GET /ready).", host.ready ? 1 : 0);

  // ---- queues ----
  const { shown, rest } = selectQueues(engine, metricsQueuesMax);
  const rows: { name: string; c: Record<string, number>; paused: boolean; t: QueueState["counters"] }[] = shown.map((q) => ({ name: q.name, c: counts(q), paused: q.paused, t: q.counters }));
  if (rest.length > 0) {
    const c: Record<string, number> = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
    const t = { pushed: 0, completed: 0, failed: 0, retried: 0, stalled: 0 };
    let paused = false;
    for (const q of rest) {
      const x = counts(q);
      for (const s of states) c[s]! += x[s];
      for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += q.counters[k];
      paused ||= q.paused;
    }
    rows.push({ name: otherQueues, c, paused, t });
  }
  out.gauge("ringq_queues", "Queues that hold something (jobs, pullers or settings).", engine.queues.size);
  const pa = engine.payloads.stats;
  out.gauge("ringq_payload_bytes", "Bytes of the jobs' payloads (data), each with its 8-byte header.", pa.live);
  out.gauge("ringq_payload_slab_bytes", "Bytes of the slabs holding the payloads (at most 2x the payloads, plus two slabs).", pa.allocated);
  out.counter("ringq_payload_compactions_total", "Slabs whose payloads were moved on so that the slab could be let go.", engine.payloads.compactions);
  out.gauge("ringq_metrics_queues_summed", `Queues beyond the ${metricsQueuesMax} busiest, summed under queue="${otherQueues}".`, rest.length);
  out.declare("ringq_queue_jobs", "gauge", "Jobs of a queue by state (failed: the dead-letter queue; completed: records kept).");
  for (const r of rows) for (const s of states) out.gauge("ringq_queue_jobs", "", r.c[s]!, { queue: r.name, state: s });
  out.declare("ringq_queue_paused", "gauge", "1 while the queue is paused.");
  for (const r of rows) out.gauge("ringq_queue_paused", "", r.paused ? 1 : 0, { queue: r.name });
  const counterHelp: Record<string, string> = {
    pushed: "Jobs pushed to the queue.",
    completed: "Jobs completed (acknowledged).",
    failed: "Jobs that failed for good (moved to the dead-letter queue).",
    retried: "Failed attempts that were retried.",
    stalled: "Expired leases that put a job back to waiting.",
  };
  for (const k of ["pushed", "completed", "failed", "retried", "stalled"] as const) {
    const name = `ringq_jobs_${k}_total`;
    out.declare(name, "counter", counterHelp[k]!);
    for (const r of rows) out.counter(name, "", r.t[k], { queue: r.name });
  }
  const histograms: [string, string, Map<string, Histogram>][] = [
    ["ringq_job_wait_seconds", "Time from ready (pushed, or delay over) to first delivery.", src.timings.wait.byName],
    ["ringq_job_processing_seconds", "Time from delivery to completion of completed jobs.", src.timings.processing.byName],
  ];
  for (const [name, help, byName] of histograms) {
    out.declare(name, "histogram", help);
    for (const [queue, h] of byName) out.histogram(name, "", h, { queue });
  }

  // ---- process ----
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  out.counter("process_cpu_seconds_total", "User and system CPU time of the process.", (cpu.user + cpu.system) / 1e6);
  out.gauge("process_resident_memory_bytes", "Resident memory of the process.", mem.rss);
  out.gauge("process_heap_bytes", "JavaScript heap in use.", mem.heapUsed);
  out.gauge("process_start_time_seconds", "When the server started, seconds since the epoch.", host.startedAt / 1000);
  const fds = openFds();
  if (fds !== null) out.gauge("process_open_fds", "Open file descriptors (sockets included).", fds);
  const maxFds = maxOpenFds();
  if (maxFds !== null) out.gauge("process_max_fds", "The file descriptor limit.", maxFds);
  const io = procIo();
  if (io !== null) {
    out.counter("ringq_process_read_syscalls_total", "read-like system calls of the process (/proc/self/io syscr; io_uring work is not in it).", io.syscr);
    out.counter("ringq_process_write_syscalls_total", "write-like system calls of the process (/proc/self/io syscw).", io.syscw);
  }
  out.counter("ringq_internal_errors_total", "Requests answered INTERNAL (each logged with its stack).", host.info.stats.internalErrors);

  // ---- I/O backend ----
  const st = host.ioStats();
  if (st !== null) {
    out.gauge("ringq_io_connections", "Open protocol (TCP) connections.", st.connectionsOpen);
    out.counter("ringq_io_connections_accepted_total", "Protocol connections accepted.", st.connectionsAccepted);
    out.counter("ringq_io_received_bytes_total", "Bytes received on the protocol port.", st.bytesIn);
    out.counter("ringq_io_sent_bytes_total", "Bytes sent on the protocol port.", st.bytesOut);
    out.counter("ringq_io_loop_turns_total", "Turns of the I/O loop (each: replies flushed, journal committed, engine ticked).", st.turns);
  }
  const ring = host.ringCounters();
  if (ring !== null) {
    out.counter("ringq_io_uring_enters_total", "io_uring_enter system calls (one per loop iteration, plus one per full command buffer).", ring.enters);
    out.counter("ringq_io_uring_sqes_total", "Submission queue entries submitted.", ring.sqes);
    out.counter("ringq_io_uring_cqes_total", "Completions reaped.", ring.cqes);
    out.counter("ringq_io_uring_runs_total", "Runs of the shim (submit and wait, one FFI call each).", ring.runs);
    out.counter("ringq_io_uring_gathered_sends_total", "Sends that gathered a connection's output from send-arena chunks apart from each other (SENDMSG).", ring.gatheredSends);
  }

  // ---- HTTP ----
  out.declare("ringq_http_requests_total", "counter", "HTTP requests by route pattern, method and status.");
  for (const e of src.http.requests.values()) out.counter("ringq_http_requests_total", "", e.n, { method: e.method, route: e.route, status: e.status });
  out.histogram("ringq_http_request_duration_seconds", "Time to the response head (an event stream: to its start).", src.http.duration);
  out.gauge("ringq_http_parked_requests", "HTTP requests waiting (PULL, WAITJOB, bulk operations).", src.parked());
  const s = src.streams();
  out.declare("ringq_http_event_streams", "gauge", "Open live streams by kind.");
  out.gauge("ringq_http_event_streams", "", s.sse, { kind: "sse" });
  out.gauge("ringq_http_event_streams", "", s.ws, { kind: "websocket" });
  out.gauge("ringq_http_event_streams", "", s.stats, { kind: "stats" });
  out.counter("ringq_http_events_sent_total", "Job events sent on SSE and WebSocket streams.", s.sent);
  out.counter("ringq_http_events_dropped_total", "Job events and snapshots dropped because a client did not keep up.", s.dropped);

  src.webhooks(out);
  return out.text();
}

function openFds(): number | null {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}

function maxOpenFds(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function procIo(): { syscr: number; syscw: number } | null {
  try {
    const t = readFileSync("/proc/self/io", "utf8");
    const r = /^syscr:\s+(\d+)/m.exec(t);
    const w = /^syscw:\s+(\d+)/m.exec(t);
    return r && w ? { syscr: Number(r[1]), syscw: Number(w[1]) } : null;
  } catch {
    return null;
  }
}
