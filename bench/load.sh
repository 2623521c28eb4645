#!/usr/bin/env bash
# Load benchmark of `backendtls-webhook serve` against a null webhook on the same stack.
# `make bench-load` runs it. It is a benchmark, not a test: it always exits 0 once it has
# measured, and marks each target "met" or "NOT met" in its summary.
#
# What it measures
#   Two servers run side by side, both pinned to CPU 0 (`taskset -c 0`, so tokio starts one
#   worker in each), with wrk pinned to CPU 1 (`-t1 -c32`, HTTP/1.1 keep-alive, TLS):
#   - null: examples/null-webhook.rs, the same binding, TLS, accept loop, hyper and tokio
#     runtime (`Server::bind_router`), answering every request with allowed=true after parsing
#     only request.uid; no logging, no metrics;
#   - serve: `backendtls-webhook serve --objects tests/fixtures/samples/objects.yaml` with its
#     default log level (one info line per request, to a file) and metrics;
#   - cold (phase 1 only): the same serve with `--decision-cache-size 0`, so that every request
#     takes the full path (decode, lookups, validation) instead of the decision cache, which
#     answers the benchmark's repeated body after the first request.
#   Phase 1 (closed loop, as fast as possible), for two committed requests,
#   tests/fixtures/samples/admission-backendtlspolicy.json (a BackendTLSPolicy) and
#   admission-configmap-3certs.json (a CA ConfigMap with three certificates): per run, the
#   server's CPU time (utime + stime of /proc/PID/stat, all threads) divided by the requests
#   wrk completed = CPU microseconds per request; plus requests/s and p50/p99 latency.
#   Runs are interleaved (null policy, serve policy, cold policy, null configmap, ..., then
#   again, ROUNDS times) so that drift on a shared machine hits both servers alike; the
#   summary shows medians over rounds.
#   Phase 2 (fixed offered load): 1,000 requests/s in total over 32 connections (each waits a
#   random 0-64 ms, mean 32 ms, before each request: wrk's delay() hook; see bench/post.lua),
#   policy request, null then serve, ROUNDS times; p50/p99 and p99(serve) - p99(null). The
#   achieved rate is shown: it is a little under 1,000/s because each connection also waits
#   for its response. The delay is random because a fixed 32 ms keeps the 32 connections in
#   lock-step (a burst of 32 requests every 32 ms), and p99 would then measure the burst. wrk
#   has no open-loop mode, so this is still a closed loop per connection.
#   When allowed (root or CAP_SYS_NICE) the servers and wrk run under SCHED_FIFO during phase
#   2: at this load they are idle most of the time, and on a shared machine each wake-up would
#   otherwise wait for the scheduler to preempt another tenant's process (milliseconds), which
#   swamps the latency being measured. RT=0 turns that off.
#   Memory: VmRSS of serve once it is listening, before any request, and at the end.
#
# Why CPU per request is the figure to trust
#   On a shared 2-core machine, requests/s and latency depend on what else runs on CPU 0 and
#   CPU 1 (other builds steal time from the server or from wrk, and a starved client makes the
#   server look slow). The CPU the server process itself spent per completed request hardly
#   depends on that: time stolen by other processes is not charged to it. The serve/null ratio
#   of CPU per request is the webhook's own overhead (parsing, validation, the answer, the log
#   line, metrics) relative to the bare TLS + HTTP cost. Clock-tick resolution (1/CLK_TCK s,
#   usually 10 ms) is negligible over a run of several seconds at full load.
#   It is not immune, though (expect +-10% between rounds): a server that is not saturated,
#   because wrk on CPU 1 is starved, handles fewer requests per wake-up and pays more per
#   request, and a co-tenant on the same physical core evicts its caches. The "others" column
#   (CPU 0 time not charged to the server, from /proc/stat: other processes, interrupts) flags
#   disturbed runs; the summary also shows the range over rounds.
#
# Targets (marked in the summary)
#   CPU per request serve/null <= 1.25 (policy) and <= 1.6 (ConfigMap), shown for serve as
#   deployed and for cold (the full path); at 1,000 req/s, p99 of serve within 1 ms of null's;
#   serve idle RSS under 32 MiB.
#
# Usage
#   bench/load.sh            (or: make bench-load)
#   Environment: DURATION (seconds per run, default 10), ROUNDS (default 3), WARMUP (seconds
#   per server and request before measuring, default 2), RATE_DURATION (seconds per phase-2
#   run, default DURATION), CONNECTIONS (default 32), SKIP_BUILD=1 (use the existing release
#   binaries), KEEP=1 (keep the temp dir with logs and wrk outputs), CARGO (default cargo),
#   RT=0 (phase 2 at normal priority). For experiments only: SERVE_ARGS (extra flags for
#   serve, e.g. "--log-format json") and BENCH_RUST_LOG (RUST_LOG of the servers; without it
#   RUST_LOG is removed from their environment so that the default level, info, applies).
#   Default total: about 5 minutes after the build. SERVE_ARGS apply to cold too, except a
#   --decision-cache-size (cold always runs with 0).
#   Needs wrk (`apt-get install -y wrk`; tried automatically when running as root), taskset
#   (util-linux) and at least 2 CPUs.
#
# Output: the summary on stdout, also written to target/bench-load/summary.txt, and every run
# in target/bench-load/runs.tsv.

