"""Check a SLURM request against the cluster before the first job is submitted.

sbatch rejects a GPU request on a partition without GPUs with only "Invalid generic resource (gres)
specification", after Snakemake has already started. `check_slurm_request` asks `sinfo` first and
fails with the option that was wrong and where to change it (profiles/slurm/settings.example.env).
`check_accounting` catches a cluster without an accounting database, where Snakemake's default status
polling (sacct) never sees a job end and the workflow waits silently.

    python -m adamw_repro.workflow.slurm_check --gpus 1      # reads the variables of settings.example.env
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import subprocess
from dataclasses import dataclass

SETTINGS_HINT = "profiles/slurm/settings.example.env"


@dataclass(frozen=True)
class Partition:
    """One partition as `sinfo -h -o "%P %G"` reports it."""

    name: str
    is_default: bool
    max_gpus_per_node: int  # 0 when no node of the partition has gpu GRES


def _run(argv: list[str]) -> str:
    """Run a SLURM client command and return its stdout; CalledProcessError if it fails."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def gpus_in_gres(gres: str) -> int:
    """GPUs per node in a `%G` field such as 'gpu:a100:4(S:0-1),shard:8'; 0 for '(null)'."""
    gres = re.sub(r"\([^)]*\)", "", gres)  # drop socket bindings, e.g. (S:0-1)
    total = 0
    for item in gres.split(","):
        parts = item.strip().split(":")
        if parts[0] == "gpu":
            total += int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return total


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from `sinfo -h -o "%P %G"` output (one line per partition and GRES combination)."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, gres = line.strip().partition(" ")
        is_default = name.endswith("*")
        name = name.rstrip("*")
        gpus = gpus_in_gres(gres)
        if name in partitions:
            old = partitions[name]
            is_default = is_default or old.is_default
            gpus = max(gpus, old.max_gpus_per_node)
        partitions[name] = Partition(name, is_default, gpus)
    return partitions


def _query_partitions() -> dict[str, Partition]:
    try:
        return parse_sinfo(_run(["sinfo", "-h", "-o", "%P %G"]))
    except FileNotFoundError as e:
        raise ValueError(
            "sinfo not found: the slurm profile must run where SLURM clients are installed "
            "(a login node), or use profiles/local"
        ) from e
    except subprocess.CalledProcessError as e:
        raise ValueError(f"sinfo failed, so the SLURM request cannot be checked: {e.stderr.strip()}") from e


def _known_accounts() -> set[str] | None:
    """Accounts of this user per sacctmgr; None where the cluster keeps no accounting database."""
    argv = ["sacctmgr", "-n", "-P", "show", "associations", f"user={getpass.getuser()}", "format=account"]
    try:
        out = _run(argv)
    except (FileNotFoundError, subprocess.CalledProcessError):
        return None
    accounts = {line.strip() for line in out.splitlines() if line.strip()}
    return accounts or None


def check_slurm_request(partition: str | None, account: str | None, gpus: int) -> str:
    """Check that `partition` exists, has `gpus` GPUs on one node, and `account` is one of the user's.

    `partition=None` means the cluster's default partition. Returns the partition jobs will go to.
    Raises ValueError naming the setting to change and where, before any job is submitted.
    """
    partitions = _query_partitions()
    if partition is None:
        defaults = [p.name for p in partitions.values() if p.is_default]
        if not defaults:
            raise ValueError(
                "no SLURM partition given and the cluster has no default partition "
                f"(partitions: {', '.join(sorted(partitions)) or 'none'}); "
                f"set SBATCH_PARTITION (see {SETTINGS_HINT})"
            )
        partition = defaults[0]
    elif partition not in partitions:
        raise ValueError(
            f"SLURM partition {partition!r} does not exist on this cluster "
            f"(partitions: {', '.join(sorted(partitions)) or 'none'}); "
            f"set SBATCH_PARTITION, or ADAMW_SLURM_GPU_PARTITION for the train rule (see {SETTINGS_HINT})"
        )
    available = partitions[partition].max_gpus_per_node
    if gpus > available:
        with_gpus = sorted(p.name for p in partitions.values() if p.max_gpus_per_node >= gpus)
        raise ValueError(
            f"the job asks for {gpus} GPU(s) (the `gpu` resource, from the selected scale in conf/) but "
            f"partition {partition!r} has {available} per node; partitions with enough GPUs: "
            f"{', '.join(with_gpus) or 'none'}. Set ADAMW_SLURM_GPU_PARTITION (see {SETTINGS_HINT}) "
            "or choose a scale that runs on CPU"
        )
    if account:
        known = _known_accounts()
        if known is not None and account not in known:
            raise ValueError(
                f"SLURM account {account!r} is not one of yours ({', '.join(sorted(known))}); "
                f"set SBATCH_ACCOUNT (see {SETTINGS_HINT})"
            )
    return partition


