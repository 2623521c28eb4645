#!/usr/bin/env bash
# Instructions per review, counted by valgrind's callgrind: `make bench-instructions`.
#
# CPU time on a shared machine moves by up to 30% from one hour to the next, which hides a
# change of a few percent; an instruction count does not move. Two tables:
#
# 1. In process. examples/review-loop.rs (the reviewer `serve --objects
#    tests/fixtures/samples/objects.yaml` runs, and the null webhook's decode, in process: no
#    TLS, HTTP, log line or metrics) runs twice per case, with ITERATIONS and 3 x ITERATIONS
#    iterations, and the difference is divided by 2 x ITERATIONS, so that start-up (parsing
#    objects.yaml, building the runtime, compiling the CRD's regular expressions on first use)
#    drops out. Cases, for both sample requests: serve with the decision cache off (every
#    request takes the full path), serve with it on (its default: answered from the cache
#    after the first request), decode (the null webhook with serve's decode in place of its
#    own: the floor of the full path, before any validation) and the null webhook.
#
# 2. Whole server: the three servers of `make bench-load` (null, serve, cold = serve
#    --decision-cache-size 0) run under callgrind on CPU 0 (one tokio worker, as in
#    bench-load) and wrk on CPU 1 sends each sample over 4 keep-alive TLS connections: a
#    SERVER_WARMUP-second run (handshakes, first use), then callgrind's counters are zeroed,
#    a SERVER_SECONDS-second run, and its counters dumped and divided by the requests wrk
#    completed. This is the noise-free counterpart of bench-load's CPU time per request: TLS,
#    HTTP, the log line and the metrics are included, for every thread of the server.
#
# Needs valgrind (`apt-get install -y valgrind`) and, for table 2, wrk and taskset (tried
# automatically when running as root). Environment: ITERATIONS (default 1000), SERVER_WARMUP
# (default 2), SERVER_SECONDS (default 10), SERVER=0 (table 1 only), CARGO (default cargo).

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ITERATIONS=${ITERATIONS:-1000}
SERVER_WARMUP=${SERVER_WARMUP:-2}
SERVER_SECONDS=${SERVER_SECONDS:-10}
SERVER=${SERVER:-1}
CARGO=${CARGO:-cargo}
# The profiling profile: the release build's code, with the symbols and line tables the shipped
# (stripped) binary lacks, so that callgrind's output names functions and lines.
BIN=$ROOT/target/profiling/examples/review-loop
SERVE_BIN=$ROOT/target/profiling/backendtls-webhook
NULL_BIN=$ROOT/target/profiling/examples/null-webhook
SAMPLES=$ROOT/tests/fixtures/samples

log() { printf '[bench-instructions] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need_command valgrind valgrind
[ "$SERVER" = 0 ] || load_prerequisites

log "building the profiling binaries (release with symbols)"
"$CARGO" build --profile profiling --locked --example review-loop --example null-webhook \
    --bin backendtls-webhook >&2

# instructions REQUEST SERVER N: instructions of one run of N iterations.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" "$3" 2>&1 >/dev/null |
        awk '/Collected :/ { gsub(",", "", $4); print $4 }'
}

# per_review REQUEST SERVER: instructions per review, start-up excluded.
per_review() {
    local one three
    one=$(instructions "$1" "$2" "$ITERATIONS")
    three=$(instructions "$1" "$2" $((3 * ITERATIONS)))
    [ -n "$one" ] && [ -n "$three" ] || die "callgrind gave no count for $1 $2"
    echo $(((three - one) / (2 * ITERATIONS)))
}

# header TITLE, then row REQUEST SERVER COUNT NULL_COUNT: the two tables.
header() {
    printf '%s\n%-10s %-13s %14s %9s\n' "$1" request server instructions "vs null"
}
row() {
    printf '%-10s %-13s %14d %8.2fx\n' "$1" "$2" "$3" \
        "$(awk -v a="$3" -v b="$4" 'BEGIN { print a / b }')"
}

header 'In process (examples/review-loop.rs: decode, review, answer)'
for request in policy configmap; do
    null=$(per_review "$request" null)
    for server in serve serve-cached decode; do
        row "$request" "$server" "$(per_review "$request" "$server")" "$null"
    done
    row "$request" null "$null" "$null"
done

[ "$SERVER" = 0 ] && exit 0

# --- whole server -------------------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-instructions.XXXXXX")
SERVER_PID=
cleanup() {
    stop_process "$SERVER_PID"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$SERVE_BIN" certs --out "$TMP/certs" >/dev/null 2>&1 || die "cannot generate certificates"

# server_run NAME COMMAND...: measures server NAME (COMMAND, to which --listen, --tls-cert-file
# and --tls-key-file are added) on both samples; sets NAME_policy and NAME_configmap.
server_run() {
    local name=$1 port out request body requests total
    shift
    port=$(free_port)
    out=$TMP/$name.callgrind
    env -u RUST_LOG "$SERVE_ALLOCATOR_ENV" taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$@" --listen "127.0.0.1:$port" --tls-cert-file "$TMP/certs/tls.crt" \
        --tls-key-file "$TMP/certs/tls.key" >"$TMP/$name.log" 2>&1 &
    SERVER_PID=$!
    wait_listening "$SERVER_PID" "$port" "$TMP/$name.log" 120
    local dump=0
    for request in policy configmap; do
        body=$(sample_body "$ROOT" "$request")
        BENCH_BODY=$body taskset -c 1 wrk -t1 -c4 -d"${SERVER_WARMUP}s" -s "$ROOT/bench/post.lua" \
            "https://127.0.0.1:$port/validate" >/dev/null 2>&1 || die "wrk failed ($name warm-up)"
        callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
        BENCH_BODY=$body taskset -c 1 wrk -t1 -c4 -d"${SERVER_SECONDS}s" -s "$ROOT/bench/post.lua" \
            "https://127.0.0.1:$port/validate" >"$TMP/wrk.out" 2>&1 || die "wrk failed ($name)"
        callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
        dump=$((dump + 1))
        for _ in $(seq 100); do [ -s "$out.$dump" ] && break; sleep 0.1; done
        requests=$(sed -n 's/^BENCH requests=\([0-9]*\) .* status_errors=0 socket_errors=0$/\1/p' "$TMP/wrk.out")
        total=$(awk '/^summary:/ { print $2 }' "$out.$dump")
        [ -n "$requests" ] && [ "$requests" -gt 0 ] && [ -n "$total" ] ||
            { cat "$TMP/wrk.out" >&2; die "no count for $name $request"; }
        printf -v "${name}_$request" '%s' $((total / requests))
        log "$name $request: $requests requests, $((total / requests)) instructions each"
    done
    stop_process "$SERVER_PID"
    SERVER_PID=
}

log "whole servers under callgrind (~2 minutes)"
server_run null "$NULL_BIN"
server_run serve "$SERVE_BIN" serve --objects "$SAMPLES/objects.yaml"
server_run cold "$SERVE_BIN" serve --objects "$SAMPLES/objects.yaml" --decision-cache-size 0

echo
header 'Whole server (TLS, HTTP/1.1 keep-alive, log line, metrics; per request)'
for request in policy configmap; do
    null_var=null_$request
    for server in serve cold null; do
        var=${server}_$request
        row "$request" "$server" "${!var}" "${!null_var}"
    done
done