set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
RATE_DURATION=${RATE_DURATION:-$DURATION}
CONNECTIONS=${CONNECTIONS:-32}
CARGO=${CARGO:-cargo}
RATE_TOTAL=1000
# Per-connection delay giving RATE_TOTAL requests/s over CONNECTIONS connections (32 ms for 32).
RATE_DELAY_MS=$(( CONNECTIONS * 1000 / RATE_TOTAL ))

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SAMPLES=tests/fixtures/samples
OBJECTS=$ROOT/$SAMPLES/objects.yaml
LUA=$ROOT/bench/post.lua
OUT=$ROOT/target/bench-load
SERVE_BIN=$ROOT/target/release/backendtls-webhook
NULL_BIN=$ROOT/target/release/examples/null-webhook

log() { printf '[bench-load] %s\n' "$*" >&2; }
die() { printf '[bench-load] error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------------------------

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
load_prerequisites
for f in "$(sample_body "$ROOT" policy)" "$(sample_body "$ROOT" configmap)" "$OBJECTS" "$LUA"; do
    [ -r "$f" ] || die "missing $f"
done
CLK_TCK=$(getconf CLK_TCK)

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    "$CARGO" build --release --locked --bin backendtls-webhook --example null-webhook >&2
fi
[ -x "$SERVE_BIN" ] && [ -x "$NULL_BIN" ] || die "release binaries missing (unset SKIP_BUILD)"

# --- servers ----------------------------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-load.XXXXXX")
NULL_PID=
SERVE_PID=
COLD_PID=

cleanup() {
    stop_process "$NULL_PID"
    stop_process "$SERVE_PID"
    stop_process "$COLD_PID"
    if [ "${KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$SERVE_BIN" certs --out "$TMP/certs" >/dev/null 2>&1 || die "cannot generate certificates"

NULL_PORT=$(free_port)
SERVE_PORT=$(free_port_except "$NULL_PORT")
COLD_PORT=$(free_port_except "$NULL_PORT" "$SERVE_PORT")

# Appending (>>) so that the log can be truncated between runs: serve writes one line per
# request, hundreds of MB over a full benchmark.
# The servers run with the default log level whatever RUST_LOG says (BENCH_RUST_LOG overrides).
SERVER_ENV=(env -u RUST_LOG "$SERVE_ALLOCATOR_ENV")
[ -n "${BENCH_RUST_LOG:-}" ] && SERVER_ENV=(env "RUST_LOG=$BENCH_RUST_LOG" "$SERVE_ALLOCATOR_ENV")
read -r -a EXTRA_SERVE_ARGS <<<"${SERVE_ARGS:-}"
# The cold server gets the same flags except its own decision cache size.
COLD_ARGS=()
skip=0
for arg in "${EXTRA_SERVE_ARGS[@]}"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $arg in
        --decision-cache-size) skip=1 ;;
        --decision-cache-size=*) ;;
        *) COLD_ARGS+=("$arg") ;;
    esac
done
"${SERVER_ENV[@]}" taskset -c 0 "$NULL_BIN" --listen "127.0.0.1:$NULL_PORT" \
    --tls-cert-file "$TMP/certs/tls.crt" --tls-key-file "$TMP/certs/tls.key" \
    >>"$TMP/null.log" 2>&1 &
