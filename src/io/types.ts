// The contract between the network layer and the rest of ringq: bytes in, bytes out, one loop.
// Two implementations (bun.ts: Bun.listen; uring.ts: io_uring via bun:ffi) and one conformance
// suite (tests/conformance) that runs against both. Nothing here knows about frames or commands.

/** Small integer naming an open connection; may be reused after onClose. */
export type ConnId = number;

/** What the server gives a backend. All calls happen on the main thread, never re-entrantly. */
export interface IoHandler {
  /** A connection was accepted. */
  onOpen(conn: ConnId): void;
  /** Bytes arrived. `buf` is BORROWED: valid only during this call; copy what you keep. */
  onData(conn: ConnId, buf: Uint8Array, offset: number, length: number): void;
  /** The connection is gone (peer closed, error, or our close/abort). conn may be reused after. */
  onClose(conn: ConnId): void;
  /** A connection's queued output fell below the low-water mark after having been above it. */
  onWritable(conn: ConnId): void;
  /**
   * End of a loop turn: called once after each batch of events, and when the delay it last
   * returned has passed. The server flushes replies (write), commits the journal and ticks the
   * engine here. Returns the milliseconds until it wants the next turn (Infinity: only on events).
   */
  onTurn(nowMs: number): number;
}

export interface IoStats {
  backend: IoBackendName;
  connectionsOpen: number;
  connectionsAccepted: number;
  bytesIn: number;
  bytesOut: number;
  turns: number;
}

export type IoBackendName = "uring" | "bun";

/** PEM files for TLS on the protocol port; only the Bun backend speaks TLS. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** A listen that failed, said the same way by every backend: the address, the cause (an errno
 *  name such as EADDRINUSE, or the runtime's own text), and what to do about a port in use. */
export function listenError(host: string, port: number, cause: string): Error {
  return new Error(`cannot listen on ${host}:${port}: ${cause}` +
    (cause === "EADDRINUSE" ? " (another process holds the port; set TCP_PORT)" : ""));
}

export interface ListenOptions {
  /** Connections served at once; one more is accepted and closed at once. */
  connectionsMax?: number;
  /** Where operating problems go (accept paused at the descriptor limit); default stderr. */
  log?: (line: string) => void;
}

export interface IoBackend {
  readonly name: IoBackendName;
  /** One phrase for the start-up log and HELLO, e.g. "io_uring (SINGLE_ISSUER|DEFER_TASKRUN)". */
  readonly description: string;
  /** Start listening and running the loop. Resolves the bound port (0 asks for a free one). */
  listen(host: string, port: number, handler: IoHandler, opts?: ListenOptions): Promise<number>;
  /**
   * Queue bytes for a connection; they are copied before this returns. Returns the bytes now
   * queued for that connection and not yet sent (the server applies back-pressure from it).
   * Writing to a closed connection is a no-op that returns 0.
   */
  write(conn: ConnId, bytes: Uint8Array, offset: number, length: number): number;
  /** Bytes queued for conn and not yet handed to the kernel. */
  pendingBytes(conn: ConnId): number;
  /** Flush what is queued for conn, then close it. onClose follows. */
  close(conn: ConnId): void;
  /** Close at once, dropping queued output. onClose follows. */
  abort(conn: ConnId): void;
  /** Ask for a turn soon (the server has work outside an event, or an earlier deadline). */
  wake(): void;
  /** Stop accepting, flush queued output (bounded by shutdownFlushMs), close all, end the loop. */
  stop(): Promise<void>;
  stats(): IoStats;
}
