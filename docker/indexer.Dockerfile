# matrixai-indexer, built as the README builds it (the root workspace, release).
#   docker build -f docker/indexer.Dockerfile -t matrixai-indexer .
#   docker run -p 8080:8080 matrixai-indexer --node ws://NODE:9944 --listen 0.0.0.0:8080
#   (with --database postgres://… or mysql://… to index into a server instead of SQLite)
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY artifacts ./artifacts
COPY crates ./crates
RUN CARGO_TARGET_DIR=/target cargo build --locked --release -p matrixai-indexer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
	&& useradd --create-home --uid 1000 matrixai
COPY --from=builder /target/release/matrixai-indexer /usr/local/bin/matrixai-indexer
USER matrixai
ENV MATRIXAI_DATA_DIR=/home/matrixai/data
EXPOSE 8080
VOLUME ["/home/matrixai/data"]
ENTRYPOINT ["matrixai-indexer"]
