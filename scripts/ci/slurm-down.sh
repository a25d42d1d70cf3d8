#!/usr/bin/env bash
# Stop the one-node CI cluster started by scripts/ci/slurm-up.sh: only the daemons whose PIDs that
# script recorded, slurmd first (so no job step is orphaned), then slurmctld, then munged.
# Safe to run when nothing is up.
set -euo pipefail

STATE_DIR="${ADAMW_SLURM_STATE_DIR:-/tmp/adamw-repro-slurm}"
PID_FILE="$STATE_DIR/pids"
WAIT_S="${ADAMW_SLURM_WAIT_S:-30}"

if [[ ! -f "$PID_FILE" ]]; then
    echo "slurm-down: nothing to stop ($PID_FILE does not exist)"
    exit 0
fi

declare -A pids
while read -r name pid; do
    pids[$name]="$pid"
done <"$PID_FILE"

stop() {  # stop <name> <pid>: SIGTERM, wait, then SIGKILL if it ignores us
    local name="$1" pid="$2" deadline
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
        echo "slurm-down: $name (PID ${pid:-?}) not running"
        return 0
    fi
    # Guard against a recycled PID: only signal the process if it is still the daemon we started.
    if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]]; then
        echo "slurm-down: PID $pid is no longer $name; leaving it alone"
        return 0
    fi
    kill -TERM "$pid"
    deadline=$((SECONDS + WAIT_S))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "slurm-down: $name (PID $pid) ignored SIGTERM for $WAIT_S s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    echo "slurm-down: stopped $name (PID $pid)"
}

t0=$SECONDS
stop slurmd "${pids[slurmd]:-}"
stop slurmctld "${pids[slurmctld]:-}"
stop munged "${pids[munged]:-}"
rm -f "$PID_FILE"
echo "slurm-down: done in $((SECONDS - t0)) s"
