#!/usr/bin/env bash
# Installs what ringq needs on a Debian machine that has node, npm and gcc:
# liburing-dev from apt (for the io_uring shim; skipped with a note when apt is not usable)
# and the npm dependencies, Bun among them. Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/include/liburing.h ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing liburing-dev (apt) for the io_uring backend" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev >/dev/null
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev >/dev/null
  else
    echo "setup: liburing-dev not installed and apt unavailable; ringq will use Bun sockets (install liburing-dev to enable io_uring)" >&2
  fi
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
