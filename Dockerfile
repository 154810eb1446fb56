# ringq in a container. Two stages on the same Debian release, so the shim and the runtime agree
# on glibc (the .so needs GLIBC_2.34 symbols; oven/bun's slim images have moved between Debian
# releases, so the runtime is plain bookworm-slim with Bun taken from npm instead):
#   build   - gcc + liburing-dev; npm ci (Bun comes from npm, pinned by package-lock.json);
#             builds the io_uring shim with liburing linked statically (the .so needs only libc);
#             keeps the Bun binary and the production dependencies.
#   runtime - bookworm-slim + Bun + the .so + src + production node_modules; no compiler, and
#             `bun run start` finds the shim up to date.
# io_uring under Docker needs a seccomp profile that allows it (README.md, "Docker"); without
# one the server falls back to Bun sockets and says so in its start-up line.
# Checked offline by scripts/check-dockerfile.sh (Docker is not needed for that).

FROM node:20-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev liburing-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY ffi/build.ts ffi/ringq_uring.c ffi/ringq_uring.h ffi/
# build.ts never fails its caller (it falls back instead); in an image build a missing shim is an error.
RUN npx bun ffi/build.ts && test -s ffi/build/libringq_uring.so
# The real Bun binary (npm's bun package resolves it for this architecture), before the prune drops it.
RUN mkdir -p runtime-bin && cp -L node_modules/.bin/bun runtime-bin/bun && runtime-bin/bun --version
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM debian:bookworm-slim AS runtime
# /data: where DATA_PATH should point (a volume); owned by the server's user so it can write.
RUN useradd --system --uid 1000 --user-group --create-home ringq \
 && mkdir -p /data && chown ringq:ringq /data
COPY --from=build /app/runtime-bin/bun /usr/local/bin/bun
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules node_modules
COPY src src
COPY ffi/build.ts ffi/
COPY --from=build /app/ffi/build/libringq_uring.so ffi/build/
# Newer than ffi/build.ts whatever the layer mtimes: `start` runs build.ts --if-stale, and a
# stale verdict here would try to compile without a compiler.
RUN touch ffi/build/libringq_uring.so
ENV NODE_ENV=production HOST=0.0.0.0 TCP_PORT=6789
USER ringq
# 6789: the flashQ protocol (TCP). 6790: HTTP (REST, metrics), same port as flashQ's.
EXPOSE 6789 6790
CMD ["bun", "run", "start"]
