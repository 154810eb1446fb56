#!/usr/bin/env bash
# Installs what ringq needs on a Debian machine that has node, npm and gcc:
# liburing-dev from apt (for the io_uring shim; skipped with a note when apt is not usable),
# for the tests chromium (the dashboard's browser tests, driven by playwright-core: no browser
# download) and python3-prometheus-client (the reference parser /metrics is checked with),
# and the npm dependencies, Bun among them. Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl makes the test certificate of the TLS tests; Debian usually has it already.
need=""
[ -f /usr/include/liburing.h ] || need="$need liburing-dev"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
[ -x /usr/bin/chromium ] || need="$need chromium"
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || need="$need python3-prometheus-client"
if [ -n "$need" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing$need (apt): liburing-dev for the io_uring backend, openssl for the TLS tests, chromium and python3-prometheus-client for the HTTP tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
  else
    echo "setup:$need not installed and apt unavailable; without liburing-dev ringq uses Bun sockets, without openssl the TLS tests skip, without chromium and python3-prometheus-client the browser and metrics tests fail" >&2
  fi
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
