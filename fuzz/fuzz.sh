#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time. `make fuzz` calls it.
#
# Targets (fuzz/fuzz_targets/):
#   review     AdmissionReview bodies: admission::decode and Reviewer::review (default and
#              strict settings) over the in-memory lookup of tests/fixtures/{objects,configmaps}
#   ca_bundle  CA bundle text: ca_bundle::parse_bundle, then assess at three instants
#   objects    YAML/JSON text: objects::parse_str, and the JSON form of each document loads back
#
# Corpora: fuzz/corpus/TARGET/ (git-ignored, kept between runs so coverage accumulates), seeded
# on every run from the committed fuzz/seeds/TARGET/ and from tests/fixtures (reviews and
# samples; certificates and the ca.crt values of the ConfigMap fixtures; YAML and JSON files).
# Crashes land in fuzz/artifacts/TARGET/; each becomes a regression test in
# tests/fuzz_regressions.rs with the input committed under tests/fixtures/fuzz/.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_TARGETS    targets to run (default: review ca_bundle objects)
#   FUZZ_SANITIZER  cargo fuzz sanitizer (default none: the crate forbids unsafe code and the
#                   targets reach no C code; `address` finds memory errors in dependencies'
#                   unsafe code at about half the speed)
#   FUZZ_JOBS       parallel fuzzing processes per target (libFuzzer -jobs/-workers; default 1,
#                   the machine has 2 cores; with more, libFuzzer logs to fuzz-K.log in the
#                   current directory)
#   CARGO           cargo (default cargo)
#
# cargo-fuzz needs nightly compiler features; with the stable toolchain they are unlocked by
# RUSTC_BOOTSTRAP=1, which this script sets for cargo fuzz only. cargo-fuzz itself is installed
# (cargo install cargo-fuzz --locked) when missing.
#
# Exit status: 0 when no target crashed, 1 otherwise. The summary is also written to
# fuzz/artifacts/summary.txt.

set -euo pipefail

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-review ca_bundle objects}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
FUZZ_JOBS=${FUZZ_JOBS:-1}
CARGO=${CARGO:-cargo}

FUZZ=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ/.." && pwd)
FIXTURES=$ROOT/tests/fixtures
cd "$ROOT"

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() { printf '[fuzz] error: %s\n' "$*" >&2; exit 2; }

if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz not found; installing it: $CARGO install cargo-fuzz --locked"
    "$CARGO" install cargo-fuzz --locked >&2 || die "could not install cargo-fuzz"
fi

# --- seeds ------------------------------------------------------------------------------------

# seed TARGET FILE...: copies files into the target's corpus (names prefixed, so that reruns
# overwrite their own copies and never clash with libFuzzer's hash-named entries).
seed() {
    local target=$1 file
    shift
    mkdir -p "$FUZZ/corpus/$target"
    for file in "$@"; do
        [ -f "$file" ] || continue
        cp "$file" "$FUZZ/corpus/$target/seed-$(basename "$(dirname "$file")")-$(basename "$file")"
    done
}

