"""GPU-hour estimates from the throughput table."""

from pathlib import Path

import pytest

from adamw_repro.workflow.throughput import estimate_gpu_hours, load_table

PAPER_MODELS = ("shake_shake_26_2x64d", "shake_shake_26_2x96d", "resnet20", "resnet56", "fastnet")
TABLE = {"default_gpu": "a100", "models": {"net": {"a100": {"images_per_second": 1000, "measured": True},
                                                   "h100": {"images_per_second": 2000, "measured": True}}}}


def test_hours_are_images_over_rate():
    assert estimate_gpu_hours("net", epochs=100, train_size=36_000, table=TABLE) == pytest.approx(1.0)
    assert estimate_gpu_hours("net", 100, 36_000, TABLE, gpu="h100") == pytest.approx(0.5)
    # Evaluation is forward-only: a third of a training image each.
    assert estimate_gpu_hours("net", 100, 0, TABLE, eval_images=108_000) == pytest.approx(1.0)
    assert estimate_gpu_hours("net", 0, 36_000, TABLE) == 0


def test_unknown_model_or_gpu_names_the_known_ones():
    with pytest.raises(ValueError, match="known: net"):
        estimate_gpu_hours("resnet1001", 1, 1, TABLE)
    with pytest.raises(ValueError, match="known: a100, h100"):
        estimate_gpu_hours("net", 1, 1, TABLE, gpu="k80")


def test_shipped_table_covers_every_paper_model_and_labels_estimates():
    table = load_table()
    conf_models = {p.stem for p in (Path(__file__).resolve().parents[2] / "conf" / "model").glob("*.yaml")}
    for model in PAPER_MODELS:
        assert model in conf_models
        assert estimate_gpu_hours(model, 100, 45_000) > 0
        for gpu, row in table["models"][model].items():
            if isinstance(row, dict):
                assert isinstance(row["measured"], bool), (model, gpu)
                assert row["measured"] or "ESTIMATE" in row["basis"], (model, gpu)
