# syntax=docker/dockerfile:1
# The rotator image: the compiled CLI (dist/) and production dependencies on Node 24 LTS slim (the version
# .node-version pins for the clone, scripts/bootstrap.sh), run as a non-root uid.
#   docker build -t rotator:local .
#   docker run --rm rotator:local --help
#   docker run --rm -e ROTATOR_CONFIG=/etc/rotator/rotator.yaml -v "$PWD/rotator.yaml:/etc/rotator/rotator.yaml:ro" rotator:local worker
# The worker bundles the workflows from dist/workflows when it starts (webpack and swc come with @temporalio/worker,
# a production dependency), in memory: the root filesystem can be read-only.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# --- build: all dependencies, then tsc -p tsconfig.build.json into dist/ -----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY activities ./activities
COPY workflows ./workflows
COPY workers ./workers
RUN npm run build

# --- deps: production dependencies only (no TypeScript, jest, eslint) ---------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime: compiled JavaScript, production node_modules, package.json (the CLI finds its root by it) ------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Where docker-compose.yml keeps the payload key (its volume takes this directory's owner); nothing else is writable.
RUN mkdir -p /var/lib/rotator && chown 10001:10001 /var/lib/rotator
# A numeric uid and gid, so Kubernetes' runAsNonRoot can verify them without reading /etc/passwd; owns nothing here.
USER 10001:10001
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
