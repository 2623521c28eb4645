#!/usr/bin/env bash
# Instructions per review, counted by valgrind's callgrind: `make bench-instructions`.
#
# CPU time on a shared machine moves by up to 30% from one hour to the next, which hides a
# change of a few percent; an instruction count does not move. This runs
# examples/review-loop.rs (the reviewer `serve --objects tests/fixtures/samples/objects.yaml`
# runs, and the null webhook's decode, in process: no TLS, HTTP, log line or metrics) twice per
# case, with ITERATIONS and 3 x ITERATIONS iterations, and divides the difference by
# 2 x ITERATIONS, so that start-up (parsing objects.yaml, building the runtime, compiling the
# CRD's regular expressions on first use) drops out.
#
# Cases, for both sample requests: serve with the decision cache off (every request takes the
# full path), serve with it on (its default: answered from the cache after the first request),
# and the null webhook. The ratio to the null webhook is of in-process work only: the server's
# whole CPU per request (bench-load) adds TLS and HTTP, the same for both.
#
# Needs valgrind (`apt-get install -y valgrind`; tried automatically when running as root).
# Environment: ITERATIONS (default 1000), CARGO (default cargo).

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ITERATIONS=${ITERATIONS:-1000}
CARGO=${CARGO:-cargo}
BIN=$ROOT/target/release/examples/review-loop

log() { printf '[bench-instructions] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
need_command valgrind valgrind

log "building examples/review-loop.rs (release)"
"$CARGO" build --release --locked --example review-loop >&2

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

printf '%-10s %-13s %14s %9s\n' request server instructions "vs null"
for request in policy configmap; do
    null=$(per_review "$request" null)
    for server in serve serve-cached null; do
        if [ "$server" = null ]; then count=$null; else count=$(per_review "$request" "$server"); fi
        printf '%-10s %-13s %14d %8.2fx\n' "$request" "$server" "$count" \
            "$(awk -v a="$count" -v b="$null" 'BEGIN { print a / b }')"
    done
done
