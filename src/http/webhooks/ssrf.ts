// The SSRF guard of webhooks: a target must be http(s), carry no credentials, and resolve only
// to public addresses: loopback, private ranges (RFC 1918, unique local), link-local (cloud
// metadata at 169.254.169.254), carrier-grade NAT, multicast, unspecified and reserved ranges
// are refused unless WEBHOOK_ALLOW_PRIVATE is set. Checked at registration and again before
// every delivery (DNS may have changed); redirects are never followed (delivery.ts).

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

export class TargetRefused extends Error {}

/** IPv4 ranges (first address, prefix length) no webhook may reach by default. */
const v4Blocked: [string, number][] = [
  ["0.0.0.0", 8], // "this network", unspecified
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay (deprecated)
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
];

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
}

const v4Ranges = v4Blocked.map(([base, bits]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (v4ToInt(base) & mask) >>> 0, mask };
});

function v4IsBlocked(ip: string): boolean {
  const n = v4ToInt(ip);
  return v4Ranges.some((r) => ((n & r.mask) >>> 0) === r.base);
}

/** The 8 groups of an IPv6 address as numbers (handles `::` and a trailing dotted IPv4). */
function v6Groups(ip: string): number[] {
  let s = ip.toLowerCase().split("%")[0]!;
  let tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted !== null) {
    const n = v4ToInt(dotted[1]!);
    tail = [n >>> 16, n & 0xffff];
    s = s.slice(0, -dotted[1]!.length) + "0:0";
  }
  const [head, rest] = s.includes("::") ? s.split("::") : [s, null];
  const a = head === "" ? [] : head!.split(":").map((g) => parseInt(g, 16));
  const b = rest === null || rest === "" ? [] : rest.split(":").map((g) => parseInt(g, 16));
  const groups = rest === null ? a : [...a, ...new Array(8 - a.length - b.length).fill(0), ...b];
  if (tail.length > 0) groups.splice(6, 2, ...tail);
  return groups;
}

function v6IsBlocked(ip: string): boolean {
  const g = v6Groups(ip);
  if (g.length !== 8 || g.some((x) => Number.isNaN(x))) return true; // unparseable: refuse
  const zeroTo = (k: number) => g.slice(0, k).every((x) => x === 0);
  if (zeroTo(7) && (g[7] === 0 || g[7] === 1)) return true; // :: and ::1
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judged as the IPv4 address.
  if ((zeroTo(5) && g[5] === 0xffff) || zeroTo(6)) {
    return v4IsBlocked(`${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`);
  }
  if (g[0] === 0x64 && g[1] === 0xff9b) return v4IsBlocked(`${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`); // NAT64
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((first & 0xffc0) === 0xfec0) return true; // site-local (deprecated)
  if ((first & 0xff00) === 0xff00) return true; // multicast
  if (first === 0x2001 && g[1] === 0x0db8) return true; // documentation
  return false;
}

/** Whether a webhook may not reach this address by default. */
export function isBlockedAddress(ip: string): boolean {
  const kind = isIP(ip);
  if (kind === 4) return v4IsBlocked(ip);
  if (kind === 6) return v6IsBlocked(ip);
  return true;
}

/** The URL as a webhook target, or TargetRefused saying why (scheme, credentials). */
export function parseTarget(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TargetRefused(`'${url.slice(0, 200)}' is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new TargetRefused(`scheme ${u.protocol} is not allowed: use http or https`);
  if (u.username !== "" || u.password !== "") throw new TargetRefused("credentials in the URL are not allowed: use the signature header to authenticate ringq");
  return u;
}

/**
 * Checks that every address the URL's host resolves to may be reached; throws TargetRefused
 * naming the address otherwise. `allowPrivate` (WEBHOOK_ALLOW_PRIVATE) skips the address check.
 */
export async function checkTarget(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (e) {
      throw new TargetRefused(`cannot resolve ${host}: ${(e as Error).message}`);
    }
  }
  const bad = addresses.find(isBlockedAddress);
  if (bad !== undefined) {
    throw new TargetRefused(`${host} resolves to ${bad}, a loopback, private or reserved address; set WEBHOOK_ALLOW_PRIVATE=1 to allow such targets (trusted networks only)`);
  }
}
