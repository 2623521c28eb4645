#!/usr/bin/env bash
# Soak test of `backendtls-webhook serve` under sustained load: does memory stay flat, does
# every request get an answer? `make soak` runs it. Bounded: SOAK_SECONDS of load (default 300)
# plus the build and a few seconds of setup.
#
# Setup (as bench/load.sh): the release binary serves with its defaults (info log, metrics,
# decision cache of 1,024 entries) and the in-memory objects `make run` uses
# (tests/fixtures/objects: the sample policy, its 3-certificate CA ConfigMap, the Services),
# pinned to CPU 0 (`taskset -c 0`: one tokio worker); wrk is pinned to CPU 1
# (`-t1 -c$SOAK_CONNECTIONS`, HTTP/1.1 keep-alive over TLS).
#
# Load: bench/soak.lua cycles through four fixture reviews: a policy that is allowed
# (policy-v1-allowed.json), one that is denied (policy-denied-ip-hostname.json), a ConfigMap
# update that is denied because it breaks the policy's bundle (configmap-update-denied.json) and
# a ConfigMap create that is allowed (configmap-create-allowed.json). Each request carries its
# own uid and its own metadata.resourceVersion, so no body repeats and the decision cache never
# answers: it fills to capacity and then only evicts, which is part of what is soaked.
#
# Measured: VmRSS of the server every SOAK_INTERVAL seconds (default 10); wrk's request count,
# latency, non-2xx answers, socket errors and timeouts, and answers that are not an
# AdmissionReview for the request; decisions and warnings/errors in the server's log; RSS once
# more after an interval without load. RSS is "flat" when the end of the run is within 10% or
# 2 MiB (whichever is larger) of its start after the warm-up (SOAK_WARMUP seconds, default 30,
# or a quarter of a shorter run), each taken as the median of a third of the samples after the
# warm-up: allocator churn moves single samples by a few MiB either way, so one sample against
# another says little. The least-squares trend after the warm-up is printed too.
#
# Usage
#   bench/soak.sh               (or: make soak; SOAK_SECONDS=60 make soak for a short run)
#   Environment: SOAK_SECONDS (default 300), SOAK_INTERVAL (default 10), SOAK_WARMUP,
#   SOAK_CONNECTIONS (default 32), SKIP_BUILD=1 (use the existing release binary), KEEP=1 (keep
#   the temp dir with the server's warnings and the wrk output), CARGO (default cargo).
#   Needs wrk (installed with apt-get when running as root), taskset and 2 CPUs.
#
# Output: the summary on stdout, also in target/soak/summary.txt; the RSS samples in
# target/soak/rss.tsv. Exit status 0 when every request was answered and RSS is flat, 1
# otherwise (2 when the soak could not run).

set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_INTERVAL=${SOAK_INTERVAL:-10}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-32}
if [ -z "${SOAK_WARMUP:-}" ]; then
    SOAK_WARMUP=30
    [ $(( SOAK_SECONDS / 4 )) -lt 30 ] && SOAK_WARMUP=$(( SOAK_SECONDS / 4 ))
fi
CARGO=${CARGO:-cargo}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REVIEWS=$ROOT/tests/fixtures/reviews
BODIES="$REVIEWS/policy-v1-allowed.json:$REVIEWS/policy-denied-ip-hostname.json:$REVIEWS/configmap-update-denied.json:$REVIEWS/configmap-create-allowed.json"
OBJECTS=$ROOT/tests/fixtures/objects
LUA=$ROOT/bench/soak.lua
OUT=$ROOT/target/soak
BIN=$ROOT/target/release/backendtls-webhook

log() { printf '[soak] %s\n' "$*" >&2; }
die() { printf '[soak] error: %s\n' "$*" >&2; exit 2; }

# --- prerequisites ----------------------------------------------------------------------------

# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
load_prerequisites
[ "$SOAK_SECONDS" -ge $(( 2 * SOAK_INTERVAL )) ] || die "SOAK_SECONDS must be at least 2 x SOAK_INTERVAL"
IFS=: read -r -a body_files <<<"$BODIES"
for f in "${body_files[@]}" "$LUA"; do
    [ -r "$f" ] || die "missing $f"
done

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building the release binary"
    "$CARGO" build --release --locked --bin backendtls-webhook >&2
fi
[ -x "$BIN" ] || die "release binary missing (unset SKIP_BUILD)"

# --- server -----------------------------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX")
SERVE_PID=
WRK_PID=
AWK_PID=

