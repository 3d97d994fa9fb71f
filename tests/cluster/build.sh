#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the Go modules pinned in this directory.
# The binaries are cached outside the repository, keyed by the pinned sums and this
# script, so a warm build is a cache hit. Prints the binary directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

key=$(cat "$here/go.sum" "$here/kwok/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
out=${TESTCLUSTER_BIN:-$HOME/.cache/tfmodel-testcluster/$key/bin}
if [ -f "$out/.done" ]; then echo "$out"; exit 0; fi
mkdir -p "$out"
log() { echo "build.sh: $*" >&2; }
start=$SECONDS

cd "$here"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w
 -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1
 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean
 -X k8s.io/client-go/pkg/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitMajor=1
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
log "building Kubernetes $version (cold: ~15-25 min on 2 cores) into $out"
go build -p 2 -trimpath -buildvcs=false -tags=notest,grpcnotrace -ldflags "$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl >&2
log "building etcd"
# Without -o the binary would be called "server" (the path element before /v3).
go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 >&2

cd "$here/kwok"
log "building kwok"
go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/kwok" sigs.k8s.io/kwok/cmd/kwok >&2
# kwok has no built-in stages; kwokctl's defaults live in the module's kustomize dir.
src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cat "$src/kustomize/stage/$f"; echo '---'
done > "$out/kwok-stages.yaml"

touch "$out/.done"
log "done in $((SECONDS - start)) s"
echo "$out"
