// One event message as JSON text, for SSE and WebSocket clients: JSON.stringify without a
// replacer (payloads, which arrive as Raw MessagePack, are decoded first, and only when there is
// one), and the last message's text kept, since the hub hands the same object to every
// subscriber. An event costs one stringify however many streams follow it.

import { decodeRaw, Raw } from "../protocol/msgpack.ts";

let lastMessage: object | null = null;
let lastText = "";

export function eventText(message: Record<string, unknown>): string {
  if (message === lastMessage) return lastText;
  let plain: Record<string, unknown> | null = null;
  for (const k in message) {
    const v = message[k];
    if (v instanceof Raw) (plain ??= { ...message })[k] = decodeRaw(v.bytes);
  }
  lastText = JSON.stringify(plain ?? message);
  lastMessage = message;
  return lastText;
}
