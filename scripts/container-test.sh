#!/usr/bin/env bash
# Builds the real image with podman (base image made by debootstrap when missing, cached) and
# checks it as deployed: start-up line, PUSH/PULL/ACK, SIGTERM, both seccomp cases, a volume
# surviving a killed container, non-root, no compiler, deploy/compose.yaml. Needs root, apt and
# npm's registry; skips only when podman cannot be installed. Does not run Docker, and nothing
# it starts listens beyond 127.0.0.1 (host network, HOST=127.0.0.1).
# Usage: bash scripts/container-test.sh      (CI runs it from .ci/run after the test suite)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# ---- limits, each with its reason ----
cache=${RINGQ_CONTAINER_CACHE:-/var/tmp/ringq-container} # base rootfs tarball, kept between runs
base_max_age_days=30      # an older cached base is rebuilt, so Debian's security updates get in
startup_wait_s=30         # start-up takes about a second; this much means it is not coming
stop_wait_s=20            # SIGTERM to exit: the server's own flush bound is well below this
image=localhost/ringq:ci # and localhost/ringq:ci-build, the build stage (kept for its cache)
base=docker.io/library/debian:bookworm-slim # both stages' FROM
ca_bundle=/etc/ssl/certs/ca-certificates.crt # this machine's CAs, for npm ci inside the build
profile=$root/deploy/seccomp-ringq.json
label=org.ringq.container-test # on everything this script makes, so it removes only its own

t0=$SECONDS
passed=0 failed=0
say() { echo "container-test: $*"; }
pass() { passed=$((passed + 1)); say "ok: $*"; }
fail() { failed=$((failed + 1)); say "FAIL: $*" >&2; }
die() { say "FAIL: $*" >&2; say "$passed passed, $((failed + 1)) failed"; exit 1; }
phase() { say "--- $* ($((SECONDS - t0)) s so far)"; }

# ---- 1. podman, runc, debootstrap: installed when missing (the only reason to skip) ----
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v podman-compose >/dev/null 2>&1 || need+=(podman-compose) # for deploy/compose.yaml
apt_log=${TMPDIR:-/tmp}/ringq-container-apt.log
if [ "${#need[@]}" -gt 0 ]; then
  why=""
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    why="not root or no apt-get"
  else
    say "installing ${need[*]} (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >"$apt_log" 2>&1 ||
      { tail -5 "$apt_log" >&2; why="apt-get install failed (above; all of it in $apt_log)"; }
  fi
  if [ -n "$why" ]; then
    if ! command -v podman >/dev/null 2>&1; then
      say "SKIP: podman is not installed and cannot be: $why (as root: apt-get install -y podman runc debootstrap podman-compose)"
      say "0 passed, 0 failed, 1 skipped"
      exit 0
    fi
    die "podman is here but ${need[*]} could not be installed: $why"
  fi
