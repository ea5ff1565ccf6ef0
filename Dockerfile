# DMARC Watch container image.
#   docker build -t dmarcwatch .
#   docker run -p 8080:8080 -v dmarcwatch-data:/data dmarcwatch
# compose.yaml runs it next to PostgreSQL; see docs/self-hosting.md.

# --- build: install everything, compile TypeScript, drop the dev dependencies -------------------
# The RUN steps of this stage are checked against test/docker/build-steps.ts, and the build test
# runs the same steps outside Docker: change both together.
FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev

# --- runtime ------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production DMARCWATCH_DATA_DIR=/data
RUN groupadd --system --gid 10001 dmarcwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin dmarcwatch \
 && mkdir -p /data \
 && chown 10001:10001 /data
WORKDIR /app
# Application files stay owned by root: the app user can read them, not change them.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY LICENSE ./LICENSE
COPY --chmod=0755 docker/entrypoint.sh ./docker/entrypoint.sh
USER 10001:10001
VOLUME /data
EXPOSE 8080
# No curl in the slim image: node's fetch asks /healthz, which also checks the database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => r.json()).then((b) => process.exit(b.status === 'ok' ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["start"]