def slurm_config() -> dict[str, str]:
    """`scontrol show config` as {key: value}; {} where scontrol fails."""
    try:
        out = _run(["scontrol", "show", "config"])
    except (FileNotFoundError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return {}
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


NO_ACCOUNTING_SETTINGS = "ADAMW_SLURM_STATUS_COMMAND=squeue ADAMW_SLURM_INIT_SECONDS=2 ADAMW_SLURM_NO_ACCOUNT=1"


def check_accounting(environ, config: dict[str, str] | None = None) -> None:
    """A cluster without accounting (AccountingStorageType none) needs squeue polling: without it Snakemake
    never sees a job end. squeue forgets a job MinJobAge seconds after it ends, so the first poll must come
    sooner (the plugin polls with squeue only while MinJobAge >= 3 x the seconds before its first check)."""
    config = slurm_config() if config is None else config
    if not config.get("AccountingStorageType", "").endswith("/none"):
        return
    where = f"this cluster keeps no job accounting (AccountingStorageType={config['AccountingStorageType']})"
    if environ.get("ADAMW_SLURM_STATUS_COMMAND", "").strip() != "squeue":
        raise ValueError(f"{where}, so polling with sacct would never see a job end: set {NO_ACCOUNTING_SETTINGS} "
                         f"(see {SETTINGS_HINT})")
    min_age = re.match(r"\d+", config.get("MinJobAge", ""))
    init = environ.get("ADAMW_SLURM_INIT_SECONDS", "").strip() or "40"  # the plugin's default
    if min_age and init.isdigit() and int(min_age.group()) < 3 * int(init):
        raise ValueError(f"{where} and forgets a finished job after MinJobAge={min_age.group()} s: set "
                         f"ADAMW_SLURM_INIT_SECONDS={max(1, int(min_age.group()) // 3)} or less "
                         f"(now {init}; see {SETTINGS_HINT})")


def main(argv: list[str] | None = None) -> int:
    """Command line: check the settings of the environment; exit 1 with the reason if they are wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--partition",
        help="default: $ADAMW_SLURM_GPU_PARTITION if --gpus > 0, else $SBATCH_PARTITION, else the cluster's",
    )
    parser.add_argument("--account", default=os.environ.get("SBATCH_ACCOUNT"), help="$SBATCH_ACCOUNT")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs one job asks for (the train rule's `gpu`)")
    args = parser.parse_args(argv)
    if args.partition is None:  # the same lookup profiles/slurm does for the train rule
        gpu_partition = os.environ.get("ADAMW_SLURM_GPU_PARTITION") if args.gpus > 0 else None
        args.partition = gpu_partition or os.environ.get("SBATCH_PARTITION") or None
    try:
        chosen = check_slurm_request(args.partition, args.account, args.gpus)
        check_accounting(os.environ)
    except ValueError as e:
        print(f"slurm_check: {e}")
        return 1
    print(f"slurm_check: OK, partition {chosen!r} can run a job with {args.gpus} GPU(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
