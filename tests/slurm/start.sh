#!/usr/bin/env bash
# A real one-node SLURM cluster on this host, for tests/workflow/test_slurm.py and for trying
# profiles/slurm by hand (Debian or Ubuntu, as root). Installs slurm-wlm, munge, slurmdbd and
# MariaDB with apt-get if they are missing, writes /etc/slurm/slurm.conf and slurmdbd.conf from the
# templates beside this script, starts munged, MariaDB, slurmdbd, slurmctld and slurmd, and waits
# until the node is idle. Daemon state and logs go to $GANREPRO_SLURM_STATE (/tmp/ganrepro-slurm);
# tests/slurm/stop.sh stops the daemons. Exits non-zero, saying why, when any step fails.
#   sudo tests/slurm/start.sh && sinfo
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${GANREPRO_SLURM_STATE:-/tmp/ganrepro-slurm}"
PARTITION="${GANREPRO_SLURM_PARTITION:-debug}"
MARK="written by tests/slurm/start.sh"

fail() { echo "tests/slurm/start.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages and starts daemons)"

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  command -v apt-get >/dev/null || fail "SLURM is not installed and there is no apt-get to install it"
  echo "installing slurm-wlm, slurmdbd, munge and mariadb-server with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || fail "apt-get update failed"
  apt-get install -y -q slurm-wlm slurmdbd munge mariadb-server >/dev/null || fail "apt-get install failed"
fi

for conf in slurm.conf slurmdbd.conf; do
  if [ -e "/etc/slurm/$conf" ] && ! grep -q "$MARK" "/etc/slurm/$conf"; then
    fail "/etc/slurm/$conf exists and was not written by this script: this host has its own SLURM; use it"
  fi
done

mkdir -p "$STATE"/{ctld,d} /run/munge /run/mysqld /etc/slurm
chown munge:munge /run/munge
chown mysql:mysql /run/mysqld
host="$(hostname -s)"
# The node as slurmd sees it, with memory a tenth below the machine's (other work needs some).
node="$(slurmd -C | head -1)"
mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")"
node="$(sed "s/RealMemory=[0-9]*/RealMemory=$((mem * 9 / 10))/" <<<"$node")"
fill() { sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$STATE|g" -e "s|@PARTITION@|$PARTITION|g" -e "s|@NODE@|$node|g" "$1"; }
fill "$HERE/slurm.conf.in" >/etc/slurm/slurm.conf
fill "$HERE/slurmdbd.conf.in" >/etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf  # slurmdbd refuses a readable one

wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll until the command succeeds
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq "$((seconds * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  fail "$what did not come up in ${seconds} s; see $STATE/*.log"
}

# Each daemon once: a second start.sh leaves running ones alone, and munged or MariaDB already
# serving this host (a system service) are used as they are and not recorded for stop.sh.
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! running "$STATE/munged.pid" && ! (munge -n | unmunge) >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 munged sh -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$STATE/munged.pid"
fi

if ! running "$STATE/mariadb.pid" && ! mariadb-admin ping >/dev/null 2>&1; then
  setsid /usr/sbin/mariadbd --user=mysql --skip-networking >"$STATE/mariadb.log" 2>&1 </dev/null &
  wait_for 60 MariaDB mariadb-admin ping
  cp /run/mysqld/mysqld.pid "$STATE/mariadb.pid"  # written as the mysql user, which cannot write to $STATE
fi

running "$STATE/slurmdbd.pid" || slurmdbd
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -n list cluster format=cluster | grep -qw ganrepro || sacctmgr -i add cluster ganrepro >/dev/null

running "$STATE/slurmctld.pid" || slurmctld
wait_for 30 slurmctld scontrol ping
running "$STATE/slurmd.pid" || slurmd
wait_for 60 "node $host (idle)" sh -c "sinfo -h -n $host -o %t | grep -qx idle"
sinfo
