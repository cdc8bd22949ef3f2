# syntax=docker/dockerfile:1
# The laterz service: the `laterz` bin of the npm package, run as `laterz start`. One image; your
# handlers come as a layer of your own (README, "Run laterz as a service"):
#   FROM laterz
#   COPY dist/ /app/handlers/
#   ENV LATERZ_HANDLERS=handlers/main.js
# The demo pipeline is the repository's `npm start`, not part of the image.
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY examples ./examples
COPY migrations ./migrations
# /app as the service runs it: an ES-module project (so a handlers file under /app is an ES module)
# with laterz installed in node_modules as `npm pack` ships it, beside its production dependencies.
# A handlers file's `import 'laterz'` (or '@nestjs/common') resolves to node_modules there: the very
# copy the service runs, so its decorators and TasksService are the service's own.
# (test/integration/cli.int-spec.ts builds the same layout and runs the bin in it.)
RUN npx nest build \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && npm prune --omit=dev \
 && mkdir -p /app/node_modules/laterz /app/handlers \
 && cp -a node_modules/. /app/node_modules/ \
 && tar -xzf /tmp/laterz-*.tgz --strip-components=1 -C /app/node_modules/laterz \
 && chmod +x /app/node_modules/laterz/dist/src/cli/laterz.js \
 && echo '{ "private": true, "type": "module" }' > /app/package.json

FROM node:20-slim
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown node:node /data \
 && ln -s /app/node_modules/laterz/dist/src/cli/laterz.js /usr/local/bin/laterz
COPY --from=build --chown=node:node /app ./
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD curl -fs http://127.0.0.1:${PORT}/health/live || exit 1
# `laterz start` applies the migrations first (under an advisory lock: replicas may start together),
# then serves; `laterz migrate` alone suits a release step that runs before the replicas.
CMD ["laterz", "start"]
