"""A finished run's line: its time labelled as that of its epochs, and a continued run says it resumed."""

from __future__ import annotations

from adamw_repro.training.pack import result_line
from adamw_repro.workflow.console import RESULT

METRICS = {"status": "ok", "final": {"test_error": 0.25}, "epochs": 3, "wall_seconds": 98.34, "resumed_from": None}


def test_the_time_is_labelled_and_the_console_recognises_the_line():
    line = result_line("fig4_restarts adamw cosine (fig4_restarts-2cc3050b)", METRICS)
    assert line.endswith(": ok, test error 0.2500 after 3 epochs (98.3 s of epochs)")
    assert RESULT.search(line)["run"] == "fig4_restarts-2cc3050b"


def test_a_resumed_run_says_so():
    line = result_line("x (r-1)", {**METRICS, "resumed_from": 1.5})
    assert line.endswith("(98.3 s of epochs; resumed from its checkpoint at epoch 1.5)")
