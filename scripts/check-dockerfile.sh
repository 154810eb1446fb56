#!/usr/bin/env bash
# Checks the Dockerfile on a machine without Docker: parses it, checks every COPY source exists
# in the build context and is not excluded by .dockerignore, replays the build stage in a temp
# dir (the shim really gets compiled; apt-get and npm ci are stood in for by this machine's
# liburing-dev and node_modules), checks the .so needs only libc, lays out the runtime stage
# and starts the server from it with the image's CMD. It cannot check the base images exist.
# Usage: scripts/check-dockerfile.sh [path/to/Dockerfile]   (the context is the repo root)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$(cd "$(dirname "${1:-$root/Dockerfile}")" && pwd)/$(basename "${1:-$root/Dockerfile}")
ctx=$root
fails=0
fail() { echo "check-dockerfile: FAIL: $*" >&2; fails=$((fails + 1)); }
die() { echo "check-dockerfile: FAIL: $*" >&2; exit 1; }
ok() { echo "check-dockerfile: ok: $*"; }
note() { echo "check-dockerfile: note: $*"; }

[ -f "$dockerfile" ] || die "no Dockerfile at $dockerfile"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringq-dockerfile.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- 1. parse: one instruction per line (continuations joined, comments dropped) ----
mapfile -t lines < <(awk '
  { sub(/\r$/, "") }
  /^[ \t]*#/ { next }
  {
    if ($0 ~ /\\[ \t]*$/) { l = $0; sub(/\\[ \t]*$/, "", l); cont = cont l " "; next }
    l = cont $0; cont = ""
    if (l ~ /^[ \t]*$/) next
    sub(/^[ \t]+/, "", l); print l
  }' "$dockerfile")

declare -A arg_default=()
stage_count=0
declare -a stage_name=() stage_image=() stage_workdir=()
declare -a instr_stage=() instr_kind=() instr_args=()
for l in "${lines[@]}"; do
  kind=${l%%[[:space:]]*}
  kind=${kind^^}
  rest=${l#*[[:space:]]}
  [ "$rest" = "$l" ] && rest=""
  if [ "$kind" = ARG ] && [ "$stage_count" = 0 ]; then
    name=${rest%%=*}
    [[ $rest == *=* ]] && arg_default[$name]=${rest#*=} || arg_default[$name]=""
    continue
  fi
  if [ "$kind" = FROM ]; then
    image=${rest%%[[:space:]]*}
    for a in "${!arg_default[@]}"; do image=${image//\$\{$a\}/${arg_default[$a]}}; image=${image//\$$a/${arg_default[$a]}}; done
    name=""
    if [[ ${rest,,} =~ [[:space:]]as[[:space:]]+([^[:space:]]+) ]]; then name=${BASH_REMATCH[1]}; fi
    stage_image[$stage_count]=$image
    stage_name[$stage_count]=${name:-$stage_count}
    stage_workdir[$stage_count]=/
    stage_count=$((stage_count + 1))
    continue
  fi
  [ "$stage_count" -gt 0 ] || die "instruction before the first FROM: $l"
  s=$((stage_count - 1))
  [ "$kind" = WORKDIR ] && stage_workdir[$s]=$rest
  instr_stage+=("$s"); instr_kind+=("$kind"); instr_args+=("$rest")
done

[ "$stage_count" -ge 2 ] || fail "want a multi-stage build (build + runtime), found $stage_count stage(s)"
build=0
runtime=$((stage_count - 1))
ok "parsed $stage_count stages: $(for i in $(seq 0 $((stage_count - 1))); do printf '%s=%s ' "${stage_name[$i]}" "${stage_image[$i]}"; done)"

# Everything of one kind in one stage, one per line.
of() { local s=$1 k=$2 i; for i in "${!instr_kind[@]}"; do [ "${instr_stage[$i]}" = "$s" ] && [ "${instr_kind[$i]}" = "$k" ] && printf '%s\n' "${instr_args[$i]}"; done; return 0; }

# ---- 2. what each stage must do ----
[[ ${stage_image[$build]} =~ (debian|bookworm|bullseye|trixie) ]] || fail "build stage should be Debian-based, is ${stage_image[$build]}"
runs=$(of $build RUN)
grep -q 'apt-get install.*liburing-dev' <<<"$runs" || fail "build stage does not apt-get install liburing-dev"
grep -q 'apt-get install.*gcc' <<<"$runs" || fail "build stage does not apt-get install gcc"
grep -q 'npm ci' <<<"$runs" || fail "build stage does not install dependencies with npm ci"
grep -q 'bun ffi/build.ts' <<<"$runs" || fail "build stage does not build the shim with bun ffi/build.ts"
[ -f "$ctx/package-lock.json" ] || fail "npm ci needs package-lock.json"
bun_dep=$(node -p 'require(process.argv[1]).devDependencies.bun' "$ctx/package.json")
if [[ ${stage_image[$runtime]} =~ ^oven/bun:([0-9][^-]*) ]]; then
  [ "${BASH_REMATCH[1]}" = "$bun_dep" ] && ok "runtime image ${stage_image[$runtime]} matches the bun devDependency $bun_dep" ||
    fail "runtime image ${stage_image[$runtime]} but package.json pins bun $bun_dep"
elif of $runtime COPY | grep -Eq -- '--from=[^ ]+ .*bun[^ ]* /usr/local/bin/bun$'; then
  ok "runtime takes the Bun binary from an earlier stage (npm's bun, pinned by package-lock.json)"
else
  fail "runtime stage gets Bun neither from oven/bun nor from the build stage"
fi
# The shim is linked against the build stage's glibc; the runtime must have at least that one.
distro() { grep -oE 'buster|bullseye|bookworm|trixie|forky' <<<"$1" || true; }
d_build=$(distro "${stage_image[$build]}") d_rt=$(distro "${stage_image[$runtime]}")
if [ -n "$d_build" ] && [ -n "$d_rt" ]; then
  [ "$d_build" = "$d_rt" ] && ok "both stages on Debian $d_build (the shim's glibc is the runtime's)" ||
    fail "build stage on Debian $d_build but runtime on $d_rt: the shim may need a newer glibc than the runtime has"
else
  note "cannot tell the Debian release of ${stage_image[$runtime]} offline; it must have the glibc the shim needs (below)"
fi
expose=" $(of $runtime EXPOSE | tr '\n' ' ') "
for p in 6789 6790; do [[ $expose == *" $p "* ]] || fail "runtime stage does not EXPOSE $p"; done
env_rt=$(of $runtime ENV)
grep -Eq '(^|[[:space:]])HOST=0\.0\.0\.0([[:space:]]|$)' <<<"$env_rt" || fail "runtime stage does not set HOST=0.0.0.0"
cmd=$(of $runtime CMD | tail -1)
case "$cmd" in
  '["bun", "run", "start"]' | '["bun","run","start"]' | 'bun run start') ok "CMD $cmd" ;;
  *) fail "CMD should run 'bun run start', is: ${cmd:-none}" ;;
esac
node -e 'process.exit(require(process.argv[1]).scripts?.start ? 0 : 1)' "$ctx/package.json" || fail "package.json has no start script"

# ---- 3. COPY sources: present in the context and not excluded by .dockerignore ----
mapfile -t ignores < <([ -f "$ctx/.dockerignore" ] && grep -Ev '^[[:space:]]*(#|$)' "$ctx/.dockerignore" | sed 's:^/::; s:/$::' || true)
ignored() {
  local p=${1#./} pat
  p=${p%/}
  for pat in "${ignores[@]}"; do
    [[ $pat == !* ]] && continue
    # shellcheck disable=SC2053 # glob match on purpose
    if [[ $p == $pat || $p == $pat/* ]]; then return 0; fi
  done
  return 1
}
# Splits a COPY's arguments into: from-stage (or empty), sources..., dest.
copy_parts() {
  local args=$1 from=""
  if [[ $args == \[* ]]; then args=$(node -p 'JSON.parse(process.argv[1]).join(" ")' "$args"); fi
  local -a w
  read -ra w <<<"$args"
  local -a kept=()
  for x in "${w[@]}"; do
    case "$x" in
      --from=*) from=${x#--from=} ;;
      --*) ;;
      *) kept+=("$x") ;;
    esac
  done
  printf '%s\n' "$from" "${kept[@]}"
}
for i in "${!instr_kind[@]}"; do
  [ "${instr_kind[$i]}" = COPY ] || [ "${instr_kind[$i]}" = ADD ] || continue
  mapfile -t parts < <(copy_parts "${instr_args[$i]}")
  from=${parts[0]}
  [ -z "$from" ] || continue
  n=${#parts[@]}
  for ((k = 1; k < n - 1; k++)); do
    src=${parts[$k]}
    if [ ! -e "$ctx/$src" ]; then fail "COPY source '$src' does not exist in the build context"
    elif ignored "$src"; then fail "COPY source '$src' is excluded by .dockerignore"
    else ok "COPY source $src exists"
    fi
  done
done

[ "$fails" = 0 ] || die "$fails problem(s) above"

# ---- 4. replay the stages in temp dirs ----
# Maps an image path to the replay dir of a stage (WORKDIR becomes the dir itself).
host_path() {
  local s=$1 p=$2 wd=${stage_workdir[$1]}
  [[ $p == /* ]] || p=$wd/$p
  p=${p%/.}
  case "$p" in
    "$wd") echo "$tmp/stage$s" ;;
    "$wd"/*) echo "$tmp/stage$s/${p#"$wd"/}" ;;
    *) echo "$tmp/stage$s/.root$p" ;;
  esac
}
stage_index() { local i; for i in $(seq 0 $((stage_count - 1))); do [ "${stage_name[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo ""; }

# Production packages only, as `npm prune --omit=dev` would leave them.
prod_modules() {
  local dest=$1 p
  rm -rf "$dest"
  mkdir -p "$dest"
  while read -r p; do
    [ "$p" = "$ctx" ] && continue
    mkdir -p "$dest/$(dirname "${p#"$ctx"/node_modules/}")"
    cp -a "$p" "$dest/${p#"$ctx"/node_modules/}"
  done < <(cd "$ctx" && npm ls --omit=dev --all --parseable 2>/dev/null)
}

replay_stage() {
  local s=$1 i kind args dir
  mkdir -p "$tmp/stage$s"
  for i in "${!instr_kind[@]}"; do
    [ "${instr_stage[$i]}" = "$s" ] || continue
    kind=${instr_kind[$i]} args=${instr_args[$i]}
    case "$kind" in
      COPY | ADD)
        mapfile -t parts < <(copy_parts "$args")
        local from=${parts[0]} n=${#parts[@]} dest srcroot k src target
        dest=$(host_path "$s" "${parts[$((n - 1))]}")
        if [ -n "$from" ]; then
          local fs; fs=$(stage_index "$from")
          [ -n "$fs" ] && [ "$fs" -lt "$s" ] || { fail "COPY --from=$from: no earlier stage of that name"; continue; }
        fi
        for ((k = 1; k < n - 1; k++)); do
          src=${parts[$k]}
          if [ -n "$from" ]; then src=$(host_path "$fs" "$src"); else src=$ctx/$src; fi
          [ -e "$src" ] || { fail "$kind ${args}: '$src' missing when replayed"; continue; }
          if [[ ${parts[$((n - 1))]} == */ ]] || [ "$n" -gt 3 ] || [ -d "$src" ]; then
            mkdir -p "$dest"
            if [ -d "$src" ]; then cp -a "$src/." "$dest/"; else cp -a "$src" "$dest/"; fi
          else
            mkdir -p "$(dirname "$dest")"
            cp -a "$src" "$dest"
          fi
        done
        ;;
      RUN)
        dir=$tmp/stage$s
        if [[ $args == *apt-get* ]]; then
          if [[ $args == *liburing-dev* ]] && [ ! -f /usr/include/liburing.h ]; then
            fail "this machine lacks liburing-dev, so the shim build cannot be replayed"
          fi
          note "skipped (root + network): RUN ${args:0:60}..."
        elif [[ $args == *"npm ci"* ]]; then
          ln -sfn "$ctx/node_modules" "$dir/node_modules"
          note "npm ci stood in for by this checkout's node_modules"
        elif [[ $args == *"npm prune"* ]]; then
          rm -f "$dir/node_modules"
          prod_modules "$dir/node_modules"
          note "npm prune --omit=dev replayed: production packages only ($(cd "$ctx" && npm ls --omit=dev --depth=0 --parseable 2>/dev/null | tail -n +2 | sed "s:.*/node_modules/::" | tr '\n' ' '))"
        elif [[ $args == *chown* || $args == *useradd* || $args == *adduser* ]]; then
          note "skipped (root): RUN $args"
        else
          (cd "$dir" && PATH="$ctx/node_modules/.bin:$PATH" bash -euo pipefail -c "$args") >"$tmp/run.log" 2>&1 ||
            { cat "$tmp/run.log" >&2; fail "RUN $args: failed when replayed"; continue; }
          ok "replayed RUN $args"
        fi
        ;;
    esac
  done
}

for s in $(seq 0 $((stage_count - 1))); do replay_stage "$s"; done
[ "$fails" = 0 ] || die "$fails problem(s) above"

# ---- 5. the shim: built, needs only libc, exports the entry points ----
so=$(host_path $runtime ffi/build/libringq_uring.so)
[ -s "$so" ] || die "runtime stage has no ffi/build/libringq_uring.so"
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[ "$needed" = "libc.so.6 " ] && ok "shim NEEDED: $needed(liburing linked statically)" || fail "shim must need only libc.so.6, needs: $needed"
ldd "$so" | grep -q 'not found' && fail "ldd: unresolved libraries: $(ldd "$so" | grep 'not found')"
for sym in ringq_probe ringq_create ringq_run; do
  nm -D --defined-only "$so" | grep -qw "$sym" || fail "shim does not export $sym"
done
glibc_max=$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
ok "shim exports ringq_probe/create/run; newest libc symbol it needs: ${glibc_max:-none} (the runtime base must have at least that glibc)"

# ---- 6. start the server from the runtime layout with the image's CMD ----
rt=$tmp/stage$runtime
[ -f "$rt/package.json" ] && [ -d "$rt/src" ] && [ -d "$rt/node_modules" ] || die "runtime stage lacks package.json, src or node_modules"
[ ! -e "$rt/node_modules/bun" ] || fail "runtime node_modules holds the bun devDependency (npm prune --omit=dev missing?)"
run_cmd=$cmd
if [[ $run_cmd == \[* ]]; then run_cmd=$(node -p 'JSON.parse(process.argv[1]).join(" ")' "$run_cmd"); fi
log=$tmp/server.log
# Bun as the image has it: copied into the runtime stage, or (oven/bun base) this machine's.
rt_path=$PATH
if [ -x "$rt/.root/usr/local/bin/bun" ]; then rt_path=$rt/.root/usr/local/bin:$PATH; else rt_path=$ctx/node_modules/.bin:$PATH; fi
bun_version=$(PATH=$rt_path bun --version)
[ "$bun_version" = "$bun_dep" ] && ok "runtime bun --version: $bun_version ($(PATH=$rt_path command -v bun))" || fail "runtime Bun is $bun_version, package.json pins $bun_dep"
# In a container the CMD is PID 1, which gets no signal it has no handler for: where this
# machine allows (root, unshare), run it as PID 1 of a fresh PID namespace, as Docker would.
as_pid1=""
if [ "$(id -u)" = 0 ] && unshare --pid --fork --kill-child --mount-proc true 2>/dev/null; then as_pid1=1; fi
# The image's ENV, but loopback and a free port: this is a smoke run, not a deployment. With a
# DATA_PATH, as README.md's Docker section suggests, so the SQLite path runs from this layout.
mkdir -p "$tmp/data"
(
  cd "$rt"
  while read -r kv; do for e in $kv; do export "${e?}"; done; done <<<"$env_rt"
  export HOST=127.0.0.1 TCP_PORT=0 PATH=$rt_path DATA_PATH=$tmp/data/ringq.db
  # shellcheck disable=SC2086 # the CMD's words
  if [ -n "$as_pid1" ]; then exec unshare --pid --fork --kill-child --mount-proc $run_cmd; else exec $run_cmd; fi
) >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q 'listening on' "$log" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q 'listening on' "$log" || { cat "$log" >&2; die "the runtime layout did not start the server"; }
startup=$(grep 'listening on' "$log")
ok "runtime layout starts: ${startup#*; }"
grep -q '^ffi:' "$log" && fail "start tried to rebuild the shim in the runtime image: $(grep '^ffi:' "$log")"
grep -q 'shim not loadable' "$log" && fail "the runtime layout cannot load its shim: $startup"
if [[ $startup != *"IO backend: io_uring"* ]]; then note "io_uring not used here (kernel or sandbox): ${startup#*IO backend: }"; fi
# What `docker stop` does: SIGTERM to the CMD process only (`bun run` must pass it on).
target=$server_pid
if [ -n "$as_pid1" ]; then target=$(pgrep -P "$server_pid" | head -1); fi
[ -n "$target" ] || die "cannot find the CMD process to signal"
kill -TERM "$target" 2>/dev/null || true
for _ in $(seq 1 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
  kill -9 "$server_pid" 2>/dev/null || true
  fail "SIGTERM to the CMD process was ignored for 15 s (docker stop would SIGKILL it)"
fi
code=0
wait "$server_pid" || code=$?
server_pid=""
grep -q 'ringq: stopped' "$log" || fail "SIGTERM to the CMD process did not stop the server gracefully; log: $(cat "$log")"
[ -s "$tmp/data/ringq.db" ] || fail "no SQLite file at DATA_PATH after the run"
[ "$code" = 0 ] && ok "SIGTERM to the CMD${as_pid1:+ running as PID 1}: graceful stop, exit 0" || fail "SIGTERM: exit $code; log: $(cat "$log")"

[ "$fails" = 0 ] || die "$fails problem(s) above"
echo "check-dockerfile: OK (Dockerfile checked without Docker; base images and apt/npm network steps not exercised)"
