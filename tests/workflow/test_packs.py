"""Pack formation for the workflow: stable, chunked by pack_size within stackable groups, finished runs left out."""

from __future__ import annotations

import pytest

from adamw_repro.workflow import packs
from adamw_repro.workflow.sweeps import make_run


def grid(seeds=(0,), optimizers=("adam", "adamw")):
    return [make_run("fig2_sgd_adam", {"optimizer": o, "optimizer.lr": lr, "seed": s})
            for o in optimizers for lr in (0.01, 0.02, 0.04) for s in seeds]


def key(run):
    return packs.stack_key(run.experiment, run.overrides)


def test_packs_are_stable_chunked_and_hold_one_stackable_group():
    runs = grid()
    formed = packs.form_packs(runs, 2, digest_of=lambda r: "d", key_of=key)
    assert formed == packs.form_packs(list(reversed(runs)), 2, digest_of=lambda r: "d", key_of=key)
    assert sorted(len(m) for m in formed.values()) == [1, 1, 2, 2]  # 3 adam + 3 adamw runs, 2 a pack
    for members in formed.values():
        assert len({dict(o.split("=") for o in r.overrides)["optimizer"] for r in members}) == 1
    assert sum(len(m) for m in packs.form_packs(runs, 10, lambda r: "d", lambda r: ()).values()) == 6


def test_a_new_seed_makes_packs_of_the_new_runs_only_and_a_changed_digest_a_new_id(tmp_path):
    old, new = grid(seeds=(0,)), grid(seeds=(0, 1))
    for run in old:  # finished: metrics.json and the stamp of the current digest
        (tmp_path / run.run_id).mkdir()
        (tmp_path / run.run_id / "metrics.json").write_text("{}")
        open(packs.done_file(tmp_path / run.run_id, "d1"), "w").close()
    todo = [r for r in new if not packs.is_finished(tmp_path / r.run_id, "d1")]
    assert {r.run_id for r in todo} == {r.run_id for r in new} - {r.run_id for r in old}
    assert not packs.is_finished(tmp_path / old[0].run_id, "d2")  # an edited config is not finished
    assert packs.form_packs(todo, 4, lambda r: "d1", key) != packs.form_packs(todo, 4, lambda r: "d2", key)


def test_stack_key_ignores_only_what_a_stacked_model_can_vary():
    a = packs.stack_key("e", ["seed=1", "optimizer.lr=0.1", "schedule=cosine", "schedule.T0=2", "epochs=10"])
    b = packs.stack_key("e", ["seed=2", "optimizer.lr=0.2", "schedule=fixed", "epochs=10"])
    assert a == b != packs.stack_key("e", ["epochs=20"])
    with pytest.raises(ValueError, match="scale.pack_size=0"):
        packs.form_packs(grid(), 0, lambda r: "d", key)


def test_cpu_packs_may_hold_several_groups_in_order_so_few_packs_hold_many_small_ones():
    runs = grid()
    mixed = packs.form_packs(runs, 4, digest_of=lambda r: "d", key_of=key, mix=True)
    assert sorted(len(m) for m in mixed.values()) == [2, 4]  # 6 runs, 4 a pack, across the two optimizers
    order = [r for m in sorted(mixed.values(), key=len, reverse=True) for r in m]
    assert [key(r) for r in order] == sorted((key(r) for r in order), key=repr)  # groups stay contiguous
