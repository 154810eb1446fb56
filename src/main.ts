// Entry point: read config -> select I/O backend -> open storage -> recover -> serve.
// SIGINT/SIGTERM stop gracefully (stop accepting, finish replies, commit, exit 0).
// A start-up failure prints what went wrong and what to do, and exits 1.

import { loadConfig } from "./config.ts";
import { startServer } from "./server/server.ts";

try {
  const cfg = loadConfig(process.env, process.argv.slice(2));
  const server = await startServer(cfg);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`ringq: ${signal} received, shutting down`);
    await server.stop();
    console.error("ringq: stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
} catch (e) {
  const msg = (e as Error).message ?? String(e);
  // The backends name the port themselves where they can (io_uring does); add it once.
  const hint = /EADDRINUSE|in use/i.test(msg) && !/HTTP_PORT|TCP_PORT/.test(msg) ? " (another process holds the port: set TCP_PORT)" : "";
  console.error(`ringq: failed to start: ${msg}${hint}`);
  process.exit(1);
}
