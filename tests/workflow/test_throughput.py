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


def test_a_run_within_the_site_limit_is_one_job_of_twice_its_estimate_plus_start_up():
    from adamw_repro.workflow.throughput import JobPlan, job_plan

    assert job_plan(600) == JobPlan(runtime_minutes=21, jobs=1)  # 2 x 10 min + 1 min to start
    assert job_plan(600, max_minutes=21) == JobPlan(21, 1)
    assert job_plan(0) == JobPlan(1, 1)


def test_a_run_longer_than_the_site_limit_is_split_into_enough_jobs():
    from adamw_repro.workflow.throughput import JOB_STARTUP_SECONDS, SLACK, job_plan

    hours = 13 * 3600  # a Fig. 3 run at paper scale, on a site whose jobs last at most a day / two hours
    assert job_plan(hours, max_minutes=24 * 60).jobs == 2
    plan = job_plan(hours, max_minutes=120)
    assert plan.runtime_minutes == 120
    assert plan.jobs == -(-hours * SLACK // (120 * 60 - JOB_STARTUP_SECONDS))
    # SLURM's smallest limit: each job trains for at least half of it.
    assert job_plan(150, max_minutes=1).jobs == 10
    with pytest.raises(ValueError, match="maximum runtime must be >= 1 minute"):
        job_plan(10, max_minutes=0)


def test_sigterm_lead_only_on_jobs_long_enough_for_it():
    from adamw_repro.workflow.throughput import signal_lead_seconds

    assert signal_lead_seconds(1) == 0 and signal_lead_seconds(9) == 0
    assert signal_lead_seconds(10) == 60 and signal_lead_seconds(120) == 300 and signal_lead_seconds(1440) == 300


def test_run_seconds_reads_epochs_and_sizes_from_the_resolved_config():
    from adamw_repro.workflow.throughput import estimate_seconds, run_seconds

    table = {"default_gpu": "a100", "models": {"cnn": {"cpu": {"images_per_second": 1000, "measured": True}},
                                               "fastnet": {"a100": {"images_per_second": 1000, "measured": False}}}}
    # Generated data: training and test sizes stated; the test set every 2 epochs and at the end.
    small = {"epochs": 7, "test_every": 2, "data": {"train_size": 1000, "val_size": 500, "test_size": 1000}}
    expected = estimate_seconds("cnn", 7, 1000, table, device="cpu", eval_images=round(500 + 1000 * 4 / 7))
    assert run_seconds(small, "cnn", table, "cpu") == pytest.approx(expected)
    assert run_seconds(small, "cnn", table, "a100") is None  # no rate: no estimate
    # A real data set: its files' training images include the validation split; test only at the end.
    cifar = {"epochs": 100, "test_every": 0, "data": {"images": {"train": 50000, "test": 10000}, "val_size": 5000}}
    assert run_seconds(cifar, "fastnet", table, "a100") == pytest.approx(
        estimate_seconds("fastnet", 100, 45000, table, device="a100", eval_images=5000 + 100))
