# Build: SQLX_OFFLINE uses the committed .sqlx/ query data, so no database is needed.
# Everything the workspace's build reads, laid out as in the repository: the manifests, the
# query data, the migrations and assets the binary embeds (`migrate!`, `include_bytes!` of the
# vendored Redoc), the service's sources and its crates (with their own data and benches).
# `scripts/docker-context-check.sh` (CI) checks that this list is enough.
FROM rust:1.95-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
COPY Cargo.toml Cargo.lock ./
COPY .sqlx ./.sqlx
COPY migrations ./migrations
COPY assets ./assets
COPY src ./src
COPY crates ./crates
RUN cargo build --release --locked --bin taxpoynt-mono \
 && strip target/release/taxpoynt-mono

# Runtime: a slim Debian with CA certificates (TLS to Mono), running as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home taxpoynt
COPY --from=build /src/target/release/taxpoynt-mono /usr/local/bin/taxpoynt-mono
USER taxpoynt
# /metrics is served on the container's loopback only: nothing publishes it unless
# METRICS_ADDR is set to an address the scraper can reach (e.g. 0.0.0.0:9090 plus -p 9090).
ENV BIND_ADDR=0.0.0.0:8080 LOG_FORMAT=json METRICS_ADDR=127.0.0.1:9090
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["taxpoynt-mono"]
CMD ["serve"]
