// The request table of one Connection: a reqId per request sent, the reply it waits for and the
// deadline past which it fails, and the requests parked while the connection is down (bounded,
// each failing after offlineWaitMs). No sockets here (connection.ts): this only matches replies
// to callers and fails the ones that waited too long.

import { offlineRequestsMax } from "./constants.ts";
import { ConnectionError, TimeoutError, errorFromReply } from "./errors.ts";

/** A decoded reply map: `{reqId, ok, ...}`. */
export type Reply = Record<string, any>;

export interface Pending {
  cmd: string;
  resolve: (value: any) => void;
  reject: (err: Error) => void;
  /** Turns the reply into what the caller gets (a Job, a count), so one promise suffices. */
  map: ((reply: Reply) => unknown) | undefined;
  /** Server-side wait the request asked for (PULL/WAITJOB timeout), ms; 0 for plain commands. */
  waitMs: number;
  /** Time after which a missing reply is reported as a TimeoutError. */
  deadline: number;
}

export interface Parked {
  p: Pending;
  fields: Record<string, unknown>;
  since: number;
}

export class RequestTable {
  private readonly pending = new Map<number, Pending>();
  private offline: Parked[] = [];
  private nextReqId = 1;

  constructor(
    private readonly address: string,
    private readonly replyTimeoutMs: number,
    private readonly offlineWaitMs: number,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  get parked(): number {
    return this.offline.length;
  }

  /** Register a request about to be written at `now`; returns its reqId for the frame. */
  add(p: Pending, now: number): number {
    const id = this.nextReqId++;
    p.deadline = now + p.waitMs + this.replyTimeoutMs;
    this.pending.set(id, p);
    return id;
  }

  /** Forget a registered request whose frame could not be written. */
  drop(reqId: number): void {
    this.pending.delete(reqId);
  }

  /** A reply arrived: settle its request. False if none waits for it (it timed out). */
  settle(reqId: number, message: Reply): boolean {
    const id = reqId;
    const p = this.pending.get(id);
    if (p === undefined) return false;
    this.pending.delete(id);
    if (message.ok === false) {
      p.reject(errorFromReply(p.cmd, message));
      return true;
    }
    if (p.map === undefined) {
      p.resolve(message);
      return true;
    }
    let value: unknown;
    try {
      value = p.map(message);
    } catch (err) {
      p.reject(err as Error);
      return true;
    }
    p.resolve(value);
    return true;
  }

  /** Park a request until the connection is up; false when too many wait already. */
  park(p: Pending, fields: Record<string, unknown>, now: number): boolean {
    if (this.offline.length >= offlineRequestsMax) return false;
    this.offline.push({ p, fields, since: now });
    return true;
  }

  /** The parked requests, in the order they were made, no longer parked. */
  takeParked(): Parked[] {
    const parked = this.offline;
    this.offline = [];
    return parked;
  }

  /** Fail every request sent and not answered. */
  failInFlight(make: (p: Pending) => Error): void {
    if (this.pending.size === 0) return;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(make(p));
  }

  /** Fail the requests parked on the server (PULL, WAITJOB): they could hold a close for long. */
  failWaiting(make: (p: Pending) => Error): void {
    for (const [id, p] of this.pending) {
      if (p.waitMs > 0) {
        this.pending.delete(id);
        p.reject(make(p));
      }
    }
  }

  /** Fail requests whose reply is overdue, and parked ones that waited past offlineWaitMs. */
  sweep(now: number): void {
    for (const [id, p] of this.pending) {
      if (p.deadline < now) {
        this.pending.delete(id);
        p.reject(new TimeoutError(`${p.cmd}: no reply from ringq at ${this.address} within ${p.waitMs + this.replyTimeoutMs} ms`, p.cmd));
      }
    }
    if (this.offline.length > 0 && now - this.offline[0]!.since > this.offlineWaitMs) {
      const keep: Parked[] = [];
      for (const parked of this.offline) {
        if (now - parked.since > this.offlineWaitMs) {
          parked.p.reject(new ConnectionError(`${parked.p.cmd}: not connected to ringq at ${this.address} for ${this.offlineWaitMs} ms`, parked.p.cmd));
        } else keep.push(parked);
      }
      this.offline = keep;
    }
  }
}
