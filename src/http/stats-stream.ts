// GET /stats/stream: a snapshot of every shown queue's counts and counters each second, as
// Server-Sent Events, for the dashboard's live counts and throughput charts (rates are the
// differences of the counters). One timer while someone listens, none otherwise; one snapshot
// encoded per tick for all listeners; a listener that does not read misses snapshots.

import { statsStreamIntervalMs, statsStreamQueuesMax } from "../constants.ts";
import type { HttpHost } from "./host.ts";

import { statsSnapshot } from "./snapshot.ts";
import { SseChannel } from "./sse.ts";

export class StatsStream {
  private readonly channels = new Set<SseChannel>();
  private timer: ReturnType<typeof setInterval> | null = null;
  dropped = 0;

  constructor(private readonly host: HttpHost) {}

  get listeners(): number {
    return this.channels.size;
  }

  open(headers: Record<string, string>): Response {
    const ch: SseChannel = new SseChannel(() => this.closed(ch), headers, `retry: 2000\n: ringq stats snapshots every ${statsStreamIntervalMs} ms\n\n`);
    this.channels.add(ch);
    const first = this.encode();
    if (first !== null) ch.send(first);
    this.timer ??= setInterval(() => this.tick(), statsStreamIntervalMs);
    return ch.response;
  }

  private encode(): string | null {
    try {
      return JSON.stringify(statsSnapshot(this.host, statsStreamQueuesMax));
    } catch (e) {
      this.host.internalError("a stats snapshot", e);
      return null;
    }
  }

  private tick(): void {
    const json = this.encode();
    if (json === null) return;
    for (const ch of this.channels) if (!ch.send(json)) this.dropped++;
  }

  private closed(ch: SseChannel): void {
    this.channels.delete(ch);
    if (this.channels.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  closeAll(): void {
    for (const ch of [...this.channels]) ch.close();
  }
}
