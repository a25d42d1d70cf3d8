"""The training loop: one loop for a run alone or for the members of a pack, no framework.

`fit_members` holds the rules of an epoch, defined once: resume each member from its checkpoint, train an
epoch, re-estimate BatchNorm statistics and evaluate when due (validation every `val_every` epochs, test every
`test_every`, both always at the end), mark divergence, checkpoint (at an epoch end once `checkpoint_seconds`
have passed since the last one, and on SIGTERM/SIGINT wherever the run is), then write each member's outputs.
What trains the members is an engine: `SoloEngine` (one run with its own model and optimizer: a run alone and
the members of a sequential pack) or vectorized.StackedEngine (a stacked pack). Batches are drawn from tensors
already on the device; the schedule writes lr = alpha * eta_t into the optimizer every batch.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from adamw_repro import names, runio
from adamw_repro.checks import check_against_data
from adamw_repro.runconfig import ConfigError
from adamw_repro.schema import HISTORY_FIELDS, TELEMETRY_FIELDS
from adamw_repro.training import evaluation
from adamw_repro.training.checkpoint import (
    EXIT_PREEMPTED,
    StopHandler,
    StopRequested,
    discard,
    load_checkpoint,
    save_checkpoint,
)
from adamw_repro.training.data import Splits, load_splits
from adamw_repro.training.member import Member
from adamw_repro.training.models import build_model
from adamw_repro.training.optim import build_optimizer, parameter_groups, set_multiplier, set_weight_decay
from adamw_repro.training.schedules import Plateau, build_schedule, restart_period
from adamw_repro.training.summary import Progress, summarize
from adamw_repro.training.telemetry import Telemetry

__all__ = ["EXIT_PREEMPTED", "Member", "Run", "SoloEngine", "fit", "fit_members", "pick_device"]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but torch sees no CUDA GPU here; allowed: auto (GPU when there is one) "
                          "or cpu (conf/config.yaml or device=...)")
    return torch.device(name)


def effective_lambda(opt_cfg, *, batch_size: int, train_size: int, period_epochs: float) -> float:
    """lambda, or lambda_norm * sqrt(b / (B * T)) with T the epochs of the current (restart) period."""
    if opt_cfg.get("lambda_norm") is not None:
        return opt_cfg["lambda_norm"] * math.sqrt(batch_size / (train_size * period_epochs))
    return opt_cfg.get("weight_decay") or 0.0


class Run:
    """Everything a run needs to continue after a restart: model, optimizer, schedule, RNGs, history. In a
    stacked pack its model and optimizer hold the member's state in the solo format at checkpoints."""

    def __init__(self, cfg, splits: Splits, device: torch.device):
        self.cfg, self.splits, self.device = cfg, splits, device
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, splits.in_channels, splits.num_classes).to(device)
        if cfg.channels_last and device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = torch.compile(model) if cfg.compile else model
        self.n_train = len(splits.x_train)
        self.steps_per_epoch = math.ceil(self.n_train / cfg.batch_size)
        self.schedule = build_schedule(cfg.schedule, steps_per_epoch=self.steps_per_epoch, epochs=cfg.epochs)
        self.restarts = names.schedule(cfg.schedule.name).restarts
        groups = parameter_groups(model, cfg.optimizer.decay_bias_and_norm)
        self.optimizer = build_optimizer(cfg.optimizer.name, groups, lr=cfg.optimizer.lr,
                                         weight_decay=self.lambda_at(0), betas=tuple(cfg.optimizer.betas),
                                         eps=cfg.optimizer.eps, momentum=cfg.optimizer.momentum,
                                         eager=not cfg.compile)
        self.batch_order = torch.Generator(device="cpu").manual_seed(cfg.seed)
        self.epoch, self.step, self.history, self.seconds, self.train_seconds = 0, 0, [], 0.0, 0.0
        self.perm, self.batch_index, self.diverged = None, 0, False
        self.train_sums = torch.zeros(2, device=device, dtype=torch.float64)
        self.eval_bn = evaluation.eval_bn(cfg, model)
        self.telemetry = Telemetry(model, cfg.telemetry_every) if cfg.telemetry_every else None
        self.last_checkpoint = time.monotonic()

    @property
    def done(self) -> bool:
        return self.diverged or self.epoch >= self.cfg.epochs

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, batch) where training continues: members of a stack at the same position train together."""
        return self.epoch, self.batch_index if self.perm is not None else 0

    def period_epochs(self, step: int) -> float:
        """T of normalized weight decay: the budget, or the current period under warm restarts."""
        s = self.cfg.schedule
        if not self.restarts:
            return self.cfg.epochs
        return restart_period(step, steps_per_epoch=self.steps_per_epoch, T0=s.T0,
                              T_mult=s.T_mult).length / self.steps_per_epoch

    def lambda_at(self, step: int) -> float:
        return effective_lambda(self.cfg.optimizer, batch_size=self.cfg.batch_size, train_size=self.n_train,
                                period_epochs=self.period_epochs(step))

    def eta(self, step: int) -> float:
        return self.schedule.eta if isinstance(self.schedule, Plateau) else self.schedule(step)

    def start_epoch(self) -> None:
        """Draw the epoch's batch order (unless resuming mid-epoch) and zero its running training sums."""
        if self.perm is None:
            self.perm = torch.randperm(self.n_train, generator=self.batch_order).to(self.device)
            self.batch_index = 0
            # Training loss and error as running sums over the epoch's batches: no extra pass over the data.
            self.train_sums = torch.zeros(2, device=self.device, dtype=torch.float64)

    # -- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if isinstance(self.schedule, Plateau) else None,
            "torch_rng": torch.get_rng_state(), "batch_order": self.batch_order.get_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "epoch": self.epoch, "step": self.step, "history": self.history, "seconds": self.seconds,
            "train_seconds": self.train_seconds, "perm": self.perm, "batch_index": self.batch_index,
            "train_sums": self.train_sums, "diverged": self.diverged,
            "telemetry": self.telemetry.state_dict() if self.telemetry else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state["schedule"] is not None:
            self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        self.batch_order.set_state(state["batch_order"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        for key in ("epoch", "step", "history", "seconds", "perm", "batch_index", "train_sums"):
            setattr(self, key, state[key])
        self.train_seconds = float(state.get("train_seconds", self.seconds))
        self.diverged = bool(state.get("diverged", False))
        if self.telemetry is not None and state.get("telemetry") is not None:
            self.telemetry.load_state_dict(state["telemetry"])

    # -- training ------------------------------------------------------------------------------------
    def train_epoch(self, stop_requested) -> None:
        """The rest of the current epoch, batch by batch (from mid-epoch after a SIGTERM checkpoint)."""
        cfg, x, y = self.cfg, self.splits.x_train, self.splits.y_train
        self.start_epoch()
        # Config values read once: an OmegaConf lookup costs microseconds, a step a couple of milliseconds.
        b, amp, device_type = cfg.batch_size, cfg.amp, self.device.type
        normalized = cfg.optimizer.get("lambda_norm") is not None
        period = self.period_epochs(self.step)
        sums, telemetry = self.train_sums, self.telemetry
        while self.batch_index < self.steps_per_epoch:
            if stop_requested():
                raise StopRequested
            if normalized and self.period_epochs(self.step) != period:
                period = self.period_epochs(self.step)  # a warm restart: T changes, so does lambda
                set_weight_decay(self.optimizer, self.lambda_at(self.step))
            idx = self.perm[self.batch_index * b:(self.batch_index + 1) * b]
            xb, yb = x[idx], y[idx]
            if self.splits.augment is not None:
                xb = self.splits.augment(xb, self.batch_order)
            set_multiplier(self.optimizer, self.eta(self.step))
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
                logits = self.forward(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            sampled = telemetry is not None and telemetry.wants(self.step)
            if sampled:
                telemetry.before_step()
            self.optimizer.step()
            if sampled:
                telemetry.after_step()
            with torch.no_grad():
                sums[0] += loss.double() * len(yb)
                sums[1] += (logits.argmax(1) != yb).sum()
            self.step += 1
            self.batch_index += 1
        self.perm = None


class SoloEngine:
    """Trains one run with its own model and optimizer: a run alone, or a member of a sequential pack."""

    def __init__(self, runs: list[Run]):
        if len(runs) != 1:
            raise ValueError(f"SoloEngine trains one run, got {len(runs)}")
        self.runs = runs

    def train_epoch(self, active: list[int], stop_requested) -> None:
        self.runs[active[0]].train_epoch(stop_requested)

    def evaluate(self, active: list[int], x: torch.Tensor, y: torch.Tensor) -> dict[int, tuple[float, float]]:
        run = self.runs[active[0]]
        return {active[0]: evaluation.evaluate(run.forward, x, y, run.cfg.eval_batch_size, run.cfg.amp)}

    def recompute_bn(self, active: list[int]) -> None:
        run = self.runs[active[0]]
        evaluation.recompute_bn_statistics(run.model, run.splits.x_train[:run.cfg.bn_samples])

    def sync(self, k: int) -> None:
        """Member k's model and optimizer are up to date for a checkpoint (nothing to do: they train in place)."""


def configure_torch(cfg, device: torch.device) -> None:
    torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not cfg.deterministic
    # CPU kernels with a fixed thread count are already repeatable; torch.use_deterministic_algorithms
    # costs ~1 s of start-up (it imports torch's compiler stack), so it is only asked for on the GPU.
    if cfg.deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def fit(cfg, run_cfg: dict, digest: str, run_dir: Path, splits: Splits | None = None, engine=SoloEngine) -> dict:
    """Train (or resume) one run with `engine` and write config.yaml, history.csv, checkpoint.pt and metrics.json
    (the run's own engine: train.engine_for).

    `splits`: data already on the device (a pack loads them once for all its members)."""
    return fit_members([Member(cfg, run_cfg, digest, Path(run_dir))], splits=splits, engine=engine)[Path(run_dir)]


def fit_members(members: list[Member], splits: Splits | None = None, engine=SoloEngine,
                pack: dict | None = None) -> dict[Path, dict]:
    """Train (or resume) the members together with `engine` and write each one's outputs; run_dir -> metrics.

    Members must share their data (and, for a stacked engine, what vectorized.SHARED lists)."""
    start = time.perf_counter()
    cfg0 = members[0].cfg
    device = pick_device(cfg0.device)
    configure_torch(cfg0, device)
    try:
        splits = load_splits(cfg0.data, device) if splits is None else splits
    except (FileNotFoundError, PermissionError, ValueError) as err:  # the loaders name the file and the fix
        raise ConfigError(str(err)) from None
    runs, resumed, finals = [], [], []
    for m in members:
        check_against_data(m.cfg, len(splits.x_train))
        run, resumed_from, final = resume(m, splits, device)
        runs.append(run)
        resumed.append(resumed_from)
        finals.append(final)
    todo = [k for k, run in enumerate(runs) if finals[k] is None and not run.done]
    first_step_seconds, first_step_unix = time.perf_counter() - start, time.time()
    loop_start = time.perf_counter()
    if todo:
        train_members(members, runs, todo, engine, splits)
    loop_seconds = time.perf_counter() - loop_start
    results = {}
    for k, (m, run) in enumerate(zip(members, runs, strict=True)):
        if finals[k] is not None:  # summarized from the final checkpoint: the speed of the process that trained
            speed = finals[k].get("speed") or {}
        else:
            speed = {"steps_per_second": run.step / max(loop_seconds, 1e-9) if k in todo else 0.0,
                     "train_steps_per_second": run.step / max(run.train_seconds, 1e-9),
                     "first_step_seconds": first_step_seconds, "first_step_unix": first_step_unix}
            save_checkpoint(m.run_dir / "checkpoint.pt",
                            {**run.state_dict(), "config_digest": m.digest, "final": True, "speed": speed})
        runio.write_csv(m.run_dir / "history.csv", HISTORY_FIELDS, run.history)
        if run.telemetry is not None:
            runio.write_csv(m.run_dir / "telemetry.csv", TELEMETRY_FIELDS, run.telemetry.rows)
        metrics = summarize(run, m.digest, device, **speed, resumed_from=resumed[k],
                            **({"pack": pack} if pack else {}))
        runio.write_json(m.run_dir / "metrics.json", metrics)  # written last: its presence marks a finished run
        results[m.run_dir] = metrics
    return results


def resume(member: Member, splits: Splits, device: torch.device) -> tuple[Run, float | None, dict | None]:
    """The member's Run, resumed from its checkpoint when there is one of its config: (run, the epoch it
    resumed from or None, the final checkpoint's state when the run had finished training, else None)."""
    run_dir = member.run_dir
    run = Run(member.cfg, splits, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    runio.remove_stale_tmp(run_dir)  # half-written files of a killed writer
    path = run_dir / "checkpoint.pt"
    state = load_checkpoint(path, device)
    if state is not None and state["config_digest"] != member.digest:
        runio.set_aside_run(run_dir, state["config_digest"])
        state = None
    resumed_from = None
    if state is not None:  # also the final one: killed before metrics.json, the run is only summarized
        try:
            run.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:  # loads, but does not fit
            discard(path, err, "does not fit this run's model or optimizer")
            run, state = Run(member.cfg, splits, device), None
        else:  # mid-epoch (a signal) when the epoch's batch order is saved; else at the epoch boundary
            resumed_from = run.epoch + (run.batch_index / run.steps_per_epoch if run.perm is not None else 0)
            if not state.get("final"):  # the job's log says so (workflow/console.py reads it: a continuation)
                print(f"resumed at epoch {run.epoch} step {run.step} from {path}", file=sys.stderr)
    runio.write_yaml(run_dir / "config.yaml", member.run_cfg)
    final = state if state is not None and state.get("final") else None
    return run, resumed_from, final


def train_members(members: list[Member], runs: list[Run], todo: list[int], engine_cls, splits: Splits) -> None:
    """The epochs of every member in `todo`, with their evaluations and checkpoints. Members at the same
    position (epoch, batch) train together; one ahead of the others waits for them (a stack resumed after
    a kill -9 that caught its members' checkpoints at different epochs)."""
    engine = engine_cls([runs[k] for k in todo])
    index = {k: i for i, k in enumerate(todo)}  # member -> its place in the engine
    progress = {k: Progress(runs[k].cfg, members[k].run_dir) for k in todo}

    def save(k: int) -> None:
        engine.sync(index[k])
        save_checkpoint(members[k].run_dir / "checkpoint.pt",
                        {**runs[k].state_dict(), "config_digest": members[k].digest, "final": False})
        runs[k].last_checkpoint = time.monotonic()

    stop = StopHandler()  # from here on a signal ends in checkpoints, not a traceback
    try:
        while live := [k for k in todo if not runs[k].done]:
            position = min(runs[k].position for k in live)
            active = [k for k in live if runs[k].position == position]
            t0 = time.perf_counter()
            try:
                engine.train_epoch([index[k] for k in active], stop)
            except StopRequested:
                for k in live:
                    save(k)
                    print(f"stopped on {stop()} at epoch {runs[k].epoch} step {runs[k].step}; checkpoint "
                          f"{members[k].run_dir / 'checkpoint.pt'}; the same command resumes", file=sys.stderr)
                sys.exit(EXIT_PREEMPTED)
            train_seconds = (time.perf_counter() - t0) / len(active)
            rows = evaluate_epoch(engine, runs, active, index, splits)
            for k in active:
                run = runs[k]
                run.train_seconds += train_seconds
                run.seconds += train_seconds + rows[k].pop("_eval_seconds")
                rows[k]["seconds"] = run.seconds
                if isinstance(run.schedule, Plateau):
                    run.schedule.step(rows[k]["val_loss"])
                run.history.append(rows[k])
                run.epoch += 1
                if run.telemetry is not None:
                    run.telemetry.end_epoch(run.epoch, run.step)
                progress[k].update(rows[k])
                if checkpoint_due(run):
                    save(k)
    finally:
        stop.restore()


def evaluate_epoch(engine, runs: list[Run], active: list[int], index: dict, splits: Splits) -> dict[int, dict]:
    """Each active member's history row for the epoch just trained: BatchNorm statistics re-estimated once,
    then validation and test where due (members of one engine share val_every and test_every)."""
    t0 = time.perf_counter()
    cfg, epoch = runs[active[0]].cfg, runs[active[0]].epoch + 1
    val_due, test_due = (evaluation.due(every, epoch, cfg.epochs) for every in (cfg.val_every, cfg.test_every))
    ids = [index[k] for k in active]
    results = {"val": {}, "test": {}}
    if (val_due or test_due) and cfg.bn_samples > 0:
        engine.recompute_bn(ids)
    if val_due:
        results["val"] = engine.evaluate(ids, splits.x_val, splits.y_val)
    if test_due:
        results["test"] = engine.evaluate(ids, splits.x_test, splits.y_test)
    seconds = (time.perf_counter() - t0) / len(active)
    return {k: {**epoch_row(runs[k], results["val"].get(index[k]), results["test"].get(index[k])),
                "_eval_seconds": seconds} for k in active}


def epoch_row(run: Run, val: tuple[float, float] | None, test: tuple[float, float] | None) -> dict:
    """The epoch's history row (schema.HISTORY_FIELDS but `seconds`). One device sync per epoch: a NaN or inf
    anywhere in training shows in the running sums; a diverged run counts as wrong everywhere from then on."""
    train_loss, wrong = (run.train_sums / run.n_train).tolist()
    (val_loss, val_error), (test_loss, test_error) = val or (math.nan, math.nan), test or (math.nan, math.nan)
    row = {"epoch": run.epoch + 1, "step": run.step, "lr": run.cfg.optimizer.lr * run.eta(run.step - 1),
           "train_loss": train_loss, "train_error": wrong, "val_loss": val_loss, "val_error": val_error,
           "test_loss": test_loss, "test_error": test_error,
           "eval_bn": run.eval_bn if val is not None or test is not None else ""}
    if not math.isfinite(train_loss) or any(r is not None and not math.isfinite(r[0]) for r in (val, test)):
        run.diverged = True
    if run.diverged:
        row.update(train_error=1.0, val_error=1.0, test_error=1.0)
    return row


def checkpoint_due(run: Run) -> bool:
    """A resume checkpoint at this epoch end: every epoch with checkpoint_seconds = 0, else once that long
    has passed since the last one (runs of seconds then write none but the final one; SIGTERM writes one)."""
    if run.done:
        return False
    every = run.cfg.checkpoint_seconds
    return every == 0 or time.monotonic() - run.last_checkpoint >= every


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m adamw_repro.training.train")
