#!/usr/bin/env bash
# Stops the daemons tests/slurm/start.sh started (by their pid files), leaving the packages and
# /etc/slurm in place: start.sh starts them again.
set -uo pipefail
STATE="${GANREPRO_SLURM_STATE:-/tmp/ganrepro-slurm}"
for daemon in slurmd slurmctld slurmdbd mariadb munged; do
  pidfile="$STATE/$daemon.pid"
  [ -s "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && echo "tests/slurm/stop.sh: $daemon ($pid) did not stop" >&2
  fi
  rm -f "$pidfile"
done
