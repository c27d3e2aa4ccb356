# rbuddy container image. Not built on the machine this was written on (no Docker engine there):
# its build steps are exactly the ones the test suite exercises — `npm ci`, `npm run build`
# and `node dist/cli.js` — and test/functional/image-runtime.test.ts replays them: the runtime
# stage with production dependencies only, its ENV, ENTRYPOINT and HEALTHCHECK, and SIGTERM.
#
#   docker build -t rbuddy .
#   docker run --rm -e RBUDDY_MASTER=… -e RBUDDY_ACTIVE=… -e RBUDDY_STANDBY=… \
#     -e RBUDDY_ANNOUNCE=<address the replicas reach>:6382 -v rbuddy-state:/var/lib/rbuddy rbuddy
# Configuration: RBUDDY_* environment variables (docs/configuration.md); secrets such as
# RBUDDY_MASTER_PASSWORD belong in the environment (or a secret), never in the command line.

# --- build: dev dependencies + TypeScript → dist/ ---------------------------------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and dist/ only -----------------------------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config

# The state dir holds the roles and the epoch: mount a volume there so it survives restarts.
RUN mkdir -p /var/lib/rbuddy && chown node:node /var/lib/rbuddy
VOLUME ["/var/lib/rbuddy"]

# Inside a container both listeners must bind every interface; set RBUDDY_ANNOUNCE to the
# address the replicas reach rbuddy at (the default, 127.0.0.1:6382, only works for replicas in
# the same network namespace, e.g. a Kubernetes sidecar).
ENV RBUDDY_LISTEN=0.0.0.0:6382 \
    RBUDDY_HTTP=0.0.0.0:9999 \
    RBUDDY_STATE_DIR=/var/lib/rbuddy
EXPOSE 6382 9999

USER node

# No curl in slim images: node's own fetch, on the port of RBUDDY_HTTP.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.RBUDDY_HTTP||'').split(':').pop()||'9999';fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# rbuddy handles SIGTERM itself (listeners close, sessions end, exit 0; it gives up after 10 s):
# well inside Docker's and Kubernetes' default 30 s grace. Run as PID 1 directly, not through npm.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
