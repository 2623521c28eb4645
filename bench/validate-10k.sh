#!/usr/bin/env bash
# `validate` on 10,000 generated BackendTLSPolicies and the 100 CA ConfigMaps they use (the
# committed tests/fixtures/certs/root-ca.pem), spread over 101 files of 100 documents each.
# Target: under 1 s wall time on the 2-core development machine.
#
#   make bench-validate                   POLICIES=10000 CONFIGMAPS=100 PER_FILE=100
#   WITH_SERVICES=1 make bench-validate   also generate the target Services (no warnings)
#
# Without WITH_SERVICES the target Services are not in the input, so every policy gets a
# "Service not found" warning: the report has 10,000 lines (written to /dev/null). Timed with
# hyperfine when installed (apt-get install hyperfine), else with bash `time` (best of 5).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
POLICIES=${POLICIES:-10000}
CONFIGMAPS=${CONFIGMAPS:-100}
PER_FILE=${PER_FILE:-100}
WITH_SERVICES=${WITH_SERVICES:-}
NOW=2026-06-01T00:00:00Z
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

$CARGO build --release --locked --quiet --bin backendtls-webhook
bin=target/release/backendtls-webhook

python3 - "$work/manifests" "$POLICIES" "$CONFIGMAPS" "$PER_FILE" "$WITH_SERVICES" <<'PY'
import os, sys

out, policies, configmaps, per_file, services = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
pem = open("tests/fixtures/certs/root-ca.pem").read()
block = "".join("    " + line + "\n" for line in pem.strip().splitlines())
os.makedirs(os.path.join(out, "policies"))

def policy(i):
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata:
  name: policy-{i}
  namespace: bench
  labels:
    app.kubernetes.io/name: app-{i}
spec:
  targetRefs:
  - group: ""
    kind: Service
    name: svc-{i}
    sectionName: https
  validation:
    caCertificateRefs:
    - group: ""
      kind: ConfigMap
      name: ca-{i % configmaps}
    hostname: svc-{i}.bench.svc.cluster.local
    subjectAltNames:
    - type: Hostname
      hostname: svc-{i}.bench.svc
  options:
    example.com/min-tls-version: "1.3"
"""

def service(i):
    return f"""---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: bench
spec:
  ports:
  - name: https
    port: 443
"""

for start in range(0, policies, per_file):
    end = min(start + per_file, policies)
    with open(os.path.join(out, "policies", f"policies-{start // per_file:04d}.yaml"), "w") as f:
        f.writelines(policy(i) for i in range(start, end))
        if services:
            f.writelines(service(i) for i in range(start, end))
with open(os.path.join(out, "configmaps.yaml"), "w") as f:
    for j in range(configmaps):
        f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ca-{j}\n  namespace: bench\ndata:\n  ca.crt: |\n{block}")
PY

files=$(find "$work/manifests" -type f | wc -l)
bytes=$(du -sb "$work/manifests" | cut -f1)
echo "validate-10k: $POLICIES policies, $CONFIGMAPS ConfigMaps${WITH_SERVICES:+, $POLICIES Services} in $files files ($((bytes / 1024)) KiB)"
# One run for the verdict and the summary (exit 0: warnings at most).
"$bin" validate "$work/manifests" --now "$NOW" | tail -n 1
cmd="$bin validate $work/manifests --now $NOW"
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 1 --runs 10 --output null "$cmd"
else
  best=
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    $cmd >/dev/null
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "wall time: best of 5 runs: ${best} ms (hyperfine not installed)"
fi
