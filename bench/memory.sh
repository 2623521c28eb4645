#!/usr/bin/env bash
# Resident memory of `serve` in cluster mode against a fake apiserver holding many ConfigMaps
# that no policy references (default 5,000 of 10 KiB each: 50 MB of data), after the caches
# have synced; and of `serve` idle without a cluster. Target: under 100 MiB in cluster mode.
#
#   make bench-memory            CONFIGMAPS=5000 SIZE=10240
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bench-memory] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/common.sh
. bench/common.sh
CARGO=${CARGO:-cargo}
CONFIGMAPS=${CONFIGMAPS:-5000}
SIZE=${SIZE:-10240}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

$CARGO build --release --locked --quiet --bin backendtls-webhook --example fake-apiserver
bin=target/release/backendtls-webhook
$bin certs --out "$work/certs" 2>/dev/null

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
wait_ready() {
  for _ in $(seq 1 600); do
    if curl -s --cacert "$work/certs/ca.crt" "https://localhost:$1/readyz" 2>/dev/null | grep -q '^ok'; then return 0; fi
    sleep 0.1
  done
  echo "server on port $1 never became ready" >&2; return 1
}

target/release/examples/fake-apiserver --configmaps "$CONFIGMAPS" --size "$SIZE" \
  --objects tests/fixtures/objects --objects tests/fixtures/configmaps --kubeconfig "$work" >"$work/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done

port=$(free_port)
started=$(date +%s.%N)
env "$SERVE_ALLOCATOR_ENV" $bin serve --listen "127.0.0.1:$port" --tls-cert-file "$work/certs/tls.crt" --tls-key-file "$work/certs/tls.key" \
  --kubeconfig "$work/kubeconfig" --log-format json 2>"$work/serve-cluster.log" &
serve=$!; pids+=($serve)
wait_ready "$port"
synced=$(date +%s.%N)
cluster_rss=$(rss_mib $serve)
cluster_hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$serve/status")

port2=$(free_port)
env "$SERVE_ALLOCATOR_ENV" $bin serve --listen "127.0.0.1:$port2" --tls-cert-file "$work/certs/tls.crt" --tls-key-file "$work/certs/tls.key" \
  --objects tests/fixtures/samples/objects.yaml 2>"$work/serve-idle.log" &
idle=$!; pids+=($idle)
wait_ready "$port2"
idle_rss=$(rss_mib $idle)

printf 'cluster mode, %s unrelated ConfigMaps of %s bytes: synced in %.1f s, RSS %s MiB (peak %s MiB) [target < 100 MiB]\n' \
  "$CONFIGMAPS" "$SIZE" "$(echo "$synced - $started" | bc)" "$cluster_rss" "$cluster_hwm"
printf 'clusterless, idle after start: RSS %s MiB [target < 32 MiB]\n' "$idle_rss"
