// Wires the layers: I/O backend -> connections (framing, dispatch) -> engine, and runs the
// turn: tick the engine, commit the journal, flush replies, return the next deadline.
// Start-up and shutdown live here; main.ts only reads the config and calls startServer.

import { outputBytesHighWater, shutdownFlushMs } from "../constants.ts";
import { EventHub } from "./events.ts";
import { defaults, type Config } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { connectionBound } from "../io/fd-limit.ts";
import { selectBackend } from "../io/select.ts";
import type { ConnId, IoBackend, IoHandler } from "../io/types.ts";
import { registry } from "../dispatch/commands.ts";
import type { ServerInfo } from "../dispatch/context.ts";
import { memoryStore, type Store } from "../persistence/store.ts";
import { Connection, type ConnectionOwner } from "./connection.ts";
import { VERSION } from "./version.ts";
import type { HttpFace } from "../http/server.ts";
import type { HttpHost, RingCounters } from "../http/host.ts";

export interface ServerOptions extends Partial<Config> {
  /** Start-up and error log; defaults to stderr. */
  log?: (line: string) => void;
  store?: Store;
  now?: () => number;
  /** A commit failed: the server must stop before it acknowledges unsaved work. Default: log, exit 1. */
  onFatal?: (e: Error) => void;
  /**
   * HTTP on a port the kernel picks (tests; in the configuration HTTP_PORT=0 means off). An
   * embedded server (this function called without `httpPort`) runs without HTTP unless asked:
   * main.ts passes the configured port, 6790 by default.
   */
  httpAnyPort?: boolean;
}

/** A sync turn's replies, held until that turn's commit has finished. */
interface HeldTurn {
  committed: boolean;
  conns: Connection[];
  bytes: Uint8Array[];
  /** HTTP replies of the turn (http/host.ts committed()). */
  waiters: (() => void)[];
}

