// Commands about the connection itself: AUTH, PING, HELLO (what this server is and speaks) and
// SUBSCRIBE/UNSUBSCRIBE (job events pushed to this connection, a ringq extension).

import { Type } from "@sinclair/typebox";
import { authFailuresMax, clientNameCharsMax, keyCharsMax } from "../../constants.ts";
import { eventNames } from "../../engine/events.ts";
import { ClientError } from "../../errors.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Ok, Queue } from "../fields.ts";
import { defineCommand } from "../registry.ts";

export const PROTOCOL_VERSION = 1;

const SubscribeQueue = Type.Union([Queue, Type.Literal("*")], { description: 'a queue, or "*" for every queue' });

export const sessionCommands = [
  defineCommand({
    name: "AUTH",
    summary: "Authenticates the connection with one of AUTH_TOKENS. A failure ends what the connection set up before; a few failures close it.",
    schema: Type.Object({ token: Type.String({ maxLength: keyCharsMax }) }),
    open: true,
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      const tokens = ctx.server.authTokens;
      if (tokens !== null && !tokens.has(r.token)) {
        // A failed AUTH ends what an earlier good one allowed: deliveries and events stop.
        if (ctx.session.authed) ctx.revoke();
        ctx.session.authed = false;
        if (++ctx.session.authFailures >= authFailuresMax) {
          ctx.closeAfterReply();
          throw new ClientError("AUTH_FAILED", `Invalid token; ${authFailuresMax} failed attempts, closing the connection`);
        }
        throw new ClientError("AUTH_FAILED", "Invalid token");
      }
      ctx.session.authed = true;
      return { ok: true };
    },
  }),

  defineCommand({
    name: "PING",
    summary: "Answers pong.",
    schema: Type.Object({}),
    open: true,
    reply: Ok({ pong: Type.Literal(true) }),
    handler(): HandlerResult {
      return { ok: true, pong: true };
    },
  }),

  defineCommand({
    name: "HELLO",
    summary: "What this server is: name, version, protocol version, capabilities, commands and I/O backend.",
    schema: Type.Object({
      protocol_version: Type.Optional(Type.Integer({ description: "the highest version the client speaks; the reply gives the one both speak" })),
      client: Type.Optional(Type.String({ minLength: 1, maxLength: clientNameCharsMax, description: "the client's name and version (STATS counts connections by it; logs name it)" })),
    }),
    open: true,
    reply: Ok({
      server: Type.Literal("ringq"), version: Type.String(), protocol_version: Type.Integer(),
      capabilities: Type.Array(Type.String()), commands: Type.Array(Type.String()), io_backend: Type.String(),
    }),
    handler(ctx: Ctx, r): HandlerResult {
      if (r.protocol_version !== undefined && r.protocol_version < 1) {
        throw new ClientError("INVALID", `Invalid HELLO request: field 'protocol_version': ${r.protocol_version} is not a version (this server speaks 1 to ${PROTOCOL_VERSION})`);
      }
      if (r.client !== undefined) ctx.session.client = r.client;
      return {
        ok: true,
        server: "ringq",
        version: ctx.server.version,
        protocol_version: Math.min(r.protocol_version ?? PROTOCOL_VERSION, PROTOCOL_VERSION),
        capabilities: ["pipelining", "out_of_order_replies", "lock_tokens", "msgpack", "json", "events"],
        commands: ctx.server.commands,
        io_backend: ctx.server.ioBackend,
      };
    },
  }),

  defineCommand({
    name: "SUBSCRIBE",
    summary: "EXT: pushes the job events of a queue (or every queue) to this connection.",
    schema: Type.Object({
      queue: SubscribeQueue,
      events: Type.Optional(Type.Array(Type.Union(eventNames.map((e) => Type.Literal(e))), { maxItems: eventNames.length })),
    }),
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.subscribe(r.queue, r.events ?? null);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "UNSUBSCRIBE",
    summary: "EXT: stops the events of one queue, or all of them.",
    schema: Type.Object({ queue: Type.Optional(SubscribeQueue) }),
    reply: Ok({ count: Type.Integer({ minimum: 0 }) }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, count: ctx.unsubscribe(r.queue ?? null) };
    },
  }),
];
