"""check_slurm_request against canned sinfo/sacctmgr answers (no cluster needed; live checks are in
tests/workflow/test_slurm_cluster.py)."""

from __future__ import annotations

import subprocess

import pytest

from adamw_repro.workflow import slurm_check
from adamw_repro.workflow.slurm_check import Partition, check_slurm_request, gpus_in_gres, parse_sinfo

SINFO = """\
cpu* (null)
gpu gpu:a100:4(S:0-1)
gpu gpu:a100:2(S:0)
big gpu:h100:8,shard:16
"""


def fake_runner(monkeypatch, sinfo: str = SINFO, accounts: str | None = None) -> list[list[str]]:
    """Replace the SLURM command runner; `accounts=None` acts like a cluster without slurmdbd."""
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(argv)
        if argv[0] == "sinfo":
            return sinfo
        if argv[0] == "sacctmgr" and accounts is not None:
            return accounts
        raise subprocess.CalledProcessError(1, argv, stderr="accounting storage is disabled")

    monkeypatch.setattr(slurm_check, "_run", run)
    return calls


@pytest.mark.parametrize(
    ("gres", "gpus"),
    [("(null)", 0), ("gpu:4", 4), ("gpu:a100:4(S:0-1)", 4), ("gpu:h100:8,shard:16", 8), ("shard:8", 0)],
)
def test_gpus_in_gres(gres, gpus):
    assert gpus_in_gres(gres) == gpus


def test_parse_sinfo_merges_lines_of_one_partition():
    assert parse_sinfo(SINFO) == {
        "cpu": Partition("cpu", is_default=True, max_gpus_per_node=0),
        "gpu": Partition("gpu", is_default=False, max_gpus_per_node=4),
        "big": Partition("big", is_default=False, max_gpus_per_node=8),
    }


def test_no_partition_means_the_default_one(monkeypatch):
    calls = fake_runner(monkeypatch)
    assert check_slurm_request(None, None, 0) == "cpu"
    assert calls == [["sinfo", "-h", "-o", "%P %G"]]


def test_gpu_partition_with_enough_gpus_passes(monkeypatch):
    fake_runner(monkeypatch)
    assert check_slurm_request("gpu", None, 4) == "gpu"


def test_missing_partition_names_the_setting(monkeypatch):
    fake_runner(monkeypatch)
    with pytest.raises(ValueError, match=r"'a100' does not.*\(partitions: big, cpu, gpu\).*SBATCH_PART"):
        check_slurm_request("a100", None, 0)


def test_gpus_on_cpu_partition_names_partitions_that_have_them(monkeypatch):
    fake_runner(monkeypatch)
    with pytest.raises(ValueError, match=r"1 GPU\(s\).*'cpu' has 0.*enough GPUs: big, gpu.*ADAMW_SLURM_GPU"):
        check_slurm_request(None, None, 1)


def test_more_gpus_than_any_node_has(monkeypatch):
    fake_runner(monkeypatch)
    with pytest.raises(ValueError, match=r"asks for 16 GPU\(s\).*'big' has 8.*enough GPUs: none"):
        check_slurm_request("big", None, 16)


def test_no_default_partition_and_none_given(monkeypatch):
    fake_runner(monkeypatch, sinfo="gpu gpu:2\n")
    with pytest.raises(ValueError, match=r"no default partition.*set SBATCH_PARTITION"):
        check_slurm_request(None, None, 0)


def test_unknown_account_is_refused_when_the_cluster_keeps_accounts(monkeypatch):
    fake_runner(monkeypatch, accounts="proj-a\nproj-b\n")
    assert check_slurm_request("cpu", "proj-b", 0) == "cpu"
    with pytest.raises(ValueError, match=r"'proj-c' is not one of yours \(proj-a, proj-b\).*SBATCH_ACCOUNT"):
        check_slurm_request("cpu", "proj-c", 0)


def test_account_is_not_checked_without_accounting(monkeypatch):
    fake_runner(monkeypatch, accounts=None)
    assert check_slurm_request("cpu", "anything", 0) == "cpu"


def test_missing_sinfo_says_where_to_run(monkeypatch):
    def run(argv):
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(slurm_check, "_run", run)
    with pytest.raises(ValueError, match=r"sinfo not found.*profiles/local"):
        check_slurm_request(None, None, 0)


def test_cli_uses_gpu_partition_variable_for_gpu_jobs(monkeypatch, capsys):
    fake_runner(monkeypatch)
    monkeypatch.setenv("SBATCH_PARTITION", "cpu")
    monkeypatch.setenv("ADAMW_SLURM_GPU_PARTITION", "gpu")
    monkeypatch.delenv("SBATCH_ACCOUNT", raising=False)
    assert slurm_check.main(["--gpus", "2"]) == 0
    assert "partition 'gpu'" in capsys.readouterr().out
    assert slurm_check.main(["--gpus", "0"]) == 0
    assert "partition 'cpu'" in capsys.readouterr().out
    assert slurm_check.main(["--gpus", "5"]) == 1
    assert "ADAMW_SLURM_GPU_PARTITION" in capsys.readouterr().out
