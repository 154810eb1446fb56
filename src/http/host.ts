// What the HTTP face needs of the server that runs it (server/server.ts implements it): the
// engine and the event hub it shares with TCP, the loop (a turn after HTTP work: commit, flush
// TCP replies), the commit a reply must wait for under DURABILITY=sync, and the server's facts
// for /metrics and the dashboard. The HTTP face never reaches into the server otherwise.

import type { Engine } from "../engine/engine.ts";
import type { ServerInfo } from "../dispatch/context.ts";
import type { IoStats } from "../io/types.ts";
import type { EventHub } from "../server/events.ts";

/** Counters of the io_uring shim (syscalls and queue entries); absent on Bun sockets. */
export interface RingCounters {
  enters: number;
  sqes: number;
  cqes: number;
  runs: number;
  /** Sends that gathered a connection's output from chunks apart in the send arena. */
  gatheredSends: number;
}

export interface HttpHost {
  readonly engine: Engine;
  readonly events: EventHub;
  readonly info: ServerInfo;
  /** Asks the loop for a turn soon: HTTP work happens outside the backend's events, and its
   *  journal entries and the TCP replies it caused go out in a turn. */
  wake(): void;
  /**
   * Resolves once what the journal holds now is committed, when replies must wait for that
   * (DURABILITY=sync, as a TCP turn's replies do); null when they need not wait.
   */
  committed(): Promise<void> | null;
  /** A programmer error while serving `what`: logged with its stack, counted in STATS. */
  internalError(what: string, e: unknown): void;
  /** Storage recovered and the protocol port listening (GET /ready). */
  readonly ready: boolean;
  /** The I/O backend's counters, once it runs. */
  ioStats(): IoStats | null;
  ringCounters(): RingCounters | null;
  /** "storage: ..." of the start-up line, and the durability mode (null: memory only). */
  readonly storage: string;
  readonly durability: string | null;
  /** ms since the epoch when the server started. */
  readonly startedAt: number;
}
