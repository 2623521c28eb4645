#!/usr/bin/env bash
# Hostile clients against `backendtls-webhook serve`: `make bench-hostile`.
#
# Starts the release `serve` on loopback (clusterless, --objects tests/fixtures/samples/
# objects.yaml, development certificates in a temporary folder) and runs examples/hostile.rs
# against it, which reads the server's CPU time and RSS from /proc while it sends:
#   cpu     each worst-case request shape at full size (up to the 7 MiB body limit): server
#           CPU per request and per MiB, the answer's status and size;
#   memory  the decision cache filled with big distinct answers, then 48 connections that each
#           send 7 MiB - 1 byte and stall: peak and settled RSS;
#   slots   (serve --max-connections 64) 64 clients that pipeline requests and never read, then
#           a connect flood;
#   h2      (serve --http2) idle HTTP/2 connections that answer PINGs.
# A good client sends the sample review every 100 ms throughout; every table says whether it was
# served. Each table states its targets. The summary is also written to
# target/bench-hostile/summary.md.
#
# It is a benchmark: it exits 0 once it has measured. Environment: CARGO (default cargo),
# BENCH_GROUPS (default "cpu memory slots h2").

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARGO=${CARGO:-cargo}
GROUPS_TO_RUN=${BENCH_GROUPS:-cpu memory slots h2}
OUT=$ROOT/target/bench-hostile
SERVE_BIN=$ROOT/target/release/backendtls-webhook
HOSTILE_BIN=$ROOT/target/release/examples/hostile

log() { printf '[bench-hostile] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"

log "building the release binaries"
"$CARGO" build --release --locked --example hostile --bin backendtls-webhook >&2

mkdir -p "$OUT"
CERTS=$(mktemp -d)
SERVER_PID=
cleanup() {
    stop_process "$SERVER_PID"
    rm -rf "$CERTS"
}
trap cleanup EXIT
"$SERVE_BIN" certs --out "$CERTS" >/dev/null 2>&1

# run_group GROUP [SERVE FLAGS...]: a fresh server for the group, then the attacks.
run_group() {
    local group=$1 port
    shift
    port=$(free_port)
    env "$SERVE_ALLOCATOR_ENV" "$SERVE_BIN" serve --listen "127.0.0.1:$port" --tls-cert-file "$CERTS/tls.crt" \
        --tls-key-file "$CERTS/tls.key" --objects "$ROOT/tests/fixtures/samples/objects.yaml" \
        "$@" >"$OUT/$group.log" 2>&1 &
    SERVER_PID=$!
    wait_listening "$SERVER_PID" "$port" "$OUT/$group.log"
    log "$group: serve $* (pid $SERVER_PID, idle RSS $(awk '/^VmRSS/ {print $2}' /proc/$SERVER_PID/status) KiB)"
    printf '\n## %s (serve %s)\n\n' "$group" "$*"
    "$HOSTILE_BIN" --addr "127.0.0.1:$port" --ca "$CERTS/ca.crt" --pid "$SERVER_PID" "$group"
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        printf '\nserver alive after the attacks; log lines: %s, longest %s bytes\n' \
            "$(wc -l <"$OUT/$group.log")" "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$OUT/$group.log")"
    else
        printf '\nSERVER DIED during the attacks (see %s)\n' "$OUT/$group.log"
    fi
    stop_process "$SERVER_PID"
    SERVER_PID=
}

{
    printf '# bench-hostile, %s, %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(git -C "$ROOT" rev-parse --short HEAD)"
    for group in $GROUPS_TO_RUN; do
        case $group in
            cpu | memory) run_group "$group" ;;
            slots) run_group slots --max-connections 64 ;;
            h2) run_group h2 --http2 ;;
            *) die "unknown group $group" ;;
        esac
    done
} | tee "$OUT/summary.md"