cleanup() {
    stop_process "$WRK_PID"
    stop_process "$SERVE_PID"
    stop_process "$AWK_PID"
    if [ "${KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" certs --out "$TMP/certs" >/dev/null 2>&1 || die "cannot generate certificates"

# The server's log (one line per request, hundreds of MB over a long soak) goes through a FIFO
# to awk, which counts the decisions (verdicts, decision-cache hits) and the lines at warn or
# error level, keeps the latter in problems.log, and writes its counts when the server exits.
# rustls' warning about wrk's SNI (wrk sends the IP address it connects to as server name, which
# TLS does not allow, and rustls ignores), one line per connection where rustls logs warnings,
# is not counted.
mkfifo "$TMP/log.fifo"
awk '
    / WARN / && !/Illegal SNI extension/ { w++; print > problems; fflush(problems) }
    / ERROR / { e++; print > problems; fflush(problems) }
    /panicked/ { p++; print > problems; fflush(problems) }
    / decision / {
        if (/ verdict=allowed /) a++; else if (/ verdict=denied /) d++; else x++
        if (/ cached=true /) c++
    }
    END { printf "%d %d %d %d %d %d %d\n", w, e, p, a, d, x, c > counts }
' problems="$TMP/problems.log" counts="$TMP/counts" <"$TMP/log.fifo" &
AWK_PID=$!

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u RUST_LOG "$SERVE_ALLOCATOR_ENV" taskset -c 0 "$BIN" serve --listen "127.0.0.1:$PORT" \
    --tls-cert-file "$TMP/certs/tls.crt" --tls-key-file "$TMP/certs/tls.key" \
    --objects "$OBJECTS" >"$TMP/log.fifo" 2>&1 &
SERVE_PID=$!

listening() {
    awk -v a="$(printf '0100007F:%04X' "$PORT")" '$2 == a && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}
for _ in $(seq 100); do
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/problems.log" >&2; die "server exited at startup"; }
    listening && break
    sleep 0.1
done
listening || die "server did not start within 10 s"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# --- load -------------------------------------------------------------------------------------

mkdir -p "$OUT"
RSS_TSV=$OUT/rss.tsv
printf 'seconds\trss_kib\n' >"$RSS_TSV"
RSS_START=$(rss_kib "$SERVE_PID")
printf '0\t%s\n' "$RSS_START" >>"$RSS_TSV"
log "serve pid $SERVE_PID on port $PORT, RSS $(mib "$RSS_START") MiB; ${SOAK_SECONDS}s of load" \
    "(wrk -t1 -c$SOAK_CONNECTIONS), RSS every ${SOAK_INTERVAL}s, warm-up ${SOAK_WARMUP}s"

SOAK_BODIES=$BODIES taskset -c 1 wrk -t1 -c"$SOAK_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 5s \
    --latency -s "$LUA" "https://127.0.0.1:$PORT/validate" >"$TMP/wrk.txt" 2>&1 &
WRK_PID=$!
started=$(date +%s)
RSS_WARM=
RSS_WARM_AT=
RSS_MAX=$RSS_START
next=$SOAK_INTERVAL
# Polls every second, so that the end of the load is seen at once; samples every SOAK_INTERVAL.
while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 1
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/problems.log" >&2; die "the server died during the soak"; }
    kill -0 "$WRK_PID" 2>/dev/null || break
    elapsed=$(( $(date +%s) - started ))
    [ "$elapsed" -ge "$next" ] || continue
    next=$(( next + SOAK_INTERVAL ))
    rss=$(rss_kib "$SERVE_PID")
    printf '%s\t%s\n' "$elapsed" "$rss" >>"$RSS_TSV"
    [ "$rss" -gt "$RSS_MAX" ] && RSS_MAX=$rss
    if [ -z "$RSS_WARM" ] && [ "$elapsed" -ge "$SOAK_WARMUP" ]; then
        RSS_WARM=$rss
        RSS_WARM_AT=$elapsed
    fi
    log "$(printf '%4ss  RSS %6s MiB' "$elapsed" "$(mib "$rss")")"
done
wait "$WRK_PID" || { cat "$TMP/wrk.txt" >&2; die "wrk failed"; }
WRK_PID=
kill -0 "$SERVE_PID" 2>/dev/null || die "the server died during the soak"
elapsed=$(( $(date +%s) - started ))
RSS_END=$(rss_kib "$SERVE_PID")
printf '%s\t%s\n' "$elapsed" "$RSS_END" >>"$RSS_TSV"
[ "$RSS_END" -gt "$RSS_MAX" ] && RSS_MAX=$RSS_END
RSS_HWM=$(hwm_kib "$SERVE_PID")
[ -n "$RSS_WARM" ] || { RSS_WARM=$RSS_END; RSS_WARM_AT=$elapsed; }
# One more sample after an interval without load: does memory go back down?
sleep "$SOAK_INTERVAL"
RSS_IDLE=$(rss_kib "$SERVE_PID")
stop_process "$SERVE_PID"
SERVE_PID=
wait "$AWK_PID" || true
AWK_PID=
read -r LOG_WARNINGS LOG_ERRORS LOG_PANICS ALLOWED DENIED ERRORED CACHED <"$TMP/counts"

line=$(grep '^SOAK ' "$TMP/wrk.txt") || { cat "$TMP/wrk.txt" >&2; die "no SOAK line in the wrk output"; }
read -r requests duration_us p50_us p99_us max_us status_errors socket_errors timeouts bad_bodies \
    < <(sed 's/^SOAK //; s/[a-z0-9_]*=//g' <<<"$line")

# --- summary ----------------------------------------------------------------------------------

# Flatness, robust to allocator churn (single samples move by a few MiB either way): the median
# of the last third of the samples after the warm-up against the median of the first third.
# Also the least-squares slope of the samples after the warm-up, in MiB per minute.
read -r RSS_REF RSS_TAIL RSS_SLOPE flat < <(awk -F'\t' -v warm="$SOAK_WARMUP" '
    function median(from, to,    m, i, j, v, tmp) {
        m = 0
        for (i = from; i < to; i++) v[m++] = r[i]
        for (i = 1; i < m; i++) for (j = i; j > 0 && v[j - 1] > v[j]; j--) { tmp = v[j]; v[j] = v[j - 1]; v[j - 1] = tmp }
        return (m % 2) ? v[int(m / 2)] : (v[m / 2 - 1] + v[m / 2]) / 2
    }
    BEGIN { n = 0 }
    NR > 1 && $1 >= warm { t[n] = $1; r[n] = $2; n++ }
    END {
        k = int(n / 3); if (k < 1) k = 1
        ref = median(0, k); tail = median(n - k, n)
        for (i = 0; i < n; i++) { st += t[i]; sr += r[i] }
        for (i = 0; i < n; i++) { num += (t[i] - st / n) * (r[i] - sr / n); den += (t[i] - st / n) ^ 2 }
        slope = den > 0 ? num / den * 60 / 1024 : 0
        allowed = ref * 0.10; if (allowed < 2048) allowed = 2048
        printf "%d %d %.2f %s\n", ref, tail, slope, (tail - ref <= allowed) ? "yes" : "no"
    }' "$RSS_TSV")
errors=$(( status_errors + socket_errors + timeouts + bad_bodies + ERRORED ))

summary() {
    local sha dirty
    sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
    echo "backendtls-webhook soak, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $sha$dirty"
    echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "serve on CPU 0, wrk -t1 -c$SOAK_CONNECTIONS on CPU 1 (HTTP/1.1 keep-alive, TLS), ${SOAK_SECONDS}s;"
    echo "4 fixture reviews in rotation (policy allowed/denied, ConfigMap update denied/create allowed), unique uid and resourceVersion per request"
    echo
    awk -v n="$requests" -v us="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v max="$max_us" 'BEGIN {
        printf "requests        %d (%.0f/s), latency p50 %.3f ms, p99 %.3f ms, max %.1f ms\n",
            n, n / (us / 1e6), p50 / 1000, p99 / 1000, max / 1000 }'
    printf 'errors          %d: non-2xx %d, socket %d, timeouts %d, not an AdmissionReview %d, error verdicts %d\n' \
        "$errors" "$status_errors" "$socket_errors" "$timeouts" "$bad_bodies" "$ERRORED"
    printf 'decisions       %d allowed, %d denied, %d errors (400/503 answers), %d from the decision cache\n' \
        "$ALLOWED" "$DENIED" "$ERRORED" "$CACHED"
    printf 'server log      %d warnings, %d errors, %d panics\n' "$LOG_WARNINGS" "$LOG_ERRORS" "$LOG_PANICS"
    printf 'RSS (MiB)       start %s, first after warm-up (%ss) %s, end %s, max sampled %s, peak (VmHWM) %s, idle %ss after the load %s\n' \
        "$(mib "$RSS_START")" "$RSS_WARM_AT" "$(mib "$RSS_WARM")" "$(mib "$RSS_END")" "$(mib "$RSS_MAX")" \
        "$(mib "$RSS_HWM")" "$SOAK_INTERVAL" "$(mib "$RSS_IDLE")"
    printf 'RSS flat        %s: end %s MiB (median of the last third of the samples after warm-up) vs %s MiB (first third),\n' \
        "$flat" "$(mib "$RSS_TAIL")" "$(mib "$RSS_REF")"
    printf '                allowed +10%% or +2 MiB; trend after warm-up %+.2f MiB/min (samples in target/soak/rss.tsv)\n' "$RSS_SLOPE"
    if [ -s "$TMP/problems.log" ]; then
        echo "last warnings/errors from the server log:"
        tail -5 "$TMP/problems.log" | cut -c1-300
    fi
}

summary | tee "$OUT/summary.txt"
log "summary in target/soak/summary.txt, RSS samples in target/soak/rss.tsv"
if [ "$errors" -gt 0 ] || [ "$flat" != yes ] || [ "$LOG_PANICS" -gt 0 ] || [ "$CACHED" -gt 0 ]; then
    exit 1
fi
