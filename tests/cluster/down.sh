#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by their recorded PIDs) and removes the state.
#   usage: down.sh [RUN_DIR]          stop and clean
#          down.sh --check [RUN_DIR]  exit 0 iff every recorded process is still alive
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
run=${1:-$here/../../.cluster}
pids_file=$run/pids

# A PID counts only while it still runs the program recorded for it (PIDs get reused).
alive() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"; }
if $check; then
  [ -s "$pids_file" ] || exit 1
  while read -r pid name; do alive "$pid" "$name" || exit 1; done <"$pids_file"
  exit 0
fi

if [ -f "$pids_file" ]; then
  # Stop in reverse start order: kwok and controllers first, etcd last.
  tac "$pids_file" | while read -r pid name; do
    if alive "$pid" "$name"; then kill "$pid" && echo "down.sh: stopped $name ($pid)" >&2; fi
  done
  for _ in $(seq 1 50); do
    remaining=0
    while read -r pid name; do alive "$pid" "$name" && remaining=1; done <"$pids_file"
    [ $remaining -eq 0 ] && break
    sleep 0.2
  done
  while read -r pid name; do
    if alive "$pid" "$name"; then kill -9 "$pid" && echo "down.sh: killed $name ($pid)" >&2; fi
  done <"$pids_file"
fi
# Remove only what up.sh creates, never the directory's other contents.
rm -rf "$run/pids" "$run/pki" "$run/etcd" "$run/logs" "$run/kubeconfig" "$run/kwok-stages.yaml" "$run/pods"
