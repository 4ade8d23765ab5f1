# Build: the release binary (SQLite, libpq and OpenSSL compiled in). Run: Debian slim with curl (health check).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY bench bench
COPY src src
COPY migrations migrations
COPY openapi openapi
RUN cargo build --release --locked --bin sluice

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
USER nobody
EXPOSE 8080
CMD ["sluice", "serve"]
