#!/usr/bin/env bash
# Builds tests/cluster/kstatus (kstatus from sigs.k8s.io/cli-utils) into a cache keyed by its
# source, go.sum and this script, apart from the control-plane binaries. Prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
key=$(cat "$here/kstatus/go.sum" "$here/kstatus/main.go" "$here/build-kstatus.sh" | sha256sum | cut -c1-16)
out=$HOME/.cache/tfmodel-testcluster/kstatus-$key
if [ ! -x "$out/kstatus" ]; then
  mkdir -p "$out"
  (cd "$here/kstatus" && go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/kstatus.tmp" .) >&2
  mv "$out/kstatus.tmp" "$out/kstatus"
fi
echo "$out/kstatus"