fi
[ "$(id -u)" = 0 ] || die "needs root: rootless podman cannot import the debootstrap rootfs or use cgroupfs here (run as root)"
runc=$(command -v runc || echo /usr/sbin/runc)
# crun (podman's default where installed) fails here with "cgroups in hybrid mode not supported";
# runc with cgroupfs works on this cgroup v1+v2 layout. File events: there may be no journald.
pm() { podman --runtime "$runc" --cgroup-manager=cgroupfs --events-backend=file "$@"; }
# podman's default nofile and nproc are above this machine's hard limits, and runc then fails
# ("error setting rlimit type 7"/"type 6"): pass the caller's own hard limits, capped at what the
# server needs (65536 fds: 1,000+ connections; 4096 processes/threads for uid 1000, host-wide).
cap() { local v=$1; [ "$v" = unlimited ] || [ "$v" -gt "$2" ] && v=$2; echo "$v"; }
nofile=$(cap "$(ulimit -Hn)" 65536) nproc=$(cap "$(ulimit -Hu)" 4096)
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
say "podman $(podman --version | awk '{print $3}'), runtime $runc ($("$runc" --version | head -1)), ulimits nofile=$nofile nproc=$nproc"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringq-container-test.XXXXXX")
run_id=$$
containers=()
volume=ringq-ci-data-$run_id
cleanup() {
  local c
  # -v: also the anonymous volume the image's VOLUME /data gives a container run without -v.
  for c in "${containers[@]}"; do pm rm -f -v -t 0 "$c" >/dev/null 2>&1 || true; done
  pm volume rm -f "$volume" >/dev/null 2>&1 || true
  if [ -n "${compose_project:-}" ]; then
    compose down -v >/dev/null 2>&1 || true
    pm network rm -f "${compose_project}_default" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- 2. base image: Debian bookworm minbase from debootstrap, trimmed like Docker Hub's -slim ----
phase "base image $base"
mkdir -p "$cache"
rootfs_tar=$cache/debian-bookworm-minbase.tar
make_rootfs() {
  local dir=$tmp/rootfs
  say "debootstrap --variant=minbase bookworm (about 30 s; cached in $cache)"
  debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 ||
    { tail -20 "$tmp/debootstrap.log" >&2; die "debootstrap failed (log above): is http://deb.debian.org reachable?"; }
  # What Docker Hub's debian:bookworm-slim has on top of minbase: the same three suites in apt,
  # no docs/man/locales now or in later installs (copyright files kept), no package lists.
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
    "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/* "$dir"/tmp/*
  tar --numeric-owner -C "$dir" -cf "$rootfs_tar.part" .
  mv "$rootfs_tar.part" "$rootfs_tar"
  rm -rf "$dir"
}
if [ ! -s "$rootfs_tar" ] || [ -n "$(find "$rootfs_tar" -mtime +"$base_max_age_days")" ]; then make_rootfs; fi
tar_id=$(stat -c %Y-%s "$rootfs_tar")
if pm image exists "$base"; then
  made=$(pm image inspect --format "{{index .Config.Labels \"$label.rootfs\"}}" "$base" 2>/dev/null || true)
  if [ -z "$made" ] || [ "$made" = "<no value>" ]; then
    say "using the existing $base (not made by this script: pulled or imported by hand)"
  elif [ "$made" != "$tar_id" ]; then
    pm rmi -f "$base" >/dev/null 2>&1 || true
  fi
fi
if ! pm image exists "$base"; then
  pm import --change "LABEL $label.rootfs=$tar_id" --change 'CMD ["bash"]' "$rootfs_tar" "$base" >/dev/null ||
    die "podman import of $rootfs_tar failed"
  say "imported $base from $rootfs_tar"
fi
pass "base image $base ready ($((SECONDS - t0)) s)"

# ---- 3. build the image ----
phase "podman build"
# --format docker: OCI images have no HEALTHCHECK. --pull=never: the base is local, no registry
# is asked. The CA mount is this script's only (npm ci behind this network's TLS inspection;
# without it: "self-signed certificate in certificate chain"); the Dockerfile needs nothing of
# this machine. It goes where update-ca-certificates picks up local CAs, as ca-certificates'
# postinst rewrites /etc/ssl/certs/ca-certificates.crt and fails on a read-only mount there.
# Only the build stage, which is thrown away, ever holds it.
build_args=(build --format docker --pull=never --network=host "${ulimits[@]}" --label "$label=1")
[ -s "$ca_bundle" ] && build_args+=(-v "$ca_bundle:/usr/local/share/ca-certificates/ringq-build-host.crt:ro")
build_log=$cache/build.log
tb=$SECONDS
# The build stage gets a tag of its own: an untagged stage would be "dangling", and the prune
# below would throw away its cache (npm, gcc: a minute and a half to redo).
pm "${build_args[@]}" --target build -t "$image-build" . >"$build_log" 2>&1 &&
  pm "${build_args[@]}" -t "$image" . >>"$build_log" 2>&1 ||
  { tail -40 "$build_log" >&2; die "podman build failed (last lines above; all of it in $build_log)"; }
pass "image $image built in $((SECONDS - tb)) s"
# Earlier builds of this script's image, now untagged: removed, so the cache does not grow.
pm image prune -f --filter "label=$label=1" >/dev/null 2>&1 || true

size=$(pm image inspect --format '{{.Size}}' "$image")
say "image size: $((size / 1000000)) MB ($size bytes; $base alone: $(($(pm image inspect --format '{{.Size}}' "$base") / 1000000)) MB)"
user=$(pm image inspect --format '{{.Config.User}}' "$image")
[ "$user" = ringq ] && pass "image runs as user '$user'" || fail "image USER is '$user', want ringq"
hc=$(pm image inspect --format '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$image" 2>/dev/null || true)
[[ $hc == *health-check.ts* ]] && pass "image HEALTHCHECK: $hc" || fail "image has no HEALTHCHECK running src/health-check.ts (got '$hc')"
env=" $(pm image inspect --format '{{join .Config.Env " "}}' "$image") "
ports=$(pm image inspect --format '{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}' "$image")
[[ $env == *" HOST=0.0.0.0 "* && $env == *" TCP_PORT=6789 "* && $env == *" HTTP_PORT=6790 "* && " $ports " == *" 6789/tcp "* && " $ports " == *" 6790/tcp "* ]] &&
  pass "image listens on 0.0.0.0:6789 and HTTP on 6790 by default (ENV HOST, TCP_PORT, HTTP_PORT) and EXPOSEs both ($ports)" ||
  fail "image ENV/EXPOSE: env$env, exposed '$ports'"
vols=$(pm image inspect --format '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' "$image")
[[ " $vols " == *" /data "* ]] && pass "image VOLUME /data" || fail "image volumes are '$vols', want /data"
# No compiler, linker, package builder or npm in the runtime image.
tools=$(pm run --rm --network=none --no-healthcheck "${ulimits[@]}" --entrypoint sh "$image" -c \
  'for t in gcc cc c++ g++ clang tcc ld as make node npm; do command -v "$t"; done; ls /usr/lib/gcc 2>/dev/null; true')
[ -z "$tools" ] && pass "image has no compiler, linker, node or npm" || fail "image has build tools: $(echo $tools)"

# ---- a tiny text-mode flashQ client (Node, which CI has), for the checks below ----
cat >"$tmp/rq.mjs" <<'EOF'
// call PORT JSON...: one request at a time, prints each reply line; exits 1 on error or 10 s.
// owed PORT GOFILE: pushes a 128 KiB job, asks 40 GETJOBs of it plus a marker PUSH without
// reading, prints "ready" once the server has read them all, resumes reading once GOFILE exists
// and checks that all 41 replies arrive before the server closes the connection; last line:
// "bytes N", all it received there. 5 MiB: more than the kernel buffers hold (the script
// measures how much was still the server's own to send), less than the 4 MiB of queued output
// plus those buffers at which the server stops reading a connection. A file, not a signal,
// says go: a SIGUSR1 sent right after "ready" killed node here once, handler or not.
import fs from "node:fs";
import net from "node:net";
const [mode, port] = process.argv.slice(2, 4);
const args = process.argv.slice(4);
const bail = (why) => { console.error(`rq: ${why}`); process.exit(1); };
setTimeout(() => bail("timed out"), mode === "owed" ? 60_000 : 10_000).unref();
function open() {
  const s = net.connect({ host: "127.0.0.1", port: Number(port) });
  let buf = "", waiting = [], lines = [];
  s.setEncoding("utf8");
  s.on("data", (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    while (waiting.length && lines.length) waiting.shift()(lines.shift());
  });
  s.on("error", (e) => bail(`connection: ${e.message}`));
  const closed = new Promise((r) => s.on("close", r));
  const next = () => lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r));
  const call = async (o) => { s.write(JSON.stringify(o) + "\n"); return JSON.parse(await next()); };
  return { s, next, call, closed };
}
if (mode === "call") {
  const c = open();
  for (const a of args) console.log(JSON.stringify(await c.call(JSON.parse(a))));
  c.s.end();
} else if (mode === "owed") {
  const setup = open(), watcher = open(), owed = open();
  const data = "x".repeat(128 * 1024), n = 40;
  const { id } = await setup.call({ cmd: "PUSH", queue: "ct-big", data });
  owed.s.pause();
  owed.s.write(Array.from({ length: n }, () => JSON.stringify({ cmd: "GETJOB", id }) + "\n").join("") +
    JSON.stringify({ cmd: "PUSH", queue: "ct-marker", data: "last" }) + "\n");
  const marker = await watcher.call({ cmd: "PULL", queue: "ct-marker", timeout: 10_000 });
  if (marker.job?.data !== "last") bail(`marker not pulled: ${JSON.stringify(marker)}`);
  console.log("ready");
  while (!fs.existsSync(args[0])) await new Promise((r) => setTimeout(r, 10));
  owed.s.resume();
  const got = [];
  let bytes = 0;
  for (let i = 0; i <= n; i++) {
    const l = await owed.next();
    bytes += l.length + 1;
    got.push(JSON.parse(l));
  }
  const jobs = got.slice(0, n).filter((r) => r.ok && r.job?.id === id && r.job.data.length === data.length).length;
  if (jobs !== n || !got[n].ok || typeof got[n].id !== "number") bail(`owed replies: ${jobs}/${n} GETJOB, marker ${JSON.stringify(got[n])}`);
  await owed.closed;
  console.log(`owed: ${n} GETJOB replies of 128 KiB and the marker PUSH reply, then closed by the server`);
  console.log(`bytes ${bytes}`);
  process.exit(0);
} else bail(`unknown mode ${mode}`);
EOF
rq() { node "$tmp/rq.mjs" "$@"; }
# Host network, loopback only: nothing this script starts listens beyond 127.0.0.1 (with a
# bridge and -p, the server would listen on the container's bridge address, which netavark
# makes routable by turning on IP forwarding). The image's own HOST=0.0.0.0 and EXPOSE are
# checked from its config above instead; a free TCP_PORT and HTTP_PORT per container.
loopback() { http_port=$(free_port); loopback=(--network=host -e HOST=127.0.0.1 -e "TCP_PORT=$port" -e "HTTP_PORT=$http_port"); }
# http PATH: GET on the current container's HTTP port; prints "STATUS BODY" (body cut at 2,000 chars).
http() { node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(async r=>console.log(r.status+" "+(await r.text()).slice(0,2000))).catch(e=>{console.log("error "+e.message);process.exit(1)})' "http://127.0.0.1:$http_port$1"; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Starts a container (name, then podman run args); waits for its start-up line, prints it.
start() {
  local name=$1
  shift
  containers+=("$name")
  # Its stderr only on failure: without systemd, podman logs errors about the health check timer
  # it cannot add (the check still runs with `podman healthcheck run`, as below).
  pm run -d --name "$name" "${ulimits[@]}" --label "$label=1" "$@" >/dev/null 2>"$tmp/run.err" ||
    { cat "$tmp/run.err" >&2; die "podman run $name failed (above)"; }
  await_startup "$name"
}
# Waits for a running container's start-up line; sets $line.
await_startup() {
  local name=$1 i
  for ((i = 0; i < startup_wait_s * 10; i++)); do
    pm logs "$name" 2>&1 | grep -q 'listening on' && break
    [ "$(pm inspect --format '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.1
  done
  line=$(pm logs "$name" 2>&1 | grep 'listening on' || true)
  [ -n "$line" ] || { pm logs "$name" >&2 || true; die "$name logged no start-up line within $startup_wait_s s (its log is above)"; }
  say "$name: $line"
}
# Exit code once stopped, or "running" after stop_wait_s.
exit_code() {
  local out
  out=$(timeout "$stop_wait_s" podman --runtime "$runc" --cgroup-manager=cgroupfs --events-backend=file wait "$1" 2>/dev/null) || out=running
  echo "$out"
}

# ---- 4. default seccomp: start-up line, PUSH/PULL/ACK, health, SIGTERM ----
phase "run with the runtime's default seccomp profile"
port=$(free_port) && loopback
start "ringq-ci-default-$run_id" "${loopback[@]}" "$image"
c=ringq-ci-default-$run_id
if [[ $line =~ IO\ backend:\ bun\ sockets\ \(epoll\):\ io_uring\ unavailable\ \(([a-z_]+)\ ([A-Z]+)\)\;\ (.+)\;\ storage: ]]; then
  default_errno="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  pass "default seccomp: the start-up line names the backend (bun sockets), the reason ($default_errno) and a remedy"
  [[ ${BASH_REMATCH[3]} == *seccomp* ]] && pass "the remedy points at a seccomp profile" ||
    fail "the remedy does not mention seccomp: ${BASH_REMATCH[3]}"
elif [[ $line == *"IO backend: io_uring"* ]]; then
  default_errno=allowed
  pass "default seccomp of this podman allows io_uring: the start-up line says io_uring"
else
  fail "start-up line under the default seccomp names neither backend with a reason: $line"
fi
[[ $line == *"listening on 127.0.0.1:$port "* ]] && pass "listens where HOST and TCP_PORT say (127.0.0.1:$port)" ||
  fail "not listening on 127.0.0.1:$port: $line"
out=$(rq call "$port" '{"cmd":"PUSH","queue":"ct","data":{"a":1}}' '{"cmd":"PULL","queue":"ct","timeout":1000}') ||
  die "PUSH/PULL on port $port failed: $out"
id=$(sed -n 1p <<<"$out" | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
pulled=$(sed -n 2p <<<"$out")
ack=$(rq call "$port" "{\"cmd\":\"ACK\",\"id\":$id}" "{\"cmd\":\"GETJOB\",\"id\":$id}" '{"cmd":"STATS"}') || die "ACK failed: $ack"
if [[ $id =~ ^[0-9]+$ && $pulled == *"\"id\":$id,"* && $pulled == *'"data":{"a":1}'* && $(sed -n 1p <<<"$ack") == '{"ok":true}' ]]; then
  pass "PUSH/PULL/ACK on 127.0.0.1:$port (job $id)"
else
  fail "PUSH/PULL/ACK on port $port: push/pull '$out', ack '$ack'"
fi
stats_backend=$(sed -n 3p <<<"$ack" | node -pe 'JSON.stringify(JSON.parse(require("fs").readFileSync(0)).io_backend)')
say "STATS io_backend: $stats_backend"
hc_out=$(pm healthcheck run "$c" 2>&1) && pass "podman healthcheck run: ${hc_out:-healthy}" || fail "health check failed: $hc_out"
[[ $line == *"HTTP on 127.0.0.1:$http_port "* ]] && pass "the start-up line names the HTTP port ($http_port)" || fail "start-up line does not name HTTP on 127.0.0.1:$http_port: $line"
ready=$(http /ready) || true
[[ $ready == "200 "*'"ready":true'* ]] && pass "GET /ready: $ready" || fail "GET /ready: $ready"
metrics=$(http /metrics) || true
[[ $metrics == "200 "*"ringq_jobs_completed_total{queue=\"ct\"} 1"* ]] && pass "GET /metrics counts the ACKed job (ringq_jobs_completed_total{queue=\"ct\"} 1)" || fail "GET /metrics: ${metrics:0:300}"
page=$(http /) || true
[[ $page == "200 "*"<!doctype html>"* ]] && pass "the dashboard is served at / from the image (no build step)" || fail "GET /: ${page:0:200}"
# ... and the health check can fail: the same check against a port nothing listens on.
hc_out=$(pm exec -e HTTP_PORT=1 "$c" bun src/health-check.ts 2>&1) && fail "health check passed with nothing on its port: $hc_out" ||
  pass "the health check fails with nothing on its port: $hc_out"
uid=$(pm exec "$c" sh -c 'awk "/^Uid:/{print \$2}" /proc/1/status')
[ "$uid" != 0 ] && [ -n "$uid" ] && pass "the server (PID 1) runs as uid $uid, not root" || fail "the server runs as uid '$uid'"
# SIGTERM while replies are owed to a client that has not read them yet.
rq owed "$port" "$tmp/go" >"$tmp/owed.out" 2>&1 &
owed_pid=$!
for _ in $(seq 1 100); do grep -q ready "$tmp/owed.out" && break; kill -0 "$owed_pid" 2>/dev/null || break; sleep 0.1; done
grep -q ready "$tmp/owed.out" || { kill "$owed_pid" 2>/dev/null || true; die "owed-replies client did not get ready: $(cat "$tmp/owed.out")"; }
# What the kernel holds of those replies: the server's send queue and the client's receive
# queue (/proc/net/tcp: one netns, the host's). The rest is still in the server's own queue.
sleep 0.3 # for the server's sends to settle into the kernel buffers
# queue_max COLUMN(2 local, 3 remote) tx|rx: the largest such queue of sockets with that port.
queue_max() { awk -v col="$1" -v p="$(printf %04X "$port")" 'NR > 1 && substr($col, index($col, ":") + 1) == p { print $5 }' /proc/net/tcp |
  { m=0; while IFS=: read -r tx rx; do v=$((16#$tx)); [ "$2" = rx ] && v=$((16#$rx)); [ "$v" -gt "$m" ] && m=$v; done; echo "$m"; }; }
server_tx=$(queue_max 2 tx)
client_rx=$(queue_max 3 rx)
pm kill --signal TERM "$c" >/dev/null
touch "$tmp/go"
owed_rc=0
wait "$owed_pid" || owed_rc=$?
if [ "$owed_rc" = 0 ]; then
  total=$(sed -n 's/^bytes //p' "$tmp/owed.out")
  beyond=$((total - server_tx - client_rx))
  pass "SIGTERM: $(grep '^owed:' "$tmp/owed.out") ($total bytes, $beyond of them not yet in any kernel buffer at SIGTERM)"
  [ "$beyond" -gt 0 ] || fail "the kernel buffers held all $total owed bytes (server $server_tx, client $client_rx): the check proves less than it says; raise n in rq.mjs"
else
  fail "SIGTERM: owed replies lost: $(cat "$tmp/owed.out")"
fi
code=$(exit_code "$c")
logs=$(pm logs "$c" 2>&1)
[ "$code" = 0 ] && [[ $logs == *"SIGTERM received"* && $logs == *"ringq: stopped"* ]] &&
  pass "SIGTERM: graceful stop, exit code 0" || fail "SIGTERM: exit code $code; log: $logs"

# ---- 5. the profile README gives users: io_uring ----
phase "run with deploy/seccomp-ringq.json"
[ -s "$profile" ] || die "no seccomp profile at $profile"
port=$(free_port) && loopback
c=ringq-ci-uring-$run_id
start "$c" "${loopback[@]}" --security-opt "seccomp=$profile" "$image"
[[ $line == *"IO backend: io_uring ("* ]] && pass "with deploy/seccomp-ringq.json the server runs on io_uring" ||
  fail "with deploy/seccomp-ringq.json the server is not on io_uring: $line"
out=$(rq call "$port" '{"cmd":"PING"}' '{"cmd":"PUSH","queue":"u","data":1}' '{"cmd":"PULL","queue":"u","timeout":1000}' '{"cmd":"STATS"}') || out="error: $out"
if [[ $(sed -n 1p <<<"$out") == *'"pong":true'* && $(sed -n 3p <<<"$out") == *'"data":1'* && $(sed -n 4p <<<"$out") == *'"io_backend":"uring"'* ]]; then
  pass "on io_uring: PING, PUSH/PULL answered, STATS io_backend \"uring\""
else
  fail "on io_uring: unexpected replies: $out"
fi
pm stop -t "$stop_wait_s" "$c" >/dev/null 2>&1
code=$(exit_code "$c")
[ "$code" = 0 ] && pass "podman stop: exit code 0" || fail "podman stop: exit code $code; log: $(pm logs "$c" 2>&1)"

# ---- 6. DATA_PATH on a volume: what was answered survives a killed container ----
phase "volume: kill a container, start another on the same volume"
pm volume create --label "$label=1" "$volume" >/dev/null
port=$(free_port) && loopback
c=ringq-ci-vol1-$run_id
start "$c" "${loopback[@]}" -v "$volume:/data" -e DATA_PATH=/data/ringq.db "$image"
[[ $line == *"storage: "*"/data/ringq.db"* ]] && pass "storage on the volume: ${line##*storage: }" || fail "storage not on /data/ringq.db: $line"
out=$(rq call "$port" '{"cmd":"PUSH","queue":"v","data":"one"}' '{"cmd":"PUSH","queue":"v","data":"two"}' \
  '{"cmd":"PUSH","queue":"v","data":"three"}' '{"cmd":"PULL","queue":"v","timeout":1000}') || die "pushes to $c failed: $out"
ids=$(head -3 <<<"$out" | node -e 'console.log(require("fs").readFileSync(0,"utf8").trim().split("\n").map(l=>JSON.parse(l).id).join(" "))')
read -r id1 id2 id3 <<<"$ids"
ack=$(rq call "$port" "{\"cmd\":\"ACK\",\"id\":$id1}") || true
[ "$ack" = '{"ok":true}' ] || fail "ACK of job $id1 before the kill: $ack"
pm kill --signal KILL "$c" >/dev/null
code=$(exit_code "$c")
[ "$code" = 137 ] && pass "container killed (SIGKILL, exit code 137) after 3 PUSHes and 1 ACK" || fail "kill: exit code $code"
port=$(free_port) && loopback
c=ringq-ci-vol2-$run_id
start "$c" "${loopback[@]}" -v "$volume:/data" -e DATA_PATH=/data/ringq.db "$image"
out=$(rq call "$port" '{"cmd":"PULL","queue":"v","timeout":1000}' '{"cmd":"PULL","queue":"v","timeout":1000}' \
  '{"cmd":"PULL","queue":"v","timeout":300}' "{\"cmd\":\"GETJOB\",\"id\":$id1}") || out="error: $out"
got=$(head -3 <<<"$out" | node -e 'console.log(require("fs").readFileSync(0,"utf8").trim().split("\n").map(l=>{const j=JSON.parse(l).job;return j?j.id+"="+j.data:"none"}).join(" "))')
if [ "$got" = "$id2=two $id3=three none" ] && [[ $(sed -n 4p <<<"$out") == *'"state":"completed"'* ]]; then
  pass "a new container on the volume has the 2 unfinished jobs back ($got) and job $id1 completed"
else
  fail "after the kill, the new container pulled '$got' (want '$id2=two $id3=three none'); GETJOB $id1: $(sed -n 4p <<<"$out")"
fi
pm stop -t "$stop_wait_s" "$c" >/dev/null 2>&1
code=$(exit_code "$c")
[ "$code" = 0 ] || fail "second volume container: podman stop exit code $code"

# ---- 7. deploy/compose.yaml as README gives it: volume, seccomp profile, health check ----
phase "deploy/compose.yaml with podman-compose"
compose_project=ringq-ci-compose-$run_id
# The image just built (compose would build the same one, without this script's CA mount), and
# an override for the host network on loopback (see loopback() above): the rest is the file's.
cat >"$tmp/compose.ci.yaml" <<'EOF'
services:
  ringq:
    network_mode: host
    environment:
      HOST: 127.0.0.1
      TCP_PORT: "${RINGQ_PORT}"
      HTTP_PORT: "${RINGQ_HTTP_PORT}"
EOF
# podman-compose 1.0.3 (Debian bookworm's) adds the project network even with network_mode,
# and podman refuses both ("cannot set multiple networks"): for that version only, the
# network_mode service gets no project network. Everything else is podman-compose's own.
cat >"$tmp/podman-compose.py" <<'EOF'
import sys
import podman_compose as pc
if pc.__version__ == "1.0.3":
    net_args, assert_nets = pc.get_net_args, pc.assert_cnt_nets
    pc.get_net_args = lambda compose, cnt: [] if cnt.get("network_mode") else net_args(compose, cnt)
    pc.assert_cnt_nets = lambda compose, cnt: None if cnt.get("network_mode") else assert_nets(compose, cnt)
sys.argv[0] = "podman-compose"
sys.exit(pc.main())
EOF
compose_py=$(sed -n '1s/^#! *//p' "$(command -v podman-compose)") # its own Python, which has the module
compose() {
  RINGQ_IMAGE=$image RINGQ_PORT=$port RINGQ_HTTP_PORT=$http_port $compose_py "$tmp/podman-compose.py" --podman-args "--runtime $runc --cgroup-manager=cgroupfs --events-backend=file" \
    --podman-run-args "${ulimits[*]} --label $label=1" -p "$compose_project" -f deploy/compose.yaml -f "$tmp/compose.ci.yaml" "$@"
}
port=$(free_port) http_port=$(free_port)
compose up -d --no-build >"$tmp/compose.log" 2>&1 || { tail -20 "$tmp/compose.log" >&2; die "podman-compose up failed (above)"; }
c=$(pm ps -a --filter "label=com.docker.compose.project=$compose_project" --format '{{.Names}}' | head -1)
[ -n "$c" ] || { tail -20 "$tmp/compose.log" >&2; die "podman-compose up started no container (above)"; }
containers+=("$c")
await_startup "$c"
[[ $line == *"IO backend: io_uring ("* && $line == *"storage: sqlite /data/ringq.db"* ]] &&
  pass "compose: io_uring (its security_opt profile) and storage on its volume" || fail "compose: want io_uring and sqlite /data/ringq.db: $line"
out=$(rq call "$port" '{"cmd":"PUSH","queue":"c","data":"composed"}' '{"cmd":"PULL","queue":"c","timeout":1000}') || out="error: $out"
[[ $(sed -n 2p <<<"$out") == *'"data":"composed"'* ]] && pass "compose: PUSH/PULL on 127.0.0.1:$port" || fail "compose: PUSH/PULL: $out"
hc_out=$(pm healthcheck run "$c" 2>&1) && pass "compose: health check ${hc_out:-healthy}" || fail "compose: health check: $hc_out"
ready=$(http /ready) || true
[[ $ready == "200 "* ]] && pass "compose: GET /ready on 127.0.0.1:$http_port" || fail "compose: GET /ready: $ready"
compose stop >>"$tmp/compose.log" 2>&1 || true
code=$(exit_code "$c")
[ "$code" = 0 ] && pass "compose stop: exit code 0" || fail "compose stop: exit code $code; log: $(pm logs "$c" 2>&1)"
compose down -v >>"$tmp/compose.log" 2>&1 || fail "podman-compose down -v failed: $(tail -5 "$tmp/compose.log")"
pm network rm -f "${compose_project}_default" >/dev/null 2>&1 || true
compose_project=""

phase "done"
say "podman's default seccomp profile: ${default_errno:-unknown}; Docker's default (>= 25) gives EPERM (not run here: no Docker engine)"
say "image $image: $((size / 1000000)) MB; container step took $((SECONDS - t0)) s"
say "$passed passed, $failed failed"
[ "$failed" = 0 ]
