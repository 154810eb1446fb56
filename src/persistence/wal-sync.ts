// DURABILITY=sync's fsync, off the loop. SQLite runs with synchronous=NORMAL, which in WAL mode
// syncs at checkpoints but not at each commit; FULL adds exactly one thing, an fsync of the WAL
// file after each commit (SQLite's "PRAGMA synchronous" docs). That fsync is done here instead,
// on Bun's thread pool (fs.fsync), so the loop goes on parsing and running the next turn while
// the disk works; the server holds each turn's replies until the fsync that covers its commit has
// finished (server.ts, `held`). An fsync begun before a commit wrote its frames does not cover
// it: commits that arrive while one runs share the next one (group commit), in order.

import { closeSync, fstatSync, fsync, fsyncSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

export class WalSync {
  private fd = -1;
  private ino = 0;
  private running = false;
  /** Commits waiting for the fsync after the running one. */
  private next: PromiseWithResolvers<void> | null = null;
  private closed = false;

  constructor(private readonly walPath: string) {}

  /** Resolves once an fsync begun after this call has finished; rejects if it failed. */
  sync(): Promise<void> {
    if (this.running) {
      this.next ??= Promise.withResolvers<void>();
      return this.next.promise;
    }
    const p = Promise.withResolvers<void>();
    this.start(p);
    return p.promise;
  }

  /** A clean stop: the last commit's fsync, waited for here. */
  syncNow(): void {
    if (this.open()) fsyncSync(this.fd);
  }

  /** The descriptor closes now, or after the fsync still running. */
  close(): void {
    this.closed = true;
    if (!this.running) this.release();
  }

  private start(p: PromiseWithResolvers<void>): void {
    let ok: boolean;
    try {
      ok = this.open();
    } catch (e) {
      p.reject(this.failure(e));
      return;
    }
    if (!ok) {
      // No WAL yet: nothing was ever committed to it.
      p.resolve();
      return;
    }
    this.running = true;
    fsync(this.fd, (err) => {
      this.running = false;
      if (err !== null) p.reject(this.failure(err));
      else p.resolve();
      const n = this.next;
      this.next = null;
      if (n !== null) this.start(n);
      else if (this.closed) this.release();
    });
  }

  /** The WAL file's descriptor, (re)opened when the file at the path is not the one held, with
   *  its directory entry made durable; false when there is no WAL file. */
  private open(): boolean {
    let ino: number;
    try {
      ino = statSync(this.walPath).ino;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
    if (this.fd >= 0 && ino === this.ino) return true;
    this.release();
    this.fd = openSync(this.walPath, "r");
    this.ino = fstatSync(this.fd).ino;
    const dir = openSync(dirname(this.walPath), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    return true;
  }

  private release(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private failure(e: unknown): Error {
    return new Error(`fsync of ${this.walPath} failed: ${(e as Error).message}. ringq stops so that nothing unsaved is acknowledged; fix the disk and restart (what was acknowledged is intact).`);
  }
}
