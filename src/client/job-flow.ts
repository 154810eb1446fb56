// What a flow parent knows of its children (GETCHILDREN), in BullMQ's shapes: the results of
// the completed ones (getChildrenValues), the failures (getFailedChildrenValues), and the
// processed / unprocessed / failed split (getDependencies, getDependenciesCount). Children are
// keyed as BullMQ keys them with its default prefix, `bull:<queue>:<id>`.
//
// The server keeps a completed child's result and queue on the parent even after the child's
// record is gone (removeOnComplete). A child that failed and whose record is gone (removeOnFail)
// is not seen at all.

import type { Connection } from "./connection.ts";
import { RingqError } from "./errors.ts";
import type { WireJob } from "./job.ts";

export interface ChildrenReply {
  /** The children whose records still exist, each with its `state`. */
  children: WireJob[];
  /** Each completed child's result, in completion order. */
  results: { id: number; queue?: string | null; result: unknown }[];
  completed: number;
  total: number;
}

/** GETCHILDREN of a parent; a reply the server had to cut is an error, not a partial answer. */
export async function readChildren(conn: Connection, parentId: string): Promise<ChildrenReply> {
  const reply = await conn.request("GETCHILDREN", { parent_id: Number(parentId) });
  if (reply.truncated === true) {
    throw new RingqError(`GETCHILDREN: job ${parentId}'s children do not fit one reply (their data is too large to list at once)`, "LIMIT", "GETCHILDREN");
  }
  return {
    children: (reply.children ?? []) as WireJob[],
    results: (reply.results ?? []) as { id: number; queue?: string | null; result: unknown }[],
    completed: reply.completed ?? 0,
    total: reply.total ?? 0,
  };
}

/** BullMQ's key of a job (default prefix). */
export function jobKey(queue: string | undefined, id: number | string): string {
  return `bull:${queue ?? "?"}:${id}`;
}

function queuesById(children: WireJob[]): Map<number, string> {
  return new Map(children.map((c) => [c.id, c.queue]));
}

/** {key: result} of the completed children. */
export function childrenValues(r: ChildrenReply): Record<string, unknown> {
  const queues = queuesById(r.children);
  const out: Record<string, unknown> = {};
  // The result's own queue (kept by the server) first; an older server's results lack it.
  for (const { id, queue, result } of r.results) out[jobKey(queue ?? queues.get(id), id)] = result;
  return out;
}

/** {key: failedReason} of the children that failed for good (records still there). */
export function failedChildrenValues(r: ChildrenReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of r.children) {
    if (c.state === "failed") out[jobKey(c.queue, c.id)] = typeof c.failed_reason === "string" ? c.failed_reason : "";
  }
  return out;
}

export interface Dependencies {
  processed?: Record<string, unknown>;
  unprocessed?: string[];
  failed?: string[];
}

export type DependencyKind = "processed" | "unprocessed" | "failed";
const kinds: readonly DependencyKind[] = ["processed", "unprocessed", "failed"];

/**
 * BullMQ's getDependencies options: which kinds to return (all when none is named). Paging
 * (cursor, count) is not needed: a flow has at most 1,000 jobs and comes in one reply.
 */
export function dependencyKinds(opts: Record<string, unknown> | undefined, method: string): DependencyKind[] {
  if (opts === undefined) return [...kinds];
  const asked: DependencyKind[] = [];
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined || v === false) continue;
    if (k === "ignored") {
      throw new RingqError(`${method}: ignored: the server does not say which child failures were ignored (failed lists every failed child)`, "NOT_SUPPORTED", "GETCHILDREN");
    }
    if (!(kinds as readonly string[]).includes(k)) throw new RingqError(`${method}: unknown option "${k}" (processed, unprocessed, failed)`, "INVALID", "GETCHILDREN");
    if (v !== true && typeof v === "object" && v !== null) {
      for (const p of Object.keys(v)) {
        if (p !== "cursor" && p !== "count") throw new RingqError(`${method}: ${k}.${p}: unknown field (cursor, count)`, "INVALID", "GETCHILDREN");
      }
    }
    asked.push(k as DependencyKind);
  }
  return asked.length === 0 ? [...kinds] : asked;
}

export function dependencies(r: ChildrenReply, asked: DependencyKind[]): Dependencies {
  const out: Dependencies = {};
  if (asked.includes("processed")) out.processed = childrenValues(r);
  if (asked.includes("unprocessed")) {
    out.unprocessed = r.children.filter((c) => c.state !== "completed" && c.state !== "failed").map((c) => jobKey(c.queue, c.id));
  }
  if (asked.includes("failed")) out.failed = r.children.filter((c) => c.state === "failed").map((c) => jobKey(c.queue, c.id));
  return out;
}

export function dependenciesCount(r: ChildrenReply, asked: DependencyKind[]): { processed?: number; unprocessed?: number; failed?: number } {
  const d = dependencies(r, asked);
  const out: { processed?: number; unprocessed?: number; failed?: number } = {};
  if (d.processed !== undefined) out.processed = r.results.length;
  if (d.unprocessed !== undefined) out.unprocessed = d.unprocessed.length;
  if (d.failed !== undefined) out.failed = d.failed.length;
  return out;
}
