# matrixai-validator, built as the README builds it (the root workspace, release).
#   docker build -f docker/validator.Dockerfile -t matrixai-validator .
#   docker run -v matrixai-validator:/home/matrixai/work -v /path/to/validator.key:/run/secrets/key:ro \
#     -e MATRIXAI_NODE_URL=ws://NODE:9944 -e MATRIXAI_INDEXER_URL=http://INDEXER:8080 \
#     -e MATRIXAI_VALIDATOR_KEY_FILE=/run/secrets/key matrixai-validator run
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY artifacts ./artifacts
COPY crates ./crates
RUN CARGO_TARGET_DIR=/target cargo build --locked --release -p matrixai-validator

# Named volumes mounted on /home/matrixai/work or /srv/storage (docker/compose.yaml) start
# owned by the service's user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
	&& useradd --create-home --uid 1000 matrixai \
	&& mkdir -p /home/matrixai/work /srv/storage && chown matrixai: /home/matrixai/work /srv/storage
COPY --from=builder /target/release/matrixai-validator /usr/local/bin/matrixai-validator
USER matrixai
ENV MATRIXAI_VALIDATOR_WORK_DIR=/home/matrixai/work
VOLUME ["/home/matrixai/work"]
ENTRYPOINT ["matrixai-validator"]
CMD ["run"]
