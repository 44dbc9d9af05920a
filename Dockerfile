# syntax=docker/dockerfile:1
# The pullthrough image with Docker: the same files as scripts/image builds without it (the build
# stage runs `scripts/image --rootfs`, e2e-tests/image.bats compares the two), on scratch, as the
# non-root user 65532. scripts/image is the one that gives one digest per commit.
#   docker build -t pullthrough .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# rust-toolchain.toml names the target; these images do not install it by themselves.
RUN rustup target add wasm32-wasip1
COPY . .
# policy.wasm first: the host embeds it at build time.
RUN scripts/build-policy \
 && cargo build --locked -p pullthrough --release \
 && scripts/image --rootfs /out/rootfs

FROM scratch
COPY --from=build /out/rootfs/ /
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/pullthrough"]
CMD ["serve"]
