// Container health check: `bun src/health-check.ts` asks the local server's readiness probe,
// GET /ready on HTTP_PORT (default 6790): exit 0 on 200 within 2 s (storage recovered, protocol
// port listening), else it prints why and exits 1. With HTTP off (HTTP_PORT=0 or NO_HTTP=1) it
// sends one text-mode PING to TCP_PORT instead, which proves only that the protocol port
// answers. Neither needs a token (/ready and PING are open with AUTH_TOKENS set). It imports
// nothing from the rest of src/ so it keeps working whatever moves there.

import { connect } from "node:net";

/** Whole check: a server that cannot answer in this long is unhealthy. */
const timeoutMs = 2000;
/** A PING reply is a few dozen bytes; more than this without a newline is not a ringq reply. */
const maxReplyBytes = 64 * 1024;

const env = process.env;
// The server listens on HOST; a wildcard (the image's 0.0.0.0) is reached through loopback.
const bound = env.HOST ?? "127.0.0.1";
const host = bound === "" || bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound;
const httpOff = /^(1|true|yes|on)$/i.test((env.NO_HTTP ?? "").trim()) || env.HTTP_PORT?.trim() === "0";

function done(code: 0 | 1, why: string): never {
  (code === 0 ? console.log : console.error)(`health-check: ${why}`);
  process.exit(code);
}

function portOf(name: string, fallback: number): number {
  const p = Number(env[name] ?? fallback);
  if (!Number.isInteger(p) || p < 1 || p > 65535) done(1, `${name}=${env[name]} is not a port (1-65535): fix ${name}`);
  return p;
}

async function ready(): Promise<never> {
  const port = portOf("HTTP_PORT", 6790);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/ready`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.name === "TimeoutError") done(1, `no answer from ${url} within ${timeoutMs} ms (server overloaded or hung?)`);
    done(1, `cannot reach ${url}: ${err.code ?? err.message} (is the server running, with HTTP on this HTTP_PORT?)`);
  }
  const text = (await res.text()).slice(0, 300);
  if (res.status === 200) done(0, `ready: ${url}`);
  done(1, `${url} answered ${res.status}: ${text}`);
}

function ping(): never | void {
  const port = portOf("TCP_PORT", 6789);
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
    if ((reply as { pong?: unknown } | null)?.pong === true) done(0, `PING answered by ${host}:${port} (HTTP is off, so the protocol port was checked)`);
    done(1, `PING to ${host}:${port} answered without "pong":true: ${line.slice(0, 200)}`);
  });
  sock.on("error", (e: Error) => done(1, `cannot reach ${host}:${port}: ${e.message} (is the server running, on this TCP_PORT?)`));
  sock.on("close", () => done(1, `${host}:${port} closed the connection before answering PING`));
}

if (httpOff) ping();
else await ready();
