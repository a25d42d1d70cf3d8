"""A pack: one process trains many runs, so imports, data and kernels are paid once, not once per run.

    python -m adamw_repro.training.pack --runs-file PACK.json [--mode auto|sequential|vectorized]

PACK.json: {"members": [{"run_dir": DIR, "overrides": [hydra overrides...], "done_file": optional path}, ...]}.
Each member is exactly the solo run `python -m adamw_repro.training.train OVERRIDES hydra.run.dir=DIR`: the
same composed config, digest, run directory and outputs (config.yaml, history.csv, metrics.json,
checkpoint.pt), the same resume from its own checkpoint, the same numbers. A finished member (metrics.json
with its config digest) is skipped, so after kill -9 the same command retrains only what was not finished
and resumes each member from its checkpoint. `done_file`, when given, is written after the member's
metrics.json (holding its config digest): the caller's own stamp of which request a run answered (the
workflow names it by its digest of the run's config files).

Modes: `sequential` trains the members one after the other (a stack of one each); `vectorized` trains members
that share model shape, data, batch size and budget as one stacked model; `auto` stacks where stacking pays
(`stacks` below: the batched CNN, training/batched.py, on any device; other models under vmap on a GPU), as
measured side by side by scripts/bench_pack.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adamw_repro import runio
from adamw_repro.checks import check_config
from adamw_repro.compose import Composer
from adamw_repro.runconfig import CONF_DIR, ConfigError, config_digest, run_config, run_label
from adamw_repro.training.member import Member
from adamw_repro.training.train import engine_for, exit_now, finished_metrics

MODES = ("auto", "sequential", "vectorized")


def read_runs_file(path: Path) -> list[dict]:
    """The member entries of a runs file; ConfigError naming the file when it is not one."""
    try:
        doc = json.loads(Path(path).read_text())
        members = doc["members"]
        if not all(isinstance(m.get("run_dir"), str) and isinstance(m.get("overrides"), list) for m in members):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"--runs-file {path}: not a pack file ({type(err).__name__}); expected JSON "
                          '{"members": [{"run_dir": DIR, "overrides": [...]}]}') from None
    return members


def compose_members(entries: list[dict], conf_dir: Path = CONF_DIR) -> list[Member]:
    """Compose every member (adamw_repro.compose, as the workflow does) and check it, before anything trains
    or is written."""
    members, seen = [], set()
    composer = Composer(conf_dir)
    for entry in entries:
        run_dir = Path(entry["run_dir"])
        if run_dir.resolve() in seen:
            raise ConfigError(f"run_dir {run_dir} appears twice in the pack; each member needs its own")
        seen.add(run_dir.resolve())
        try:
            cfg = composer(list(entry["overrides"]))
        except ConfigError as err:
            raise ConfigError(f"member {run_dir}: {err}") from None
        check_config(cfg, composer.choices(entry["overrides"]), conf_dir)
        run_cfg = run_config(cfg)
        done = entry.get("done_file")
        members.append(Member(cfg, run_cfg, config_digest(run_cfg), run_dir, Path(done) if done else None))
    return members


def unfinished(members: list[Member]) -> list[Member]:
    """Members without a finished metrics.json for their exact config: the ones left to train."""
    return [m for m in members if finished_metrics(m.run_dir, m.digest) is None]


def stacks(members: list[Member], mode: str) -> list[tuple[bool, list[Member]]]:
    """How the pack trains: (stacked?, members) groups. Runs of the batched engine (training/engines.py: decided
    by each run's config, never by the pack) train as stacks of any size: a member's numbers do not depend on
    what else its stack holds, and a stack of K costs about half of K runs one after another (`sequential`: one
    member a stack). Runs of the loop engine train one at a time, or stacked under vmap where that pays (a GPU,
    `auto`) or is asked for (`vectorized`: a group that cannot share a stacked model is refused with one line,
    never trained with another optimizer's arithmetic). Stacks hold at most `scale.stack_size` members (16:
    larger ones leave a CPU's cache)."""
    from adamw_repro.training.engines import engine_of
    from adamw_repro.training.vectorized import STACK_SIZE, stack_problem, stack_signature, vmap_pays

    groups: dict[str, list[Member]] = {}
    for m in members:
        groups.setdefault(stack_signature(m.cfg), []).append(m)
    out = []
    for group in groups.values():
        batched = engine_of(group[0].cfg) == "batched"
        if mode == "sequential" or (not batched and mode == "auto" and len(group) < 2):
            out += [(batched, [m]) for m in group]
            continue
        problem = stack_problem([m.cfg for m in group])
        if mode == "vectorized" and problem:
            raise ConfigError(f"--mode vectorized: these runs cannot share a stacked model: {problem}; "
                              "allowed: --mode sequential or auto (scale.pack_mode in conf/scale/)")
        if not batched and (problem or (mode == "auto" and not vmap_pays(group[0].cfg))):
            out += [(False, [m]) for m in group]
            continue
        size = int(group[0].cfg.get("scale", {}).get("stack_size") or STACK_SIZE)
        n = -(-len(group) // size)  # as few stacks as the size allows, of even sizes
        out += [(True, group[i::n]) for i in range(n)]
    return out


def train_pack(members: list[Member], mode: str = "auto") -> dict[Path, dict]:
    """Train the unfinished members (finished ones are left alone); returns run_dir -> metrics. Each member left
    to train is locked first (runio.RunLock, as a solo run): when another process holds one, nothing is trained
    and ConfigError names its directory and PID."""
    from contextlib import ExitStack

    with ExitStack() as locks:
        for m in unfinished(members):
            try:
                locks.enter_context(runio.RunLock(m.run_dir))
            except runio.RunLocked as err:
                raise ConfigError(f"member {err}") from None
        return _train_locked(members, mode)


def _train_locked(members: list[Member], mode: str) -> dict[Path, dict]:
    todo = unfinished(members)  # again, under the locks: a member finished meanwhile is not trained twice
    results = {m.run_dir: finished_metrics(m.run_dir, m.digest) for m in members if m not in todo}
    for m in members:
        if m not in todo:
            stamp(m)
    if not todo:
        return results
    from adamw_repro.training.data import load_splits
    from adamw_repro.training.engines import engine_of
    from adamw_repro.training.loop import fit_members, pick_device

    data = {}  # the data of each distinct data config and device, loaded once for the whole pack
    for stacked, group in stacks(todo, mode):
        device = pick_device(group[0].cfg.device)
        key = json.dumps([group[0].run_cfg["data"], str(device)], sort_keys=True, default=str)
        if key not in data:
            data[key] = load_splits(group[0].cfg.data, device)
        if stacked:  # the batched engine's stacks, or the loop engine's runs under vmap
            from adamw_repro.training.vectorized import StackedEngine

            engine = engine_for(group[0].cfg) if engine_of(group[0].cfg) == "batched" else StackedEngine
            results.update(fit_members(group, splits=data[key], engine=engine,
                                       pack={"mode": "stacked", "members": len(group)}))
        else:
            results.update(fit_members(group, splits=data[key], engine=engine_for(group[0].cfg)))
        for m in group:
            stamp(m)
    return results


def stamp(member: Member) -> None:
    """The caller's done_file, written after metrics.json: a stamp never marks an unfinished run."""
    if member.done_file is not None:
        runio.write_text(member.done_file, member.digest + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adamw_repro.training.pack", description=__doc__.split("\n")[0])
    parser.add_argument("--runs-file", type=Path, required=True, help="JSON list of the pack's members")
    parser.add_argument("--mode", default="auto", help=f"one of {', '.join(MODES)} (default auto)")
    args = parser.parse_args(argv)
    try:
        if args.mode not in MODES:
            raise ConfigError(f"--mode {args.mode} is unknown; allowed: {', '.join(MODES)}")
        members = compose_members(read_runs_file(args.runs_file))
        results = train_pack(members, args.mode)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for m in members:
        print(result_line(run_label(m.cfg, m.run_dir.name), results[m.run_dir]))
    exit_now()


def result_line(label: str, metrics: dict) -> str:
    """A finished run in one line (workflow/console.py prints it): its time is that of its epochs (training and
    evaluation; start-up and data loading excluded), and a run continued from a checkpoint says so."""
    resumed = metrics.get("resumed_from")
    return (f"{label}: {metrics['status']}, test error {metrics['final'].get('test_error', float('nan')):.4f} "
            f"after {metrics['epochs']} epochs ({metrics['wall_seconds']:.1f} s of epochs"
            + (f"; resumed from its checkpoint at epoch {resumed:g}" if resumed is not None else "") + ")")


if __name__ == "__main__":
    main()
