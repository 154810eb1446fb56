// Preloaded by `bun test` (bunfig.toml): after the last test, any server a failed test left
// running is killed and named, so a red test never leaves a process behind.

import { afterAll } from "bun:test";
import { killLeftoverServers } from "./server-process.ts";

afterAll(() => {
  const n = killLeftoverServers();
  if (n > 0) console.error(`tests/helpers/cleanup.ts: killed ${n} server process(es) a test left running`);
});
