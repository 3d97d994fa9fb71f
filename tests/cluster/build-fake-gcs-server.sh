#!/usr/bin/env bash
# Builds fake-gcs-server (github.com/fsouza/fake-gcs-server, pinned in tests/cluster/fake-gcs-server),
# the GCS emulator the object-storage tests run on 127.0.0.1. Cached apart from the control-plane
# binaries (build.sh), keyed by the pinned sums and this script. Prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
key=$(cat "$here/fake-gcs-server/go.mod" "$here/fake-gcs-server/go.sum" "$here/build-fake-gcs-server.sh" |
  sha256sum | cut -c1-16)
out=$HOME/.cache/tfmodel-testcluster/fake-gcs-server-$key
if [ ! -x "$out/fake-gcs-server" ]; then
  log() { echo "build-fake-gcs-server.sh: $*" >&2; }
  start=$SECONDS
  mkdir -p "$out"
  cd "$here/fake-gcs-server"
  version=$(go list -m -f '{{.Version}}' github.com/fsouza/fake-gcs-server)
  log "building fake-gcs-server $version into $out"
  # Built under a name of this process's own and renamed: an interrupted build never looks
  # cached, and two builds at once (say make and pytest) do not write the same file.
  go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/fake-gcs-server.$$.tmp" \
    github.com/fsouza/fake-gcs-server >&2
  mv "$out/fake-gcs-server.$$.tmp" "$out/fake-gcs-server"
  log "done in $((SECONDS - start)) s"
fi
echo "$out/fake-gcs-server"
