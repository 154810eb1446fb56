// Wires the layers: I/O backend -> connections (framing, dispatch) -> engine, and runs the
// turn: tick the engine, commit the journal, flush replies, return the next deadline.
// Start-up and shutdown live here; main.ts only reads the config and calls startServer.

import { outputBytesHighWater } from "../constants.ts";
import { EventHub } from "./events.ts";
import { defaults, type Config } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { noJournal, type Journal } from "../engine/journal.ts";
import { selectBackend } from "../io/select.ts";
import type { ConnId, IoBackend, IoHandler } from "../io/types.ts";
import type { ServerInfo } from "../dispatch/context.ts";
import { Connection, type ConnectionOwner } from "./connection.ts";
import { VERSION } from "./version.ts";

/** What persistence adds to a turn; the memory-only store does nothing. */
export interface Store {
  readonly journal: Journal;
  /** One line for the start-up log: storage and durability mode. */
  readonly description: string;
  /** Replays stored state into the engine before the server listens. */
  recover(engine: Engine): void;
  /** Commits this turn's journal entries (group commit). */
  commit(): void;
  /** sync mode: replies of a turn go out only after commit. */
  readonly holdRepliesUntilCommit: boolean;
  close(): void;
}

export const memoryStore: Store = {
  journal: noJournal,
  description: "storage: memory only (no DATA_PATH; jobs do not survive a restart)",
  recover() {},
  commit() {},
  holdRepliesUntilCommit: false,
  close() {},
};

export interface ServerOptions extends Partial<Config> {
  /** Start-up and error log; defaults to stderr. */
  log?: (line: string) => void;
  store?: Store;
  now?: () => number;
}

export interface RunningServer {
  readonly port: number;
  readonly engine: Engine;
  readonly backend: IoBackend;
  /** The start-up line that was logged. */
  readonly startupLine: string;
  stop(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const cfg: Config = { ...defaults, ...stripUndefined(opts) };
  const log = opts.log ?? ((line: string) => console.error(line));
  const now = opts.now ?? Date.now;
  const store = opts.store ?? (await openStore(cfg));
  const engine = new Engine({
    now,
    journal: store.journal,
    keepFinished: cfg.keepCompleted,
    keepFinishedAgeMs: cfg.keepCompletedAgeMs,
  });
  store.recover(engine);
  const selection = await selectBackend(cfg.io);
  const backend = selection.backend;
  const info: ServerInfo = {
    version: VERSION,
    ioBackend: backend.name,
    authTokens: cfg.authTokens.length > 0 ? new Set(cfg.authTokens) : null,
  };

  const conns: (Connection | undefined)[] = [];
  const dirty: Connection[] = [];

  const owner: ConnectionOwner = {
    engine,
    events: new EventHub(engine),
    pendingBytes: (c) => backend.pendingBytes(c.id),
    info,
    markDirty(c) {
      if (!c.dirty) {
        c.dirty = true;
        dirty.push(c);
      }
    },
    onInternalError(c, e) {
      log(`ringq: internal error on connection ${c.id}: ${(e as Error)?.stack ?? e}. Please report it.`);
    },
  };

  /** Connections paused by one turn's replies whose backlog is back under the bound. */
  const toResume: Connection[] = [];

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
      if (c.closeAfterFlush) backend.close(c.id);
      else if (c.queued > outputBytesHighWater) c.reader.paused = true; // the backend's onWritable resumes it
      else if (c.reader.paused && c.backlog <= outputBytesHighWater) toResume.push(c);
    }
    dirty.length = 0;
    // Parse their held input only now, after the flush: with DURABILITY=sync this turn's commit
    // is already behind us, and the replies of what they run now must wait for the next one.
    if (toResume.length > 0) {
      for (const c of toResume) if (!c.closed) c.reader.resume();
      toResume.length = 0;
      backend.wake();
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
      conns[id]?.reader.resume();
    },
    onTurn(t: number): number {
      const next = engine.tick(t);
      if (store.holdRepliesUntilCommit) {
        store.commit();
        flush();
      } else {
        flush();
        store.commit();
      }
      return next === Infinity ? Infinity : Math.max(0, next - now());
    },
  };

  const port = await backend.listen(cfg.host, cfg.port, handler);
  const startupLine =
    `ringq ${VERSION} listening on ${cfg.host}:${port} (tcp, flashQ protocol); ${selection.logLine}; ${store.description}` +
    (info.authTokens ? "; auth: tokens required" : "");
  log(startupLine);

  let stopped: Promise<void> | null = null;
  return {
    port,
    engine,
    backend,
    startupLine,
    stop() {
      stopped ??= (async () => {
        await backend.stop();
        for (const c of conns) c?.dispose();
        store.commit();
        store.close();
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