export interface RunningServer {
  readonly port: number;
  readonly engine: Engine;
  readonly backend: IoBackend;
  /** The start-up line that was logged. */
  readonly startupLine: string;
  /** The HTTP port, or null when HTTP is off. */
  readonly httpPort: number | null;
  stop(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const cfg: Config = { ...defaults, ...stripUndefined(opts), httpPort: opts.httpPort ?? 0 };
  const log = opts.log ?? ((line: string) => console.error(line));
  const now = opts.now ?? Date.now;
  const startedAt = Date.now();
  const store = opts.store ?? (await openStore(cfg));
  const engine = new Engine({
    now,
    journal: store.journal,
    keepFinished: cfg.keepCompleted,
    keepFinishedAgeMs: cfg.keepCompletedAgeMs,
  });
  const fatal = opts.onFatal ?? ((e: Error) => {
    log(`ringq: ${e.message}`);
    process.exit(1);
  });
  const info: ServerInfo = {
    version: VERSION,
    ioBackend: "starting",
    authTokens: cfg.authTokens.length > 0 ? new Set(cfg.authTokens) : null,
    commands: registry.names,
    stats: { internalErrors: 0 },
    clients() {
      const out: Record<string, number> = {};
      for (const c of conns) if (c !== undefined && c.session.client !== null) out[c.session.client] = (out[c.session.client] ?? 0) + 1;
      return out;
    },
  };
  const events = new EventHub(engine);
  let running = null as IoBackend | null;
  let ready = false;
  /** Resolvers of HTTP replies waiting for the next turn's commit (DURABILITY=sync). */
  let commitWaiters: (() => void)[] = [];

  // The HTTP face starts before recovery, so /health answers and /ready says 503 meanwhile; it
  // also owns the webhook records, which recovery hands back.
  const httpOn = !cfg.noHttp && (cfg.httpPort !== 0 || opts.httpAnyPort === true);
  let http: HttpFace | null = null;
  if (httpOn) {
    const { HttpFace } = await import("../http/server.ts");
    const host: HttpHost = {
      engine,
      events,
      info,
      wake: () => running?.wake(),
      committed() {
        if (!store.holdRepliesUntilCommit) return null;
        running?.wake();
        return new Promise<void>((resolve) => commitWaiters.push(resolve));
      },
      internalError(what, e) {
        info.stats.internalErrors++;
        log(`ringq: INTERNAL error in ${what}: ${(e as Error)?.stack ?? e}. The request got an INTERNAL error reply; please report it.`);
      },
      get ready() {
        return ready;
      },
      ioStats: () => running?.stats() ?? null,
      ringCounters: () => (running as { shimCounters?: () => RingCounters } | null)?.shimCounters?.() ?? null,
      storage: store.description,
      durability: cfg.dataPath === null && opts.store === undefined ? null : cfg.durability,
      startedAt,
    };
    http = new HttpFace(host, { host: cfg.host, port: cfg.httpPort, corsOrigin: cfg.corsOrigin, dashboard: !cfg.noDashboard, webhookAllowPrivate: cfg.webhookAllowPrivate });
    http.start();
  }
  try {
    await store.recover(engine);
  } catch (e) {
    await http?.stop();
    throw e;
  }
  http?.recovered();
  const tls = cfg.tlsCert !== null && cfg.tlsKey !== null ? { cert: cfg.tlsCert, key: cfg.tlsKey } : null;
  let selection;
  try {
    selection = await selectBackend(cfg.io, tls);
  } catch (e) {
    await http?.stop();
    throw e;
  }
  const backend = selection.backend;
  running = backend;
  info.ioBackend = backend.name;

  const conns: (Connection | undefined)[] = [];
  const dirty: Connection[] = [];

  const owner: ConnectionOwner = {
    engine,
    events,
    pendingBytes: (c) => backend.pendingBytes(c.id),
    info,
    markDirty(c) {
      if (!c.dirty) {
        c.dirty = true;
        dirty.push(c);
      }
    },
    onInternalError(c, e) {
      info.stats.internalErrors++;
      const who = c.session.client === null ? "" : ` (client '${c.session.client}')`;
      log(`ringq: INTERNAL error on connection ${c.id}${who}: ${(e as Error)?.stack ?? e}. The request got an INTERNAL error reply; please report it.`);
    },
  };

  /** Connections paused by one turn's replies whose backlog is back under the bound. */
  const toResume: Connection[] = [];

  /** Hands this turn's replies to the backend. */
  function flush(): void {
    for (let i = 0; i < dirty.length; i++) {
      const c = dirty[i]!;
      c.dirty = false;
      if (c.closed) continue;
      if (c.out.pos > 0) {
        c.queued = backend.write(c.id, c.out.buf, 0, c.out.pos);
        c.out.reset();
      } else {
        c.queued = backend.pendingBytes(c.id);
      }
      afterWrite(c);
    }
    dirty.length = 0;
    resumeReaders();
  }

  /** Back-pressure and closing after a connection's output was handed over. */
  function afterWrite(c: Connection): void {
    if (c.closeAfterFlush && c.awaitingCommit === 0) backend.close(c.id);
    else if (c.queued > outputBytesHighWater) c.reader.paused = true; // the backend's onWritable resumes it
    else {
      if (c.reader.paused && c.backlog <= outputBytesHighWater) toResume.push(c);
      if (c.hasBlockedDeliveries) deliveriesToResume.push(c); // next turn: its replies follow its commit
    }
  }

  /** Connections whose parked pulls were passed over for back-pressure and may have drained. */
  const deliveriesToResume: Connection[] = [];

  /** Parse their held input only now, after the flush: with DURABILITY=sync this turn's commit
   *  is already behind us, and the replies of what they run now must wait for the next one. */
  function resumeReaders(): void {
    if (deliveriesToResume.length > 0) backend.wake();
    if (toResume.length === 0) return;
    for (const c of toResume) if (!c.closed) c.reader.resume();
    toResume.length = 0;
    backend.wake();
  }

  // An asynchronous commit in sync mode: the turn's replies are copied out of the connections'
  // writers and held, in turn order, until their commit (and every earlier one) has finished.
  const held: HeldTurn[] = [];

  function hold(commit: Promise<void> | null, waiters: (() => void)[]): void {
    const turn: HeldTurn = { committed: commit === null, conns: [], bytes: [], waiters };
    for (let i = 0; i < dirty.length; i++) {
      const c = dirty[i]!;
      c.dirty = false;
      if (c.closed || c.out.pos === 0) continue;
      turn.conns.push(c);
      turn.bytes.push(c.out.buf.slice(0, c.out.pos));
      c.awaitingCommit += c.out.pos;
      c.out.reset();
    }
    dirty.length = 0;
    held.push(turn);
    if (commit !== null) {
      commit.then(
        () => {
          turn.committed = true;
          release();
        },
        (e) => fatal(e instanceof Error ? e : new Error(String(e))),
      );
    } else release();
  }

  function release(): void {
    while (held.length > 0 && held[0]!.committed) {
      const turn = held.shift()!;
      for (const w of turn.waiters) w();
      for (let i = 0; i < turn.conns.length; i++) {
        const c = turn.conns[i]!;
        const b = turn.bytes[i]!;
        c.awaitingCommit -= b.length;
        if (c.closed) continue;
        c.queued = backend.write(c.id, b, 0, b.length);
        afterWrite(c);
      }
    }
    resumeReaders();
    backend.wake();
  }

  function commit(): Promise<void> | null {
    try {
      const r = store.commit();
      return r instanceof Promise ? r : null;
    } catch (e) {
      fatal(e instanceof Error ? e : new Error(String(e)));
      return null;
    }
  }

  const handler: IoHandler = {
    onOpen(id: ConnId) {
      conns[id] = new Connection(id, owner);
    },
    onData(id, buf, offset, length) {
      const c = conns[id];
      if (c === undefined || c.closed) return;
      if (!c.reader.push(buf, offset, length) && !c.closeAfterFlush) {
        log(`ringq: connection ${id} sent more than it reads while paused for back-pressure; closing it`);
        backend.abort(id);
      }
    },
    onClose(id) {
      const c = conns[id];
      if (c === undefined) return;
      conns[id] = undefined;
      c.dispose();
    },
    onWritable(id) {
      const c = conns[id];
      if (c === undefined) return;
      c.reader.resume();
      c.queued = backend.pendingBytes(id);
      c.resumeDeliveries();
    },
    onTurn(t: number): number {
      if (deliveriesToResume.length > 0) {
        for (const c of deliveriesToResume) c.resumeDeliveries();
        deliveriesToResume.length = 0;
      }
      const next = engine.tick(t);
      if (store.holdRepliesUntilCommit) {
        const waiters = commitWaiters;
        if (waiters.length > 0) commitWaiters = [];
        const pending = commit();
        if (pending === null && held.length === 0) {
          flush();
          for (const w of waiters) w();
        } else hold(pending, waiters);
      } else {
        flush();
        commit()?.catch((e) => fatal(e instanceof Error ? e : new Error(String(e))));
      }
      return next === Infinity ? Infinity : Math.max(0, next - now());
    },
  };

  const bound = connectionBound();
  let port: number;
  try {
    port = await backend.listen(cfg.host, cfg.port, handler, { connectionsMax: bound.max, log });
  } catch (e) {
    await http?.stop();
    throw e;
  }
  ready = true;
  const httpPart = http !== null
    ? `HTTP on ${cfg.host}:${http.port} (REST, events, /metrics, /ready${cfg.noDashboard ? "; dashboard off" : ", dashboard at /"}${cfg.corsOrigin !== null ? `; CORS for ${cfg.corsOrigin}` : ""})`
    : `HTTP off (${cfg.noHttp ? "NO_HTTP" : "HTTP_PORT=0"})`;
  const startupLine =
    `ringq ${VERSION} listening on ${cfg.host}:${port} (${tls === null ? "tcp" : "tcp+tls"}, flashQ protocol); ${selection.logLine}; ${store.description}; ${httpPart}` +
    (info.authTokens ? "; auth: tokens required" : "") +
    (bound.reason !== null ? `; connections: at most ${bound.max} (${bound.reason})` : "");
  log(startupLine);

  let stopped: Promise<void> | null = null;
  return {
    port,
    engine,
    backend,
    startupLine,
    httpPort: http?.port ?? null,
    stop() {
      stopped ??= (async () => {
        // /ready says 503 from now on; HTTP requests in flight are ended before the sockets go.
        ready = false;
        await http?.stop();
        // Replies held for an asynchronous commit go out before the connections close.
        const until = Date.now() + shutdownFlushMs;
        while (held.length > 0 && Date.now() < until) await Bun.sleep(1);
        await backend.stop();
        for (const c of conns) c?.dispose();
        await store.commit();
        await store.close();
      })();
      return stopped;
    },
  };
}

async function openStore(cfg: Config): Promise<Store> {
  if (cfg.dataPath === null) return memoryStore;
  const { openSqliteStore } = await import("../persistence/sqlite-store.ts");
  return openSqliteStore(cfg.dataPath, cfg.durability);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
