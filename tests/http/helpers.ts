// Test helpers for the HTTP face: an in-process server with HTTP on a port the kernel picks
// (startServer's httpAnyPort), requests that return status + parsed JSON, an SSE reader over a
// fetch body, and a WebSocket client whose every wait is bounded. Servers are stopped by the
// test that started them (afterAll), so none outlives its file.

import { startServer, type RunningServer, type ServerOptions } from "../../src/server/server.ts";

export interface HttpServer {
  server: RunningServer;
  base: string;
  tcpPort: number;
  log: string[];
  stop(): Promise<void>;
}

export async function startHttp(opts: ServerOptions = {}): Promise<HttpServer> {
  const log: string[] = [];
  const server = await startServer({ host: "127.0.0.1", port: 0, io: "bun", httpAnyPort: true, log: (l) => log.push(l), ...opts });
  if (server.httpPort === null) throw new Error(`HTTP did not start: ${log.join("\n")}`);
  return { server, base: `http://127.0.0.1:${server.httpPort}`, tcpPort: server.port, log, stop: () => server.stop() };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, any>;
  text: string;
}

/** One request; `body` is sent as JSON unless it is a string. */
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: Record<string, any> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (metrics, HTML): the caller reads `text`.
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Reads `data:` messages of an SSE response as JSON, with bounded waits. */
export class SseReader {
  private buf = "";
  private readonly messages: any[] = [];
  private waiters: (() => void)[] = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly comments: string[] = [];
  done = false;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    void this.pump();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const controller = new AbortController();
    const res = await fetch(url, { headers, signal: controller.signal });
    return new SseReader(res, controller);
  }

  private async pump(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        this.buf += dec.decode(value, { stream: true });
        let i;
        while ((i = this.buf.indexOf("\n\n")) >= 0) {
          const block = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 2);
          for (const line of block.split("\n")) {
            if (line.startsWith("data: ")) this.messages.push(JSON.parse(line.slice(6)));
            else if (line.startsWith(":")) this.comments.push(line);
          }
        }
        this.wake();
      }
    } catch {
      // aborted
    }
    this.done = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first message matching `pred` (the others stay for later calls). */
  async next(pred: (m: any) => boolean = () => true, ms = 5_000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (this.done) throw new Error("SSE stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching SSE message within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Everything received so far, and what comes within `ms`. */
  async drain(ms: number): Promise<any[]> {
    await Bun.sleep(ms);
    return this.messages.splice(0);
  }

  close(): void {
    this.controller.abort();
    void this.reader.cancel().catch(() => {});
  }
}

/** A WebSocket client with bounded waits for its messages. */
export class WsClient {
  private readonly messages: any[] = [];
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      this.messages.push(JSON.parse(String(e.data)));
      this.wake();
    };
    ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    };
  }

  static open(url: string, headers?: Record<string, string>): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, headers === undefined ? undefined : ({ headers } as never));
      const c = new WsClient(ws);
      const t = setTimeout(() => reject(new Error("WebSocket did not open within 5 s")), 5_000);
      ws.onopen = () => {
        clearTimeout(t);
        resolve(c);
      };
      ws.onerror = () => {
        clearTimeout(t);
        reject(new Error("WebSocket refused"));
      };
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(o: unknown): void {
    this.ws.send(JSON.stringify(o));
  }

  async next(pred: (m: any) => boolean = () => true, ms = 5_000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      if (this.closed !== null) throw new Error(`WebSocket closed (${this.closed.code} ${this.closed.reason})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching WebSocket message within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends a request with a reqId and waits for its reply. */
  async call(o: Record<string, unknown>, ms = 5_000): Promise<any> {
    const reqId = `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...o, reqId });
    return this.next((m) => m.reqId === reqId, ms);
  }

  close(): void {
    this.ws.close();
  }
}
