// Every command ringq speaks, in one registry (see registry.ts). Adding a command is adding its
// definition to one of the lists below.

import { consumeCommands } from "./commands/consume.ts";
import { cronCommands } from "./commands/cron.ts";
import { flowCommands } from "./commands/flows.ts";
import { jobCommands } from "./commands/jobs.ts";
import { kvCommands } from "./commands/kv.ts";
import { limitCommands } from "./commands/limits.ts";
import { produceCommands } from "./commands/produce.ts";
import { queueCommands } from "./commands/queues.ts";
import { sessionCommands } from "./commands/session.ts";
import { Registry } from "./registry.ts";

export const registry = new Registry([
  ...produceCommands,
  ...consumeCommands,
  ...jobCommands,
  ...flowCommands,
  ...queueCommands,
  ...limitCommands,
  ...kvCommands,
  ...cronCommands,
  ...sessionCommands,
]);
