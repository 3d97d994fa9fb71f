#!/usr/bin/env bash
# Builds metrics-server (sigs.k8s.io/metrics-server, pinned in tests/cluster/metrics-server) and
# copies kwok's metrics objects next to it: the CRDs of Metric, ClusterResourceUsage and
# ResourceUsage (kwok-metrics-crds.yaml), the Metric that serves a node's resource metrics and
# the pod usage read from annotations (kwok-metrics.yaml). Cached apart from the control-plane
# binaries (build.sh), keyed by the pinned sums and this script. Prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
key=$(cat "$here/metrics-server/go.mod" "$here/metrics-server/go.sum" "$here/kwok/go.sum" "$here/build-metrics-server.sh" |
  sha256sum | cut -c1-16)
out=$HOME/.cache/tfmodel-testcluster/metrics-server-$key
if [ ! -f "$out/.done" ]; then
  log() { echo "build-metrics-server.sh: $*" >&2; }
  start=$SECONDS
  mkdir -p "$out"
  cd "$here/metrics-server"
  version=$(go list -m -f '{{.Version}}' sigs.k8s.io/metrics-server)
  log "building metrics-server $version into $out"
  go build -trimpath -buildvcs=false -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$version" \
    -o "$out/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server >&2
  cd "$here/kwok"
  go mod download sigs.k8s.io/kwok
  src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  for crd in metrics clusterresourceusages resourceusages; do
    cat "$src/kustomize/crd/bases/kwok.x-k8s.io_$crd.yaml"; echo '---'
  done >"$out/kwok-metrics-crds.yaml"
  for f in resource/metrics-resource.yaml usage/usage-from-annotation.yaml; do
    cat "$src/kustomize/metrics/$f"; echo '---'
  done >"$out/kwok-metrics.yaml"
  touch "$out/.done"
  log "done in $((SECONDS - start)) s"
fi
echo "$out"
