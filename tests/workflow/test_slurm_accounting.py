"""The SLURM pre-flight check catches a cluster without accounting, where Snakemake's sacct polling never sees a
job end and the workflow would wait silently, and says which settings to use."""

from __future__ import annotations

import pytest

from adamw_repro.workflow import slurm_check
from adamw_repro.workflow.slurm_check import NO_ACCOUNTING_SETTINGS, check_accounting

NONE = {"AccountingStorageType": "accounting_storage/none", "MinJobAge": "300 sec"}
SQUEUE = {"ADAMW_SLURM_STATUS_COMMAND": "squeue", "ADAMW_SLURM_INIT_SECONDS": "2"}


def test_no_accounting_without_squeue_polling_is_one_line_naming_the_settings():
    with pytest.raises(ValueError) as err:
        check_accounting({}, NONE)
    text = str(err.value)
    assert "no job accounting (AccountingStorageType=accounting_storage/none)" in text
    assert NO_ACCOUNTING_SETTINGS in text and "settings.example.env" in text and "\n" not in text


def test_squeue_polling_on_a_cluster_without_accounting_passes():
    check_accounting(SQUEUE, NONE)
    check_accounting({"ADAMW_SLURM_STATUS_COMMAND": "squeue"}, NONE)  # plugin default 40 s < 300 / 3


def test_a_first_poll_after_squeue_forgot_the_job_is_refused():
    with pytest.raises(ValueError, match=r"MinJobAge=60 s: set ADAMW_SLURM_INIT_SECONDS=20 or less \(now 40"):
        check_accounting({"ADAMW_SLURM_STATUS_COMMAND": "squeue"}, {**NONE, "MinJobAge": "60 sec"})


def test_a_cluster_with_accounting_or_unknown_config_needs_nothing():
    check_accounting({}, {"AccountingStorageType": "accounting_storage/slurmdbd"})
    check_accounting({}, {})


def test_scontrol_output_is_parsed(monkeypatch):
    out = "Configuration data as of 2026-12-02T19:00:00\nAccountingStorageType   = accounting_storage/none\n" \
          "MinJobAge               = 300 sec\n"
    monkeypatch.setattr(slurm_check, "_run", lambda argv: out)
    assert slurm_check.slurm_config()["AccountingStorageType"] == "accounting_storage/none"
    with pytest.raises(ValueError):
        check_accounting({})


def test_the_command_line_reports_it(monkeypatch, capsys):
    monkeypatch.setattr(slurm_check, "check_slurm_request", lambda *a: "debug")
    monkeypatch.setattr(slurm_check, "slurm_config", lambda: NONE)
    monkeypatch.delenv("ADAMW_SLURM_STATUS_COMMAND", raising=False)
    assert slurm_check.main([]) == 1
    assert "no job accounting" in capsys.readouterr().out
