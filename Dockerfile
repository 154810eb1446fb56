# ringq in a container, built from Debian images alone (no node or oven/bun base), so it builds
# with Docker or podman wherever debian:bookworm-slim can be had (Docker Hub, or made locally
# with debootstrap as scripts/container-test.sh does). Two stages on the same Debian release, so
# the shim and the runtime agree on glibc:
#   build   - Debian's gcc, liburing-dev, nodejs and npm; npm ci (Bun comes from npm, pinned by
#             package-lock.json); the io_uring shim with liburing linked statically (needs only
#             libc); keeps the Bun binary and the production dependencies.
#   runtime - bookworm-slim + Bun + the .so + src + production node_modules; no compiler, no
#             npm, no node. Unprivileged user ringq (uid 1000), /data as the volume.
# io_uring needs a seccomp profile that allows it (deploy/seccomp-ringq.json, README "Docker");
# without one the server runs on Bun sockets and its start-up line says why.
# Podman keeps the HEALTHCHECK only with `podman build --format docker` (OCI images have none).
# Built, run and checked for real by scripts/container-test.sh.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates gcc libc6-dev liburing-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY ffi/build.ts ffi/ringq_uring.c ffi/ringq_uring.h ffi/
# build.ts never fails its caller (it falls back instead); in an image build a missing shim is an error.
RUN node_modules/.bin/bun ffi/build.ts && test -s ffi/build/libringq_uring.so
# The real Bun binary (npm's bun package resolved it for this architecture), before the prune drops it.
RUN mkdir -p runtime-bin && cp -L node_modules/.bin/bun runtime-bin/bun && runtime-bin/bun --version
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM debian:bookworm-slim AS runtime
# /data: where DATA_PATH should point; owned by the server's user so it can write there.
RUN useradd --system --uid 1000 --user-group --create-home ringq \
 && mkdir -p /data && chown ringq:ringq /data
COPY --from=build /app/runtime-bin/bun /usr/local/bin/bun
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY package.json ./
COPY src src
COPY --from=build /app/ffi/build/libringq_uring.so ffi/build/
ENV NODE_ENV=production HOST=0.0.0.0 TCP_PORT=6789 HTTP_PORT=6790
USER ringq
VOLUME /data
# 6789: the flashQ protocol (TCP). 6790: HTTP (REST, events, /metrics, probes, dashboard), the
# same port as flashQ's.
EXPOSE 6789 6790
# GET /ready (src/health-check.ts, bounded at 2 s): healthy once storage is recovered and the
# protocol port listens; with HTTP off (HTTP_PORT=0, NO_HTTP=1) a protocol PING instead. The
# start period covers recovering a big database (failures in it do not count; the first pass
# ends it).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["bun", "src/health-check.ts"]
# The server itself is PID 1, not `bun run start`: the shim was built above and there is no
# compiler to rebuild it, and no shell or second Bun stands between `docker stop`'s SIGTERM
# and the server's graceful stop (owed replies sent, exit 0).
CMD ["bun", "src/main.ts"]
