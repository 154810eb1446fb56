// What a Connection is configured with, checked once: ringq's own options, and the ioredis
// options a BullMQ user may bring along, refused by name with what to use instead (refusals.ts).

import type * as tls from "node:tls";
import { connectTimeoutMsDefault, hostDefault, offlineWaitMsDefault, portDefault, replyTimeoutMsDefault } from "./constants.ts";
import { RingqError } from "./errors.ts";
import { checkOptions, connectionOptionRefusals } from "./refusals.ts";

export interface ConnectionOptions {
  host?: string;
  port?: number;
  /** Sent as AUTH on every (re)connect when the server has AUTH_TOKENS. */
  token?: string;
  /** TCP connect plus AUTH, ms. */
  connectTimeoutMs?: number;
  /** How long a request waits for a lost connection to come back, ms (see constants.ts). */
  offlineWaitMs?: number;
  /** Time past a request's own server-side wait after which a missing reply is an error, ms. */
  replyTimeoutMs?: number;
  /** TLS to a server with TLS_CERT/TLS_KEY: true (the system's CAs), or node:tls options
   *  (`ca` for a private CA, `servername`, ...). */
  tls?: boolean | tls.ConnectionOptions;
  /** ioredis' option as BullMQ asks for it: only `null` (wait for the connection without a
   *  limit, i.e. offlineWaitMs: Infinity) is taken. */
  maxRetriesPerRequest?: null;
}

const connectionOptionNames = ["host", "port", "token", "connectTimeoutMs", "offlineWaitMs", "replyTimeoutMs", "tls", "maxRetriesPerRequest"];

export interface ParsedConnectionOptions {
  host: string;
  port: number;
  token: string | undefined;
  connectTimeoutMs: number;
  offlineWaitMs: number;
  replyTimeoutMs: number;
  tls: tls.ConnectionOptions | null;
}

export function parseConnectionOptions(options: ConnectionOptions): ParsedConnectionOptions {
  if (options === null || typeof options !== "object") {
    throw new RingqError("connection: expected an options object or a Connection", "INVALID");
  }
  const proto = Object.getPrototypeOf(options);
  if (proto !== Object.prototype && proto !== null) {
    // An ioredis client (BullMQ takes one) or another class instance.
    throw new RingqError(`connection: expected {host, port, ...} or a ringq Connection, not a ${proto?.constructor?.name ?? "class instance"}`, "INVALID");
  }
  checkOptions("connection", options, connectionOptionNames, connectionOptionRefusals);
  if (options.maxRetriesPerRequest !== undefined && options.maxRetriesPerRequest !== null) {
    throw new RingqError("connection: maxRetriesPerRequest: only null is taken (requests are not retried; offlineWaitMs bounds the wait for a connection)", "INVALID");
  }
  return {
    host: options.host ?? hostDefault,
    port: options.port ?? portDefault,
    token: options.token,
    connectTimeoutMs: options.connectTimeoutMs ?? connectTimeoutMsDefault,
    offlineWaitMs: options.maxRetriesPerRequest === null ? Infinity : (options.offlineWaitMs ?? offlineWaitMsDefault),
    replyTimeoutMs: options.replyTimeoutMs ?? replyTimeoutMsDefault,
    tls: options.tls === true ? {} : options.tls === false || options.tls === undefined ? null : options.tls,
  };
}
