# Builds the release `adforge` binary against libtorch from the PyPI torch wheel and runs it as
# an unprivileged user. The default models are fetched at build time by scripts/setup.sh.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN PYTHON=python3 scripts/setup.sh && cargo build --release --locked -p adforge-api

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/adforge adforge
# The binary's rpath points at /src/.deps/libtorch/torch/lib, so libtorch keeps that path.
COPY --from=build /src/.deps/libtorch/torch/lib /src/.deps/libtorch/torch/lib
COPY --from=build /src/.deps/models /opt/adforge/models
COPY --from=build /src/target/release/adforge /usr/local/bin/adforge
USER adforge
WORKDIR /var/lib/adforge
ENV ADFORGE_BIND=0.0.0.0:8080 ADFORGE_DATA_DIR=/var/lib/adforge/data ADFORGE_MODELS_DIR=/opt/adforge/models
EXPOSE 8080
CMD ["adforge", "serve"]
