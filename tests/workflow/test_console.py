"""The console: one line per finished run, a progress line with the time left at the measured pace, and a run
stopped at a SLURM time limit reported as continuing with its job count, read from the training logs."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from adamw_repro.workflow.console import Console, duration, failures

RESULT = "fig4_restarts sgdw cosine alpha=0.1 lambda=0.01 epochs=3 seed=0 ({}): ok, test error 0.6090 after 3 epochs"
STOP = ("stopped on SIGTERM at epoch {} step 12; checkpoint results/smoke/runs/{}/checkpoint.pt; the same command "
        "resumes")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_one_line_per_finished_run_and_a_progress_line(tmp_path):
    clock = Clock()
    con = Console(tmp_path, {"a-1": 10.0, "b-2": 10.0, "c-3": 20.0, "d-4": 5.0}, clock=clock, finished={"d-4"})
    assert con.poll() == []  # no logs yet
    log = tmp_path / "pack-x.log"
    log.write_text("[fig4] epoch 1: train loss 1.0\n" + RESULT.format("a-1") + "\n" + RESULT.format("b-2")[:20])
    clock.now = 40.0  # 10 estimated seconds took 40: the pace is a quarter of the estimate
    assert con.poll() == [RESULT.format("a-1"), "progress: 2 of 4 runs done, about 2 min left"]
    with log.open("a") as fh:  # the rest of a line still being written when it was read
        fh.write(RESULT.format("b-2")[20:] + "\n")
    clock.now = 80.0  # 20 estimated seconds in 80: 20 to do take 80 more
    assert con.poll() == [RESULT.format("b-2"), "progress: 3 of 4 runs done, about 80 s left"]
    assert con.poll() == []  # nothing new, nothing printed


def test_a_run_stopped_at_the_time_limit_is_continuing_not_an_error(tmp_path):
    con = Console(tmp_path, {"a-1": 100.0}, jobs={"a-1": 3}, clock=Clock())
    log = tmp_path / "pack-x.log"
    log.write_text(STOP.format(4, "a-1") + "\n")
    lines = con.poll()
    assert lines[0] == "a-1: continuing from its checkpoint (epoch 4), job 2 of ~3"
    assert lines[1] == "progress: 0 of 1 runs done"
    assert not any("rror" in line for line in lines)
    log.write_text(STOP.format(8, "a-1") + "\n")  # the retried job's log starts afresh (shorter than before)
    log.write_text(STOP.format(8, "a-1")[:10])
    con.poll()
    log.write_text(STOP.format(8, "a-1") + "\n")
    assert con.poll()[0] == "a-1: continuing from its checkpoint (epoch 8), job 3 of ~3"


RESUMED = "resumed at epoch {} step 12 from results/smoke/runs/{}/checkpoint.pt"


def test_a_continuation_is_seen_in_the_next_jobs_log_when_the_stopped_ones_was_replaced_unread(tmp_path):
    con = Console(tmp_path, {"a-1": 100.0}, jobs={"a-1": 3}, clock=Clock())
    log = tmp_path / "pack-x.log"
    log.write_text("epoch 1: train loss 1.0\n")
    con.poll()
    log.unlink()  # job 1 wrote its stop line and Snakemake deleted the log for the retry before the next poll
    log.write_text(RESUMED.format(4, "a-1") + "\n")
    assert con.poll()[0] == "a-1: continuing from its checkpoint (epoch 4), job 2 of ~3"
    # seen both ways, a stop and its resume are one continuation
    log.write_text(STOP.format(8, "a-1") + "\n")
    assert con.poll()[0] == "a-1: continuing from its checkpoint (epoch 8), job 3 of ~3"
    log.write_text(RESUMED.format(8, "a-1") + "\nepoch 9: train loss 0.5\n")
    assert con.poll() == []


def test_a_job_beyond_the_plan_raises_the_count_and_a_tuned_run_joins_the_total(tmp_path):
    con = Console(tmp_path, {"a-1": 10.0}, jobs={"a-1": 1}, clock=Clock())
    (tmp_path / "p.log").write_text(STOP.format(1, "a-1") + "\n" + RESULT.format("tuned-9") + "\n")
    lines = con.poll()
    assert lines[0] == "a-1: continuing from its checkpoint (epoch 1), job 2 of ~2"
    assert lines[1] == RESULT.format("tuned-9") and lines[2].startswith("progress: 1 of 2 runs done")


def test_follow_prints_from_a_thread_and_stops_after_a_last_poll(tmp_path):
    stream = io.StringIO()
    con = Console(tmp_path, {"a-1": 1.0})
    finish = con.follow(interval=60, stream=stream)
    (tmp_path / "p.log").write_text(RESULT.format("a-1") + "\n")
    t0 = time.monotonic()
    finish()
    assert time.monotonic() - t0 < 10
    assert stream.getvalue().splitlines() == [RESULT.format("a-1"), "progress: 1 of 1 runs done"]


def test_what_the_logs_held_before_the_start_is_not_printed_again(tmp_path):
    (tmp_path / "old.log").write_text(RESULT.format("a-1") + "\n")
    con = Console(tmp_path, {"a-1": 1.0, "b-2": 1.0}, finished={"a-1"})
    assert con.poll() == []
    (tmp_path / "old.log").unlink()  # the same pack's job, rerun: Snakemake deletes its log first
    (tmp_path / "old.log").write_text(RESULT.format("b-2") + "\n")
    assert con.poll() == [RESULT.format("b-2"), "progress: 2 of 2 runs done"]


def test_durations_read_naturally():
    assert [duration(s) for s in (5, 89, 600, 7200)] == ["5 s", "89 s", "10 min", "2.0 h"]


def test_a_failed_job_is_one_line_with_its_log_and_the_logs_last_line(tmp_path):
    log = tmp_path / "report.log"
    log.write_text("Traceback (most recent call last):\n  ...\nValueError: claim 5 has no value\n\n")
    jobs = [SimpleNamespace(rule=SimpleNamespace(name="report"), log=[str(log)]),
            SimpleNamespace(rule=SimpleNamespace(name="all"), log=[])]
    assert failures(jobs) == ["error: rule all failed",
                              f"error: rule report failed; log {log}: ValueError: claim 5 has no value"]
