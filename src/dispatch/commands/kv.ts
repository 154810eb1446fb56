// The KV commands, with flashQ's request and reply shapes: KVSET/KVGET/KVDEL/KVEXISTS/KVEXPIRE/
// KVTTL/KVMGET/KVMSET/KVKEYS/KVINCR. Values travel as raw MessagePack (any JSON/MessagePack
// value, returned as sent); ringq persists them with the jobs (flashQ keeps them in memory).

import { Type } from "@sinclair/typebox";
import { durationMsMax, keyCharsMax, kvBatchMax, listLimitMax } from "../../constants.ts";
import { decodeRaw, encodeValue, Raw } from "../../protocol/msgpack.ts";
import type { Ctx, HandlerResult } from "../context.ts";
import { Ok, Payload, Truncated } from "../fields.ts";
import { defineCommand } from "../registry.ts";
import { payload } from "./produce.ts";

const KvKey = Type.String({ minLength: 1, maxLength: keyCharsMax, description: "any string of 1-1024 characters" });
const Ttl = Type.Integer({ minimum: 1, maximum: durationMsMax, description: "ms until the key expires" });
const byKey = Type.Object({ key: KvKey });
const Exists = Ok({ exists: Type.Boolean() });
const valueOf = (b: Uint8Array | null): Raw | null => (b === null ? null : new Raw(b));

export const kvCommands = [
  defineCommand({
    name: "KVSET",
    summary: "Sets a key to a value, with an optional ttl (ms); a set without ttl clears an old one.",
    schema: Type.Object({ key: KvKey, value: Payload, ttl: Type.Optional(Ttl) }),
    raw: { value: true },
    reply: Ok(),
    handler(ctx: Ctx, r): HandlerResult {
      ctx.engine.kv.set(r.key, payload(r.value), r.ttl);
      return { ok: true };
    },
  }),

  defineCommand({
    name: "KVGET",
    summary: "The key's value, or null.",
    schema: byKey,
    reply: Ok({ value: Type.Unknown() }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, value: valueOf(ctx.engine.kv.get(r.key)) };
    },
  }),

  defineCommand({
    name: "KVDEL",
    summary: "Deletes a key; `exists` says whether it was there.",
    schema: byKey,
    reply: Exists,
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, exists: ctx.engine.kv.delete(r.key) };
    },
  }),

  defineCommand({
    name: "KVEXISTS",
    summary: "Whether the key exists.",
    schema: byKey,
    reply: Exists,
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, exists: ctx.engine.kv.has(r.key) };
    },
  }),

  defineCommand({
    name: "KVEXPIRE",
    summary: "Sets the TTL (ms) of an existing key; `exists` false when there is no such key.",
    schema: Type.Object({ key: KvKey, ttl: Ttl }),
    reply: Exists,
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, exists: ctx.engine.kv.expire(r.key, r.ttl) };
    },
  }),

  defineCommand({
    name: "KVTTL",
    summary: "The key's remaining TTL in ms: -1 without one, -2 when the key does not exist.",
    schema: byKey,
    reply: Ok({ ttl: Type.Integer({ minimum: -2 }) }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, ttl: ctx.engine.kv.ttl(r.key) };
    },
  }),

  defineCommand({
    name: "KVMGET",
    summary: `The values of up to ${kvBatchMax} keys, in order, null where missing.`,
    schema: Type.Object({ keys: Type.Array(KvKey, { maxItems: kvBatchMax }) }),
    reply: Ok({ values: Type.Array(Type.Unknown()) }),
    handler(ctx: Ctx, r): HandlerResult {
      // kvBatchMax values of at most kvValueBytesMax each can exceed one frame: the writer
      // refuses such a reply (TOO_LARGE) rather than send it, and the client asks for fewer.
      return { ok: true, values: r.keys.map((k) => valueOf(ctx.engine.kv.get(k))) };
    },
  }),

  defineCommand({
    name: "KVMSET",
    summary: `Sets up to ${kvBatchMax} keys (each with an optional ttl), all or none; \`count\` is how many.`,
    schema: Type.Object({ entries: Type.Array(Type.Object({ key: KvKey, value: Payload, ttl: Type.Optional(Ttl) }), { maxItems: kvBatchMax }) }),
    raw: { entries: [{ value: true }] },
    reply: Ok({ count: Type.Integer({ minimum: 0 }) }),
    handler(ctx: Ctx, r): HandlerResult {
      const kv = ctx.engine.kv;
      const added = { keys: 0, bytes: 0 };
      const seen = new Set<string>();
      for (const e of r.entries) {
        const bytes = payload(e.value);
        kv.checkSet(e.key, bytes, added);
        if (!seen.has(e.key) && !kv.has(e.key)) added.keys++;
        seen.add(e.key);
        added.bytes += e.key.length + bytes.length;
      }
      for (const e of r.entries) kv.set(e.key, payload(e.value), e.ttl);
      return { ok: true, count: r.entries.length };
    },
  }),

  defineCommand({
    name: "KVKEYS",
    summary: `The keys matching a glob pattern (\`*\`, \`?\`; default all), at most EXT \`limit\` (${listLimitMax}); \`truncated\` when more match.`,
    schema: Type.Object({
      pattern: Type.Optional(Type.String({ maxLength: keyCharsMax })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: listLimitMax })),
    }),
    reply: Ok({ keys: Type.Array(Type.String()), truncated: Truncated }),
    handler(ctx: Ctx, r): HandlerResult {
      const { keys, truncated } = ctx.engine.kv.keys(r.pattern, r.limit ?? listLimitMax);
      return truncated ? { ok: true, keys, truncated: true } : { ok: true, keys };
    },
  }),

  defineCommand({
    name: "KVINCR",
    summary: "Adds `by` (default 1) to an integer value (a missing key counts as 0) and returns the new value; the TTL stays.",
    schema: Type.Object({ key: KvKey, by: Type.Optional(Type.Integer({ minimum: -(2 ** 53 - 1), maximum: 2 ** 53 - 1 })) }),
    reply: Ok({ value: Type.Integer() }),
    handler(ctx: Ctx, r): HandlerResult {
      return { ok: true, value: ctx.engine.kv.incr(r.key, r.by ?? 1, decodeRaw, encodeValue) };
    },
  }),
];
