# syntax=docker/dockerfile:1
# The pullthrough host image: built with the pinned toolchain, shipped on distroless (glibc, no
# shell, no package manager) as the non-root user 65532.
#   docker build -t pullthrough .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# rust-toolchain.toml names the target; these images do not install it by themselves.
RUN rustup target add wasm32-wasip1
COPY . .
# policy.wasm first: the host embeds it at build time.
RUN cargo build --locked -p pullthrough-policy --target wasm32-wasip1 --release \
 && cp target/wasm32-wasip1/release/pullthrough_policy.wasm policy.wasm \
 && cargo build --locked -p pullthrough --release \
 && install -D -m 0755 target/release/pullthrough /out/pullthrough

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/pullthrough /usr/local/bin/pullthrough
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/pullthrough"]
CMD ["serve"]
