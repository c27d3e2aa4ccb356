# rbuddy container image. Built and run with a Docker engine by `npm run image:smoke`
# (scripts/image-smoke.sh and .ts; its last output is in docs/operations.md, "The container
# image"), and its runtime stage is replayed without an engine by
# test/functional/image-runtime.test.ts: production dependencies only, its ENV, ENTRYPOINT and
# HEALTHCHECK, and SIGTERM.
#
#   docker build -t rbuddy .
#   docker run --rm -e RBUDDY_MASTER=… -e RBUDDY_ACTIVE=… -e RBUDDY_STANDBY=… \
#     -e RBUDDY_ANNOUNCE=<address the replicas reach>:6382 -v rbuddy-state:/var/lib/rbuddy rbuddy
# Configuration (docs/configuration.md): rbuddy's precedence is defaults < config file < RBUDDY_*
# environment < flags. The image's own defaults (listeners on every interface, the state volume)
# are the config file config/container.json, so anything the operator sets wins over them: a
# RBUDDY_* variable or flag overrides one value, and a config file of their own (--config or
# RBUDDY_CONFIG) replaces config/container.json whole (see the ENV line below). Secrets such as
# RBUDDY_MASTER_PASSWORD belong in the environment (or a secret), never in the command line.

# --- build: dev dependencies + TypeScript → dist/ ---------------------------------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Some npm versions print an error and still exit 0 from `npm ci`, leaving no node_modules: the
# hidden lockfile npm writes after a complete install is the proof it finished.
RUN npm ci --no-audit --no-fund && test -f node_modules/.package-lock.json
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and dist/ only -----------------------------------------
FROM node:20-slim AS runtime
# package.json's version (test/unit/image-files.test.ts keeps them equal). Where the source lives
# is not guessed here: `docker build --label org.opencontainers.image.source=<repository URL>`
# adds it (npm run image:smoke does, from package.json's "repository" when it names one);
# without it the image has no source label.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="rbuddy" \
      org.opencontainers.image.description="Replication proxy for Redis: keeps the replica your applications read serving while a standby takes the full resync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && test -f node_modules/.package-lock.json \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config

# The state dir holds the roles and the epoch: mount a volume there so it survives restarts.
RUN mkdir -p /var/lib/rbuddy && chown node:node /var/lib/rbuddy
VOLUME ["/var/lib/rbuddy"]

# The image's defaults are a config file, config/container.json (both listeners on every
# interface, the state volume), named by RBUDDY_CONFIG. They rank where a config file does:
# RBUDDY_* variables and flags override them, and a config file of the operator's own
# (`--config FILE`, or RBUDDY_CONFIG=FILE) replaces it whole, so every value in that file wins;
# settings the operator's file leaves out fall back to rbuddy's built-in defaults (127.0.0.1
# listeners, ./rbuddy-state), so copy the three keys of config/container.json into it. Set
# RBUDDY_ANNOUNCE to the address the replicas reach rbuddy at (the default, 127.0.0.1:6382, only
# works for replicas in the same network namespace, e.g. a Kubernetes sidecar).
ENV RBUDDY_CONFIG=/app/config/container.json
EXPOSE 6382 9999

USER node

# GET /healthz on the admin listener the running rbuddy configured: src/healthcheck.ts reads PID 1's
# argv and environment (/proc/1) and loads them as rbuddy did, so flags (`docker run rbuddy --http
# …`), RBUDDY_* and a config file all count; loopback for a wildcard, HTTPS when the admin listener
# has a certificate. A fixed port is needed (port 0 fails with a message saying so). No curl in
# slim images.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]

# rbuddy handles SIGTERM itself (listeners close, sessions end, exit 0; it gives up after 8 s and
# exits 1): inside the grace before SIGKILL. Docker's default is 10 s (`docker stop -t 30`,
# `docker run --stop-timeout 30`, compose's stop_grace_period give more); Kubernetes' is 30 s
# (terminationGracePeriodSeconds). Run as PID 1 directly, not through npm.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
