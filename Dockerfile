# The webhook image: `make image` builds it as backendtls-webhook:dev, `make kind-load` loads it
# into a kind cluster, manifests/ runs it.

FROM rust:1-bookworm AS builder
WORKDIR /src
# Everything not excluded by .dockerignore: Cargo.toml and Cargo.lock, src/ and the targets the
# manifest names (benches/).
COPY . .
RUN cargo build --release --locked --bin backendtls-webhook \
    && install -m 0755 target/release/backendtls-webhook /backendtls-webhook

# glibc and libgcc only (TLS is rustls), no shell; runs as the distroless nonroot user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /backendtls-webhook /usr/local/bin/backendtls-webhook
# Where manifests/ mounts the Secret backendtls-webhook-tls, and every interface (the binary's
# own default is loopback); flags override these.
ENV BACKENDTLS_WEBHOOK_LISTEN=0.0.0.0:8443 \
    BACKENDTLS_WEBHOOK_TLS_CERT_FILE=/etc/backendtls-webhook/tls/tls.crt \
    BACKENDTLS_WEBHOOK_TLS_KEY_FILE=/etc/backendtls-webhook/tls/tls.key
# The allocator (mimalloc) hands freed memory back to the OS after 10 ms rather than its
# default 1 s: with 1 s the buffers of the watch caches' initial lists stay resident (80-107 MiB
# instead of 57-62 MiB with 5,000 ConfigMaps of 10 KiB, make bench-memory; see src/main.rs).
ENV MIMALLOC_PURGE_DELAY=10
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/backendtls-webhook", "serve"]
