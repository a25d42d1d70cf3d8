#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this host (Debian/Ubuntu, run as root) so that CI and
# tests/workflow/test_slurm_cluster.py exercise the real snakemake-executor-plugin-slurm path: sbatch, srun
# inside the job, squeue status polling, log files. Not for production clusters.
#
#   bash scripts/ci/slurm-up.sh      # install if needed, configure, start, wait until the node is idle
#   bash scripts/ci/slurm-down.sh    # stop the daemons this script started
#
# Idempotent: if the daemons recorded in $STATE_DIR/pids are alive and the node answers, it says so
# and exits 0. Daemon PIDs and logs live in $STATE_DIR (default /tmp/adamw-repro-slurm).
set -euo pipefail

STATE_DIR="${ADAMW_SLURM_STATE_DIR:-/tmp/adamw-repro-slurm}"
PID_FILE="$STATE_DIR/pids"
CONF=/etc/slurm/slurm.conf            # srun inside a job reads the default path; SLURM_CONF alone is not enough
PARTITION="${ADAMW_SLURM_CI_PARTITION:-debug}"
WAIT_S="${ADAMW_SLURM_WAIT_S:-60}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
    echo "slurm-up: ERROR: $*" >&2
    for log in "$STATE_DIR/slurmctld.log" "$STATE_DIR/slurmd.log" /var/log/munge/munged.log; do
        if [[ -f "$log" ]]; then
            echo "----- last lines of $log -----" >&2
            tail -n 30 "$log" >&2
        fi
    done
    exit 1
}

[[ $EUID -eq 0 ]] || { echo "slurm-up: must run as root (installs packages, writes $CONF)" >&2; exit 1; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

recorded_pids_alive() {
    [[ -f "$PID_FILE" ]] || return 1
    local name pid n=0
    while read -r name pid; do
        pid_alive "$pid" || return 1
        n=$((n + 1))
    done <"$PID_FILE"
    [[ $n -eq 3 ]]
}

node_state() { sinfo -h -N -p "$PARTITION" -o '%t' 2>/dev/null | head -n 1; }

# ---- already up? -------------------------------------------------------------------------------
if recorded_pids_alive && [[ "$(node_state)" =~ ^(idle|mix|alloc|comp) ]]; then
    echo "slurm-up: already up (node $(hostname -s) is $(node_state); PIDs in $PID_FILE)"
    exit 0
fi
if [[ -f "$PID_FILE" ]]; then
    echo "slurm-up: found a partial cluster from an earlier run; stopping it first"
    bash "$HERE/slurm-down.sh"
fi
for daemon in munged slurmctld slurmd; do
    if pgrep -x "$daemon" >/dev/null; then
        die "a $daemon (PID $(pgrep -x "$daemon" | tr '\n' ' ')) is running that this script did not start;" \
            "stop it (or use that cluster) before running slurm-up.sh"
    fi
done

# ---- install -----------------------------------------------------------------------------------
t0=$SECONDS
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    echo "slurm-up: installing slurm-wlm and munge from apt"
    # Keep package scripts from starting daemons (no init system here; we start them ourselves).
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    echo "slurm-up: installed in $((SECONDS - t0)) s"
else
    echo "slurm-up: slurm-wlm and munge already installed"
fi

# ---- munge -------------------------------------------------------------------------------------
mkdir -p "$STATE_DIR" /run/munge /var/log/munge /var/lib/munge /etc/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
chmod 0755 /run/munge
chmod 0700 /var/log/munge /var/lib/munge /etc/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    echo "slurm-up: creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
rm -f /run/munge/munged.pid
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid \
    || die "munged failed to start"

# ---- slurm.conf for this host --------------------------------------------------------------------
host="$(hostname -s)"
cpus="$(nproc)"
# slurmd drains a node whose RealMemory exceeds what it detects; MemTotal in MiB is what it detects.
mem_mb="$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd
cat >"$CONF" <<EOF
# Written by scripts/ci/slurm-up.sh for a one-node CI cluster on $host; rewritten on each start.
ClusterName=adamwci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
# No cgroups in containers/VMs without systemd: track processes by /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: sacct has no database here, so clients must poll with squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Keep finished jobs visible to squeue/scontrol for 5 minutes so status polling sees them end.
MinJobAge=300
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
echo "slurm-up: wrote $CONF (node $host, CPUs=$cpus, RealMemory=${mem_mb} MB, partition $PARTITION)"

# ---- start daemons -----------------------------------------------------------------------------
rm -f "$STATE_DIR/slurmctld.pid" "$STATE_DIR/slurmd.pid"
slurmctld || die "slurmctld failed to start"
slurmd || die "slurmd failed to start"

read_pid() {  # wait up to 10 s for a daemon's pid file
    local f="$1" i
    for i in $(seq 1 50); do
        [[ -s "$f" ]] && { cat "$f"; return 0; }
        sleep 0.2
    done
    return 1
}
munged_pid="$(read_pid /run/munge/munged.pid)" || die "munged wrote no PID file"
ctld_pid="$(read_pid "$STATE_DIR/slurmctld.pid")" || die "slurmctld wrote no PID file"
slurmd_pid="$(read_pid "$STATE_DIR/slurmd.pid")" || die "slurmd wrote no PID file"
printf 'munged %s\nslurmctld %s\nslurmd %s\n' "$munged_pid" "$ctld_pid" "$slurmd_pid" >"$PID_FILE"

# ---- wait for the node -------------------------------------------------------------------------
deadline=$((SECONDS + WAIT_S))
state=""
while ((SECONDS < deadline)); do
    state="$(node_state)"
    if [[ "$state" == idle ]]; then
        echo "slurm-up: up in $((SECONDS - t0)) s: node $host idle in partition $PARTITION (PIDs in $PID_FILE)"
        sinfo
        exit 0
    fi
    for name_pid in "munged:$munged_pid" "slurmctld:$ctld_pid" "slurmd:$slurmd_pid"; do
        pid_alive "${name_pid#*:}" || die "${name_pid%%:*} (PID ${name_pid#*:}) exited"
    done
    sleep 1
done
sinfo -R >&2 || true
die "node $host not idle after $WAIT_S s (state: '${state:-no answer from slurmctld}')"
