// The registry is the one description of every command: over a real socket, in both framings,
// a session runs every registered command and each success reply must match the reply schema
// the registry declares for it; HELLO lists exactly the registry's commands; docs/commands.md is
// what the registry renders.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { registry } from "../../src/dispatch/commands.ts";
import { renderCommandDocs } from "../../src/dispatch/docs.ts";
import { commandExamples } from "../../src/dispatch/examples.ts";
import { validateRequest } from "../../src/dispatch/registry.ts";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import { checkReply, everyCommandSession } from "../helpers/every-command.ts";
import { RawClient } from "../helpers/raw-client.ts";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", log: () => {} });
});
afterAll(async () => {
  await server.stop();
});

for (const mode of ["binary", "text"] as const) {
  describe(`every command's reply matches its declared shape [${mode}]`, () => {
    test("a session that runs each registered command", async () => {
      const c = await RawClient.connect(server.port);
      const seen = new Set<string>();
      const q = `reg-${mode}`;
      const run = async (req: Record<string, unknown>): Promise<any> => {
        const reply = mode === "binary" ? await c.call(req) : await c.ask(req);
        const name = req.cmd as string;
        seen.add(name);
        checkReply(name, reply);
        return reply;
      };
      await everyCommandSession(run, q, { subscribe: true, client: `registry-test-${mode}`, counted: true });
      expect([...seen].sort()).toEqual([...registry.names].sort());
      c.close();
    });
  });
}

test("every command has an example in docs, and each example is a valid request", () => {
  expect(Object.keys(commandExamples).sort()).toEqual([...registry.names].sort());
  for (const c of registry.all) {
    const body = { cmd: c.name, ...commandExamples[c.name] };
    expect({ cmd: c.name, invalid: validateRequest(c, body) }).toEqual({ cmd: c.name, invalid: null });
  }
});

test("README names every command (its command list is kept whole)", () => {
  const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8");
  expect(registry.names.filter((n) => !new RegExp(`\\b${n}\\b`).test(readme))).toEqual([]);
});

test("docs/commands.md is what the registry renders (run npx bun scripts/gen-docs.ts after changing a command)", () => {
  const file = readFileSync(join(import.meta.dir, "..", "..", "docs", "commands.md"), "utf8");
  expect(file).toBe(renderCommandDocs(registry));
});
