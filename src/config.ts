// Environment (and --flag=value command-line overrides) -> one typed, validated Config.
// Defaults live here and only here. An invalid value is a start-up error naming the variable.

import { existsSync } from "node:fs";
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { finishedJobAgeMsDefault, finishedJobsKeptDefault, finishedKeptMax } from "./constants.ts";

export const ConfigSchema = Type.Object({
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  io: Type.Union([Type.Literal("auto"), Type.Literal("uring"), Type.Literal("bun")]),
  authTokens: Type.Array(Type.String({ minLength: 1 })),
  dataPath: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  durability: Type.Union([Type.Literal("none"), Type.Literal("batch"), Type.Literal("sync")]),
  keepCompleted: Type.Integer({ minimum: 0, maximum: finishedKeptMax }),
  keepCompletedAgeMs: Type.Integer({ minimum: 0 }),
  tlsCert: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  tlsKey: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  /** HTTP face (src/http): REST, events, metrics, probes, dashboard. 0 turns it off. */
  httpPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  noHttp: Type.Boolean(),
  /** The one origin allowed cross-origin requests ("*": any); null: CORS off. */
  corsOrigin: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  noDashboard: Type.Boolean(),
  /** Webhooks may target loopback and private addresses (tests, trusted networks only). */
  webhookAllowPrivate: Type.Boolean(),
});
export type Config = Static<typeof ConfigSchema>;

export const defaults: Config = {
  host: "127.0.0.1",
  port: 6789,
  io: "auto",
  authTokens: [],
  dataPath: null,
  durability: "sync",
  keepCompleted: finishedJobsKeptDefault,
  keepCompletedAgeMs: finishedJobAgeMsDefault,
  tlsCert: null,
  tlsKey: null,
  httpPort: 6790,
  noHttp: false,
  corsOrigin: null,
  noDashboard: false,
  webhookAllowPrivate: false,
};

/** "1"/"true"/"yes"/"on" and "0"/"false"/"no"/"off"/""; anything else is kept as the string,
 *  so validation refuses it naming the variable. */
function flag(s: string): boolean | string {
  const v = s.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  return s;
}

/** env/flag name -> [config key, parser] */
const sources: Record<string, [keyof Config, (s: string) => unknown]> = {
  HOST: ["host", String],
  TCP_PORT: ["port", Number],
  RINGQ_IO: ["io", String],
  AUTH_TOKENS: ["authTokens", (s) => s.split(",").map((t) => t.trim()).filter(Boolean)],
  DATA_PATH: ["dataPath", (s) => (s === "" ? null : s)],
  DURABILITY: ["durability", String],
  KEEP_COMPLETED: ["keepCompleted", Number],
  KEEP_COMPLETED_AGE_MS: ["keepCompletedAgeMs", Number],
  TLS_CERT: ["tlsCert", (s) => (s === "" ? null : s)],
  TLS_KEY: ["tlsKey", (s) => (s === "" ? null : s)],
  HTTP_PORT: ["httpPort", Number],
  NO_HTTP: ["noHttp", flag],
  CORS_ORIGIN: ["corsOrigin", (s) => (s === "" ? null : s)],
  NO_DASHBOARD: ["noDashboard", flag],
  WEBHOOK_ALLOW_PRIVATE: ["webhookAllowPrivate", flag],
};

const check = TypeCompiler.Compile(ConfigSchema);

export function loadConfig(env: Record<string, string | undefined>, argv: string[] = []): Config {
  const cfg: Record<string, unknown> = { ...defaults };
  const origin: Record<string, string> = {};
  for (const [name, [key, parse]] of Object.entries(sources)) {
    const v = env[name];
    if (v !== undefined) {
      cfg[key] = parse(v);
      origin[key] = name;
    }
  }
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    const name = m?.[1]!.toUpperCase().replace(/-/g, "_");
    if (m === null || name === undefined || !(name in sources)) throw new Error(`Unknown argument '${arg}'; use e.g. --tcp-port=6789 (same names as the environment variables)`);
    const [key, parse] = sources[name]!;
    cfg[key] = parse(m[2]!);
    origin[key] = `--${m[1]}`;
  }
  if (!check.Check(cfg)) {
    const e = check.Errors(cfg).First()!;
    const key = e.path.replace(/^\//, "").split("/")[0]!;
    throw new Error(`Invalid configuration ${origin[key] ?? key}=${JSON.stringify(cfg[key])}: ${e.message}`);
  }
  const c = cfg as Config;
  if ((c.tlsCert === null) !== (c.tlsKey === null)) {
    throw new Error(`Invalid configuration: TLS needs both TLS_CERT and TLS_KEY (PEM files); ${c.tlsCert === null ? "TLS_CERT" : "TLS_KEY"} is missing`);
  }
  for (const [name, path] of [["TLS_CERT", c.tlsCert], ["TLS_KEY", c.tlsKey]] as const) {
    if (path !== null && !existsSync(path)) throw new Error(`Invalid configuration ${name}=${path}: no such file (a PEM file is expected)`);
  }
  if (c.corsOrigin !== null && c.corsOrigin !== "*" && !isOrigin(c.corsOrigin)) {
    throw new Error(`Invalid configuration ${origin.corsOrigin ?? "CORS_ORIGIN"}=${c.corsOrigin}: expected one origin such as https://admin.example.com (scheme, host, optional port; no path) or "*"`);
  }
  if (c.httpPort !== 0 && c.httpPort === c.port && !c.noHttp) {
    throw new Error(`Invalid configuration: HTTP_PORT and TCP_PORT are both ${c.port}; give HTTP its own port, or HTTP_PORT=0 to turn it off`);
  }
  return c;
}

/** scheme://host[:port], exactly what a browser sends in its Origin header. */
function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.origin === s;
  } catch {
    return false;
  }
}
