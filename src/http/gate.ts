// Who may use the HTTP face: with AUTH_TOKENS set, every route but /health and /ready needs
// `Authorization: Bearer <token>` (SSE and WebSocket may pass `?token=` instead: EventSource and
// browsers' WebSocket cannot set headers). Repeated failures from one address are slowed down
// (429). Cross-origin: a browser request from another origin is refused unless CORS_ORIGIN
// allows it, which also stops cross-site forms and WebSocket hijacking against an open server.

import {
  httpAuthFailureWindowMs,
  httpAuthFailuresMax,
  httpAuthTrackedAddressesMax,
} from "../constants.ts";

export type GateResult = { ok: true } | { ok: false; status: number; code: string; message: string };

const pass: GateResult = { ok: true };

/** Failed authentications per client address, in a window; the oldest addresses go first. */
export class AuthThrottle {
  private readonly byAddress = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Whether any address has failures on record (else nobody can be blocked). */
  get tracking(): boolean {
    return this.byAddress.size > 0;
  }

  blocked(address: string): boolean {
    const e = this.byAddress.get(address);
    if (e === undefined) return false;
    if (this.now() - e.since > httpAuthFailureWindowMs) {
      this.byAddress.delete(address);
      return false;
    }
    return e.count >= httpAuthFailuresMax;
  }

  failed(address: string): void {
    const t = this.now();
    const e = this.byAddress.get(address);
    if (e !== undefined && t - e.since <= httpAuthFailureWindowMs) {
      e.count++;
      return;
    }
    this.byAddress.delete(address);
    if (this.byAddress.size >= httpAuthTrackedAddressesMax) this.byAddress.delete(this.byAddress.keys().next().value!);
    this.byAddress.set(address, { count: 1, since: t });
  }
}

export interface GateOptions {
  tokens: ReadonlySet<string> | null;
  corsOrigin: string | null;
}

export class Gate {
  readonly throttle = new AuthThrottle();

  constructor(private readonly opts: GateOptions) {}

  get authRequired(): boolean {
    return this.opts.tokens !== null;
  }

  get corsOn(): boolean {
    return this.opts.corsOrigin !== null;
  }

  /** Checks the request's token. `queryToken`: SSE and WebSocket also read `?token=`. The
   *  client's address is asked for only when failures are being counted. */
  authenticate(req: Request, addressOf: () => string, queryToken: boolean): GateResult {
    const tokens = this.opts.tokens;
    if (tokens === null) return pass;
    const address = this.throttle.tracking ? addressOf() : null;
    if (address !== null && this.throttle.blocked(address)) {
      return { ok: false, status: 429, code: "LIMIT", message: `Too many failed authentications from ${address} (limit ${httpAuthFailuresMax} a minute); wait and retry with a valid token` };
    }
    const header = req.headers.get("authorization");
    let token: string | null = null;
    if (header !== null) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (m === null) return this.refuse(address ?? addressOf(), 401, "AUTH_REQUIRED", "Authorization header must be 'Bearer <token>'");
      token = m[1]!;
    } else if (queryToken) {
      token = new URL(req.url).searchParams.get("token");
    }
    if (token === null) {
      return {
        ok: false, status: 401, code: "AUTH_REQUIRED",
        message: `Authentication required: send 'Authorization: Bearer <token>' (one of AUTH_TOKENS)${queryToken ? " or ?token=<token>" : ""}`,
      };
    }
    if (!tokens.has(token)) return this.refuse(address ?? addressOf(), 403, "AUTH_FAILED", "Invalid token");
    return pass;
  }

  private refuse(address: string, status: number, code: string, message: string): GateResult {
    this.throttle.failed(address);
    return { ok: false, status, code, message };
  }

  /**
   * A browser request from another origin: refused unless CORS_ORIGIN allows it. Requests with
   * no Origin header (curl, servers, same-origin GETs) pass; so do same-origin ones.
   */
  checkOrigin(req: Request): GateResult {
    const origin = req.headers.get("origin");
    if (origin === null || this.allowsOrigin(origin) || sameOrigin(origin, req)) return pass;
    return {
      ok: false, status: 403, code: "AUTH_FAILED",
      message: `Cross-origin request from ${origin.slice(0, 200)} refused: set CORS_ORIGIN to that origin to allow it`,
    };
  }

  allowsOrigin(origin: string): boolean {
    const allowed = this.opts.corsOrigin;
    return allowed !== null && (allowed === "*" || allowed === origin);
  }

  /** CORS headers for a response to `origin` (none when CORS is off or the origin is not allowed). */
  corsHeaders(req: Request): Record<string, string> {
    const origin = req.headers.get("origin");
    if (origin === null || !this.allowsOrigin(origin)) return {};
    return {
      "access-control-allow-origin": this.opts.corsOrigin === "*" ? "*" : origin,
      vary: "Origin",
    };
  }

  /** The answer to a CORS preflight (OPTIONS), or null when CORS does not allow it. */
  preflight(req: Request): Response | null {
    const origin = req.headers.get("origin");
    if (origin === null || !this.allowsOrigin(origin)) return null;
    return new Response(null, {
      status: 204,
      headers: {
        ...this.corsHeaders(req),
        "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
        "access-control-allow-headers": "Authorization, Content-Type",
        "access-control-max-age": "600",
      },
    });
  }
}

function sameOrigin(origin: string, req: Request): boolean {
  const host = req.headers.get("host");
  if (host === null) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
