# syntax=docker/dockerfile:1
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY examples ./examples
COPY migrations ./migrations
RUN npx nest build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# The demo's sample folder (used when COLLECTIONS is not set).
COPY --from=build --chown=node:node /app/examples/pipeline/sample ./examples/pipeline/sample
COPY --chown=node:node package.json ./
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD curl -fs http://127.0.0.1:${PORT}/health/live || exit 1
# Migrations first (under an advisory lock: replicas may start together), then the service.
CMD ["sh", "-c", "node dist/src/database/migrate.cli.js && exec node dist/src/main.js"]
