# matrixai-node, built exactly as scripts/build-node.sh builds it.
#   docker build -f docker/node.Dockerfile -t matrixai-node .
#   docker run -p 9944:9944 -p 30333:30333 matrixai-node --dev --rpc-external
FROM rust:1.95-bookworm AS builder
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler \
	&& rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown wasm32v1-none && rustup component add rust-src
WORKDIR /src
COPY chain ./chain
COPY artifacts ./artifacts
RUN cd chain && WASM_BUILD_WORKSPACE_HINT=/src/chain CARGO_TARGET_DIR=/target cargo build --locked --release -p matrixai-node --features runtime-benchmarks

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
	&& useradd --create-home --uid 1000 matrixai
COPY --from=builder /target/release/matrixai-node /usr/local/bin/matrixai-node
USER matrixai
EXPOSE 9944 30333 30334
VOLUME ["/home/matrixai/data"]
ENTRYPOINT ["matrixai-node", "--base-path", "/home/matrixai/data"]