# ca_values: writes the ca.crt values of the ConfigMap fixtures, one file each, into DIR: the
# YAML block scalars (`ca.crt: |`) of tests/fixtures/configmaps, and the JSON strings of the
# ConfigMap reviews and samples.
ca_values() {
    local dir=$1 file
    mkdir -p "$dir"
    for file in "$FIXTURES"/configmaps/*.yaml; do
        awk '
            /^  ca\.crt: [|>]/ { inside = 1; next }
            inside && /^    / { sub(/^    /, ""); print; next }
            inside { exit }
        ' "$file" >"$dir/$(basename "$file" .yaml).pem"
    done
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$dir" "$FIXTURES"/reviews/configmap-*.json "$FIXTURES"/samples/admission-configmap-*.json <<'PY'
import json, os, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    review = json.load(open(path))
    for side in ("object", "oldObject"):
        value = ((review.get("request") or {}).get(side) or {}).get("data", {}).get("ca.crt")
        if isinstance(value, str):
            name = os.path.basename(path).removesuffix(".json")
            open(os.path.join(out, f"{name}-{side}.pem"), "w").write(value)
PY
    fi
    # The first ten certificates of the 50-certificate bundle (the whole is 31 KB, above -max_len).
    awk '/-----END CERTIFICATE-----/ { n++ } { print } n == 10 { exit }' \
        "$FIXTURES/certs/bundle-50.pem" >"$dir/bundle-10.pem"
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-seeds.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

seed review "$FUZZ"/seeds/review/* "$FIXTURES"/reviews/*.json "$FIXTURES"/samples/admission-*.json
ca_values "$TMP/ca"
seed ca_bundle "$FUZZ"/seeds/ca_bundle/* "$TMP"/ca/*.pem \
    $(ls "$FIXTURES"/certs/*.pem | grep -v bundle-50.pem)
seed objects "$FUZZ"/seeds/objects/* "$FIXTURES"/objects/*.yaml "$FIXTURES"/configmaps/*.yaml \
    "$FIXTURES"/samples/objects.yaml "$FIXTURES"/reviews/policy-v1-allowed.json \
    $(find "$ROOT/manifests" -name '*.yaml' 2>/dev/null | sort)

# --- build and run ----------------------------------------------------------------------------

export RUSTC_BOOTSTRAP=1
FUZZ_FLAGS=(-s "$FUZZ_SANITIZER" -a --codegen-units 16)
log "building the fuzz targets (sanitizer: $FUZZ_SANITIZER)"
"$CARGO" fuzz build "${FUZZ_FLAGS[@]}" >&2

# Largest input per target: the fixture reviews are up to 7.5 KB, the bundles and YAML smaller.
max_len() {
    case $1 in
        review) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

mkdir -p "$FUZZ/artifacts"
SUMMARY=$FUZZ/artifacts/summary.txt
: >"$SUMMARY.tmp"
failed=0
for target in $FUZZ_TARGETS; do
    [ -f "$FUZZ/fuzz_targets/$target.rs" ] || die "no fuzz target $target"
    mkdir -p "$FUZZ/artifacts/$target"
    before=$(find "$FUZZ/artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    out=$FUZZ/artifacts/$target.log
    log "running $target for ${FUZZ_SECONDS}s (log: ${out#"$ROOT/"})"
    status=0
    parallel=()
    # -jobs N runs N fuzzing processes (each logging to fuzz-K.log), so only when asked for.
    [ "$FUZZ_JOBS" -gt 1 ] && parallel=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
    "$CARGO" fuzz run "${FUZZ_FLAGS[@]}" "$target" "$FUZZ/corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$target")" \
        -dict="$FUZZ/dicts/$target.dict" -timeout=10 -rss_limit_mb=2048 \
        "${parallel[@]}" -print_final_stats=1 >"$out" 2>&1 || status=$?
    execs=$(grep -h '^stat::number_of_executed_units' "$out" | awk '{ s += $2 } END { print s + 0 }')
    rate=$(grep -h '^stat::average_exec_per_sec' "$out" | awk '{ s += $2 } END { print s + 0 }')
    cov=$(grep -ho 'cov: [0-9]*' "$out" | tail -1 | awk '{ print $2 + 0 }')
    corpus=$(find "$FUZZ/corpus/$target" -type f | wc -l)
    after=$(find "$FUZZ/artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
    new=$(( after - before ))
    line=$(printf '%-10s %10s execs %7s/s  cov %6s  corpus %5s  new crashes %s  exit %s' \
        "$target" "$execs" "$rate" "${cov:-?}" "$corpus" "$new" "$status")
    log "$line"
    echo "$line" >>"$SUMMARY.tmp"
    if [ "$status" != 0 ] || [ "$new" -gt 0 ]; then
        failed=1
        grep -h -m3 -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$out" >&2 || true
    fi
done

{
    echo "cargo fuzz, $(date -u +%Y-%m-%dT%H:%M:%SZ), ${FUZZ_SECONDS}s per target, sanitizer $FUZZ_SANITIZER, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    cat "$SUMMARY.tmp"
} >"$SUMMARY"
rm -f "$SUMMARY.tmp"
cat "$SUMMARY"
if [ "$failed" != 0 ]; then
    log "crashes found: inputs in fuzz/artifacts/TARGET/; reproduce with" \
        "RUSTC_BOOTSTRAP=1 cargo fuzz run -s $FUZZ_SANITIZER TARGET fuzz/artifacts/TARGET/crash-..."
    exit 1
fi
