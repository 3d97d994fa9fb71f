#!/usr/bin/env bash
# Stops exactly the processes up.sh started (by their recorded PIDs) and removes the state.
#   usage: down.sh [RUN_DIR]          stop and clean
#          down.sh --keep [RUN_DIR]   stop, keep the state (etcd data, PKI) for a restart
#          down.sh --check [RUN_DIR]  exit 0 iff every recorded process is still alive
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=false keep=false
if [ "${1:-}" = --check ]; then check=true; shift; fi
if [ "${1:-}" = --keep ]; then keep=true; shift; fi
run=${1:-$here/../../.cluster}
pids_file=$run/pids

# A PID counts only while it still runs the program recorded for it (PIDs get reused).
alive() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"; }
if $check; then
  [ -s "$pids_file" ] || exit 1
  while read -r pid name; do alive "$pid" "$name" || exit 1; done <"$pids_file"
  exit 0
fi

stop() { # pid name: SIGTERM, up to 10 s to exit, then SIGKILL
  local pid=$1 name=$2
  alive "$pid" "$name" || return 0
  kill "$pid" 2>/dev/null && echo "down.sh: stopped $name ($pid)" >&2
  for _ in $(seq 1 50); do alive "$pid" "$name" || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null && echo "down.sh: killed $name ($pid)" >&2
  for _ in $(seq 1 25); do alive "$pid" "$name" || return 0; sleep 0.2; done
}

if [ -f "$pids_file" ]; then
  # One at a time, in reverse start order: the apiserver must be gone before etcd stops, or
  # it keeps retrying etcd instead of exiting.
  tac "$pids_file" | while read -r pid name; do stop "$pid" "$name"; done
fi
# Remove only what up.sh creates, never the directory's other contents.
if $keep; then rm -f "$run/pids"; exit 0; fi
rm -rf "$run/pids" "$run/pki" "$run/etcd" "$run/logs" "$run/kubeconfig" "$run/kwok-stages.yaml" "$run/pods"
