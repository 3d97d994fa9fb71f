#!/usr/bin/env bash
# Installs moto's S3 server (PyPI moto[server], pinned here) into a venv of its own, cached in
# ~/.cache keyed by this script, and prints the path of its `moto_server`. A venv of its own
# because moto needs botocore, which needs python-dateutil < 3, while the operator's
# kubernetes client (37.0.2) needs python-dateutil >= 3: the two cannot share one venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=5.2.5
key=$(sha256sum "$here/build-moto.sh" | cut -c1-16)
out=$HOME/.cache/tfmodel-testcluster/moto-$key
if [ ! -x "$out/bin/moto_server" ]; then
  log() { echo "build-moto.sh: $*" >&2; }
  start=$SECONDS
  log "installing moto[server]==$version into $out"
  # Made under a name of this process's own and renamed: an interrupted install never looks
  # cached, and two at once do not write into the same venv.
  rm -rf "$out.$$.tmp"
  python3 -m venv "$out.$$.tmp"
  "$out.$$.tmp/bin/pip" install -q "moto[server]==$version" >&2
  rm -rf "$out"
  mv "$out.$$.tmp" "$out"
  # A venv's scripts name its interpreter by absolute path: make them name the final one.
  sed -i "1s|$out.$$.tmp|$out|" "$out/bin/moto_server" "$out/bin/pip"
  log "done in $((SECONDS - start)) s"
fi
echo "$out/bin/moto_server"
