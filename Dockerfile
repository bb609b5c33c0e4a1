# syntax=docker/dockerfile:1
# One image recipe for every Gavel service, chosen by build argument. Build context is the
# repository root:
#   docker build --build-arg SERVICE=api --build-arg PORT=8080 -t gavel/api:dev .
# `npm run images` (ECR) and scripts/kind-up.sh (kind) pass both for each of the four services.
#
# Node 26, the current LTS line (Active LTS since October 2026; the test suite also passes on it),
# on Debian trixie-slim, pinned to a patch release so a rebuild gets the same runtime. glibc rather
# than musl so the optional native addons of ws (bufferutil, utf-8-validate) load their prebuilt
# binaries instead of needing a compiler. Pin by digest too when promoting to production.
ARG NODE_IMAGE=node:26.10.0-trixie-slim

# Every workspace manifest, because npm ci checks the lockfile against all of them.
FROM ${NODE_IMAGE} AS manifests
ARG SERVICE
RUN case "${SERVICE}" in api|broadcast|archival|latency) ;; \
      *) echo "build with --build-arg SERVICE=api|broadcast|archival|latency (got '${SERVICE}')" >&2; exit 1 ;; \
    esac
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY packages/shared/package.json packages/shared/
COPY services/api/package.json services/api/
COPY services/archival/package.json services/archival/
COPY services/broadcast/package.json services/broadcast/
COPY services/latency/package.json services/latency/
COPY clients/cli/package.json clients/cli/
COPY charts-ts/package.json charts-ts/
COPY platform/package.json platform/

# Compile @gavel/shared and the service with the root's TypeScript, then gather what the service
# runs: its package.json, dist/ and whichever runtime assets it has (the api's web page in
# public/, archival's SQL migrations in migrations/).
FROM manifests AS build
ARG SERVICE
RUN npm ci --workspace packages/shared --workspace "services/${SERVICE}" --include-workspace-root \
      --ignore-scripts --no-audit --no-fund
COPY packages/shared/ packages/shared/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN npm run build --workspace packages/shared --workspace "services/${SERVICE}" \
 && mkdir -p /out \
 && cp -r "services/${SERVICE}/package.json" "services/${SERVICE}/dist" /out/ \
 && for assets in public migrations; do \
      if [ -d "services/${SERVICE}/${assets}" ]; then cp -r "services/${SERVICE}/${assets}" /out/; fi; \
    done

# Production dependencies only, installed from the lockfile (no dev tools in the final image).
FROM manifests AS deps
ARG SERVICE
RUN npm ci --omit=dev --workspace packages/shared --workspace "services/${SERVICE}" \
      --ignore-scripts --no-audit --no-fund \
 && mkdir -p packages/shared/node_modules "services/${SERVICE}/node_modules"

FROM ${NODE_IMAGE}
ARG SERVICE
ARG PORT
RUN test -n "${PORT}" || { echo "build with --build-arg PORT=<the service's port>" >&2; exit 1; }
# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it (charts-ts runs as 10001).
RUN groupadd --gid 10001 gavel \
 && useradd --uid 10001 --gid gavel --no-create-home --shell /usr/sbin/nologin gavel
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/packages/shared/node_modules ./packages/shared/node_modules
COPY --from=build /app/packages/shared/package.json ./packages/shared/
COPY --from=build /app/packages/shared/dist ./packages/shared/dist
COPY --from=deps /app/services/${SERVICE}/node_modules ./services/${SERVICE}/node_modules
COPY --from=build /out/ ./services/${SERVICE}/
WORKDIR /app/services/${SERVICE}
# Read only by the HEALTHCHECK below; each service listens on its own default port.
ENV GAVEL_HEALTH_PORT=${PORT}
USER 10001:10001
EXPOSE ${PORT}
# Used by docker run / compose; Kubernetes uses the probes of the manifests instead. (The latency
# image also runs the load client: `node dist/cli.js run --target ... --loop`.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.GAVEL_HEALTH_PORT + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 (exec form, no npm or shell in between), so SIGTERM reaches the
# service's shutdown handler directly and the drain runs. The tracing bootstrap loads first (it
# must, to patch the modules it traces); it does nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
ENTRYPOINT ["node", "--import", "@gavel/shared/telemetry", "dist/main.js"]