NULL_PID=$!
# start_serve NAME PORT [FLAGS...]: serve on CPU 0, logging to $TMP/NAME.log; sets $!.
start_serve() {
    local name=$1 port=$2
    shift 2
    "${SERVER_ENV[@]}" taskset -c 0 "$SERVE_BIN" serve --listen "127.0.0.1:$port" \
        --tls-cert-file "$TMP/certs/tls.crt" --tls-key-file "$TMP/certs/tls.key" \
        --objects "$OBJECTS" "$@" >>"$TMP/$name.log" 2>&1 &
}
start_serve serve "$SERVE_PORT" "${EXTRA_SERVE_ARGS[@]}"
SERVE_PID=$!
start_serve cold "$COLD_PORT" "${COLD_ARGS[@]}" --decision-cache-size 0
COLD_PID=$!
wait_listening "$NULL_PID" "$NULL_PORT" "$TMP/null.log"
wait_listening "$SERVE_PID" "$SERVE_PORT" "$TMP/serve.log"
wait_listening "$COLD_PID" "$COLD_PORT" "$TMP/cold.log"

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# utime + stime of the whole process, in clock ticks (fields 14 and 15; the command name in
# field 2 may hold spaces, so count from after its closing parenthesis).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# Tokio worker threads of a process (serve also runs a log-flush thread, null does not).
workers() { cat /proc/"$1"/task/*/comm 2>/dev/null | grep -c '^tokio-rt-worker$' || true; }
# Busy and total clock ticks of CPU 0 (/proc/stat): user nice system idle iowait irq softirq steal.
cpu0_ticks() { awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

sleep 1
RSS_IDLE=$(rss_mib "$SERVE_PID")
NULL_WORKERS=$(workers "$NULL_PID")
SERVE_WORKERS=$(workers "$SERVE_PID")
log "servers up: null pid $NULL_PID port $NULL_PORT (tokio workers: $NULL_WORKERS)," \
    "serve pid $SERVE_PID port $SERVE_PORT (tokio workers: $SERVE_WORKERS, idle RSS $RSS_IDLE MiB)"

# --- runs -------------------------------------------------------------------------------------

mkdir -p "$OUT"
RUNS=$OUT/runs.tsv
printf 'phase\tround\tserver\trequest\trequests\tseconds\treq_per_s\tcpu_us_per_req\tp50_ms\tp99_ms\tcpu0_others_pct\n' >"$RUNS"

# Prefix of the wrk command: set to a chrt call for phase 2 (see below).
WRK_PREFIX=()

# run_wrk NAME PHASE ROUND SERVER REQUEST SECONDS [DELAY_MS]: one wrk run; appends a row to
# runs.tsv. With ROUND "warmup" nothing is recorded.
run_wrk() {
    local phase=$1 round=$2 server=$3 request=$4 seconds=$5 delay=${6:-}
    local pid port body
    case $server in
        null) pid=$NULL_PID; port=$NULL_PORT ;;
        serve) pid=$SERVE_PID; port=$SERVE_PORT ;;
        cold) pid=$COLD_PID; port=$COLD_PORT ;;
    esac
    body=$(sample_body "$ROOT" "$request")
    kill -0 "$pid" 2>/dev/null || die "$server server died; see its log"
    local out="$TMP/wrk-$phase-$round-$server-$request.txt"
    local before after busy0 total0 busy1 total1
    before=$(cpu_ticks "$pid")
    read -r busy0 total0 < <(cpu0_ticks)
    BENCH_BODY=$body BENCH_DELAY_MS=$delay "${WRK_PREFIX[@]}" taskset -c 1 \
        wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$LUA" \
        "https://127.0.0.1:$port/validate" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
    after=$(cpu_ticks "$pid")
    read -r busy1 total1 < <(cpu0_ticks)
    # serve's per-request log lines: keep the files small (they were opened for appending).
    : >"$TMP/serve.log"
    : >"$TMP/cold.log"
    local line
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no BENCH line in the wrk output"; }
    local requests duration_us p50_us p99_us status_errors socket_errors
    # BENCH requests=N duration_us=N p50_us=N p99_us=N status_errors=N socket_errors=N
    read -r requests duration_us p50_us p99_us status_errors socket_errors \
        < <(sed 's/^BENCH //; s/[a-z0-9_]*=//g' <<<"$line")
    [ "$requests" -gt 0 ] || die "wrk completed no request against $server"
    if [ "$status_errors" -gt 0 ]; then
        log "warning: $status_errors non-2xx answers from $server ($request)"
    fi
    if [ "$socket_errors" -gt 0 ]; then
        log "warning: $socket_errors socket errors against $server ($request)"
    fi
    [ "$round" = warmup ] && return 0
    awk -v phase="$phase" -v round="$round" -v server="$server" -v request="$request" \
        -v n="$requests" -v us="$duration_us" -v ticks=$(( after - before )) -v hz="$CLK_TCK" \
        -v p50="$p50_us" -v p99="$p99_us" -v busy=$(( busy1 - busy0 )) -v total=$(( total1 - total0 )) 'BEGIN {
            others = total > 0 ? 100 * (busy - ticks) / total : 0
            if (others < 0) others = 0
            printf "%s\t%s\t%s\t%s\t%d\t%.2f\t%.1f\t%.2f\t%.3f\t%.3f\t%.0f\n", phase, round, server,
                request, n, us / 1e6, n / (us / 1e6), ticks / hz * 1e6 / n, p50 / 1000, p99 / 1000, others
        }' | tee -a "$RUNS" | awk -F'\t' '{
            printf "[bench-load] %-5s round %s %-5s %-9s %9.0f req/s  %7.2f us CPU/req  p50 %7.3f ms  p99 %7.3f ms  CPU 0 others %3d%%\n",
                $1, $2, $3, $4, $7, $8, $9, $10, $11
        }' >&2
}

start=$(date +%s)
log "warm-up: ${WARMUP}s per server and request"
for request in policy configmap; do
    for server in null serve cold; do
        run_wrk max warmup "$server" "$request" "$WARMUP"
    done
done

log "phase 1: as fast as possible, ${DURATION}s per run, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
    for request in policy configmap; do
        for server in null serve cold; do
            run_wrk max "$round" "$server" "$request" "$DURATION"
        done
    done
done

# Phase 2 measures latency at a low load, where the servers are mostly idle: on a shared machine
# each request then waits for the scheduler to switch from some other tenant's process to the
# server (milliseconds, under CFS), which swamps what is measured. When allowed (root or
# CAP_SYS_NICE), the servers and wrk run under SCHED_FIFO for this phase (RT=0 turns that off);
# at about 20% of one CPU they leave the rest to others, and the kernel caps real-time tasks at
# 95% of a CPU anyway.
PHASE2_SCHED="normal (CFS)"
if [ "${RT:-1}" != 0 ] && command -v chrt >/dev/null 2>&1 && chrt -f 10 true 2>/dev/null &&
    chrt -a -f -p 10 "$NULL_PID" >/dev/null 2>&1 && chrt -a -f -p 10 "$SERVE_PID" >/dev/null 2>&1; then
    WRK_PREFIX=(chrt -f 10)
    PHASE2_SCHED="SCHED_FIFO 10 (servers and wrk)"
fi
log "phase 2: $RATE_TOTAL req/s offered (${RATE_DELAY_MS} ms mean delay per connection), ${RATE_DURATION}s per run, $ROUNDS rounds, scheduling: $PHASE2_SCHED"
for round in $(seq "$ROUNDS"); do
    for server in null serve; do
        run_wrk rate "$round" "$server" policy "$RATE_DURATION" "$RATE_DELAY_MS"
    done
done
WRK_PREFIX=()
chrt -a -o -p 0 "$NULL_PID" >/dev/null 2>&1 || true
chrt -a -o -p 0 "$SERVE_PID" >/dev/null 2>&1 || true

RSS_END=$(rss_mib "$SERVE_PID")
elapsed=$(( $(date +%s) - start ))

# --- summary ----------------------------------------------------------------------------------

# median PHASE SERVER REQUEST COLUMN: the median of a runs.tsv column over the rounds.
median() {
    awk -F'\t' -v phase="$1" -v server="$2" -v request="$3" -v col="$4" '
        NR > 1 && $1 == phase && $3 == server && $4 == request { v[n++] = $col }
        END {
            if (n == 0) { print "nan"; exit }
            for (i = 1; i < n; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            printf "%.6g\n", (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        }' "$RUNS"
}
# COL numbers in runs.tsv
C_RPS=7 C_CPU=8 C_P50=9 C_P99=10 C_OTHERS=11

# check VALUE OP LIMIT: "met" or "NOT met".
check() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    ok = (op == "<=") ? (v <= l) : (op == "<") ? (v < l) : 0
    print ok ? "met" : "NOT met" }'; }

# range PHASE SERVER REQUEST COLUMN: "min-max" of a runs.tsv column over the rounds.
range() {
    awk -F'\t' -v phase="$1" -v server="$2" -v request="$3" -v col="$4" '
        NR > 1 && $1 == phase && $3 == server && $4 == request {
            if (n++ == 0 || $col < lo) lo = $col
            if (n == 1 || $col > hi) hi = $col
        }
        END { if (n) printf "%.1f-%.1f\n", lo, hi; else print "nan" }' "$RUNS"
}

summary() {
    local sha dirty
    sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
    echo "backendtls-webhook load benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $sha$dirty"
    echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(getconf _NPROCESSORS_ONLN) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "servers on CPU 0 (tokio workers: null $NULL_WORKERS, serve and cold $SERVE_WORKERS each, plus their log-flush thread), wrk -t1 -c$CONNECTIONS on CPU 1, HTTP/1.1 keep-alive over TLS"
    echo "medians over $ROUNDS interleaved rounds; phase 1 ${DURATION}s per run, phase 2 ${RATE_DURATION}s per run; took ${elapsed}s"
    if [ "${SKIP_BUILD:-0}" = 1 ]; then
        echo "SKIP_BUILD=1: binaries built $(date -u -r "$SERVE_BIN" +%Y-%m-%dT%H:%M:%SZ) (serve)" \
            "and $(date -u -r "$NULL_BIN" +%Y-%m-%dT%H:%M:%SZ) (null), maybe not from this commit"
    fi
    if [ -n "${BENCH_RUST_LOG:-}${SERVE_ARGS:-}" ]; then
        echo "NOT the standard setup: RUST_LOG=${BENCH_RUST_LOG:-(default)}, extra serve flags: ${SERVE_ARGS:-(none)}"
    fi
    echo
    echo "Phase 1, closed loop (as fast as possible). CPU us/req is the stable figure; req/s and"
    echo "latency depend on what else runs on the machine (\"others\": CPU 0 time not charged to the server)."
    echo "serve: as deployed (decision cache on); cold: --decision-cache-size 0, every request takes the full path."
    printf '%-9s %-5s %10s %12s %8s %8s %8s %7s\n' request server "CPU us/req" "(range)" "req/s" "p50 ms" "p99 ms" "others"
    local request target label server
    for request in policy configmap; do
        case $request in
            policy) target=1.25 label="BackendTLSPolicy" ;;
            configmap) target=1.6 label="ConfigMap (3 certs)" ;;
        esac
        for server in null serve cold; do
            printf '%-9s %-5s %10.2f %12s %8.0f %8.3f %8.3f %6.0f%%\n' "$request" "$server" \
                "$(median max "$server" "$request" $C_CPU)" "$(range max "$server" "$request" $C_CPU)" \
                "$(median max "$server" "$request" $C_RPS)" "$(median max "$server" "$request" $C_P50)" \
                "$(median max "$server" "$request" $C_P99)" "$(median max "$server" "$request" $C_OTHERS)"
        done
        local ratio
        for server in serve cold; do
            ratio=$(awk -v a="$(median max "$server" "$request" $C_CPU)" -v b="$(median max null "$request" $C_CPU)" \
                'BEGIN { printf "%.2f", a / b }')
            printf '  %s: CPU per request %s/null = %s (target <= %s): %s\n' "$label" "$server" "$ratio" \
                "$target" "$(check "$ratio" '<=' "$target")"
        done
    done
    echo
    echo "Phase 2, $RATE_TOTAL req/s offered over $CONNECTIONS connections, BackendTLSPolicy request"
    echo "(scheduling: $PHASE2_SCHED)"
    printf '%-5s %8s %8s %8s %12s %10s\n' server "req/s" "p50 ms" "p99 ms" "(p99 range)" "CPU us/req"
    for server in null serve; do
        printf '%-5s %8.0f %8.3f %8.3f %12s %10.2f\n' "$server" "$(median rate "$server" policy $C_RPS)" \
            "$(median rate "$server" policy $C_P50)" "$(median rate "$server" policy $C_P99)" \
            "$(range rate "$server" policy $C_P99)" "$(median rate "$server" policy $C_CPU)"
    done
    local diff
    diff=$(awk -v a="$(median rate serve policy $C_P99)" -v b="$(median rate null policy $C_P99)" \
        'BEGIN { printf "%.3f", a - b }')
    printf '  p99 serve - null = %s ms (target <= 1 ms): %s\n' "$diff" "$(check "$diff" '<=' 1)"
    echo
    echo "Memory of serve (VmRSS)"
    printf '  idle after startup: %s MiB (target < 32 MiB): %s\n' "$RSS_IDLE" "$(check "$RSS_IDLE" '<' 32)"
    printf '  at the end:         %s MiB\n' "$RSS_END"
}

summary | tee "$OUT/summary.txt"
log "summary written to target/bench-load/summary.txt, runs to target/bench-load/runs.tsv"
