// The dashboard's way to the server: the JSON API with the Bearer token (asked for once, kept in
// sessionStorage), and Server-Sent Events streams (EventSource cannot send headers, so the token
// goes as ?token=). A 401 or 403 raises AuthNeeded, which app.js answers with the login form.

const tokenKey = "ringq-token";

export class AuthNeeded extends Error {}

export const auth = {
  get token() {
    return sessionStorage.getItem(tokenKey);
  },
  set token(t) {
    if (t === null) sessionStorage.removeItem(tokenKey);
    else sessionStorage.setItem(tokenKey, t);
  },
};

/** One request; resolves with the JSON reply ({ok, ...} or {ok:false, error, code}) and status. */
export async function api(method, path, body) {
  const headers = {};
  const t = auth.token;
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json;
  try {
    json = await res.json();
  } catch {
    json = { ok: false, error: `HTTP ${res.status}` };
  }
  if (res.status === 401 || res.status === 403) throw new AuthNeeded(json.error ?? "authentication needed");
  return { status: res.status, ...json };
}

/** An EventSource on `path` (JSON messages to onMessage); onState("live" | "reconnecting"). */
export function stream(path, onMessage, onState = () => {}) {
  const t = auth.token;
  const url = t ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(t)}` : path;
  const es = new EventSource(url);
  es.onopen = () => onState("live");
  es.onerror = () => onState("reconnecting");
  es.onmessage = (e) => {
    try {
      onMessage(JSON.parse(e.data));
    } catch {
      // a message that is not JSON is not ours: ignore it
    }
  };
  return es;
}
