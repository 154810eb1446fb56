// Container health check: `bun src/health-check.ts` sends one text-mode PING to the local server
// (TCP_PORT, default 6789) and exits 0 on {"pong":true} within 2 s, else prints why and exits 1.
// It proves only that the protocol port answers, not that storage or queues are healthy; it
// imports nothing from the rest of src/ so it keeps working whatever moves there, and it is
// to be replaced by the HTTP probe once that exists. PING needs no AUTH even with AUTH_TOKENS.

import { connect } from "node:net";

/** Whole check, connect to reply: a server that cannot answer a PING in this long is unhealthy. */
const timeoutMs = 2000;
/** A PING reply is a few dozen bytes; more than this without a newline is not a ringq reply. */
const maxReplyBytes = 64 * 1024;

const port = Number(process.env.TCP_PORT ?? 6789);
// The server listens on HOST; a wildcard (the image's 0.0.0.0) is reached through loopback.
const bound = process.env.HOST ?? "127.0.0.1";
const host = bound === "" || bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound;

function done(code: 0 | 1, why: string): never {
  (code === 0 ? console.log : console.error)(`health-check: ${why}`);
  process.exit(code);
}

if (!Number.isInteger(port) || port < 1 || port > 65535) done(1, `TCP_PORT=${process.env.TCP_PORT} is not a port (1-65535): fix TCP_PORT`);

const timer = setTimeout(() => done(1, `no PING reply from ${host}:${port} within ${timeoutMs} ms (server overloaded or hung?)`), timeoutMs);
let buf = "";
const sock = connect({ host, port }, () => sock.write('{"cmd":"PING"}\n'));
sock.setEncoding("utf8");
sock.on("data", (chunk: string) => {
  buf += chunk;
  const nl = buf.indexOf("\n");
  if (nl < 0) {
    if (buf.length > maxReplyBytes) done(1, `${maxReplyBytes} bytes from ${host}:${port} without a newline: not a ringq server?`);
    return;
  }
  const line = buf.slice(0, nl).trim();
  let reply: unknown;
  try {
    reply = JSON.parse(line);
  } catch {
    done(1, `reply from ${host}:${port} is not JSON: ${line.slice(0, 200)}`);
  }
  clearTimeout(timer);
  sock.destroy();
  if ((reply as { pong?: unknown } | null)?.pong === true) done(0, `PING answered by ${host}:${port}`);
  done(1, `PING to ${host}:${port} answered without "pong":true: ${line.slice(0, 200)}`);
});
sock.on("error", (e: Error) => done(1, `cannot reach ${host}:${port}: ${e.message} (is the server running, on this TCP_PORT?)`));
sock.on("close", () => done(1, `${host}:${port} closed the connection before answering PING`));
