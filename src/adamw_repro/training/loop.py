"""The training loop: one readable loop, no framework.

Batches are drawn from tensors already on the device (no per-sample Python work); the schedule writes
lr = alpha * eta_t into the optimizer every batch; the loop checkpoints every `checkpoint_every` epochs
and on SIGTERM (SLURM's warning before a time limit or preemption), so that a rerun resumes bitwise.
"""

from __future__ import annotations

import io
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch
from torch import nn

from adamw_repro import runio
from adamw_repro.checks import check_against_data
from adamw_repro.runconfig import ConfigError, run_label
from adamw_repro.training.data import Splits, load_splits
from adamw_repro.training.models import build_model
from adamw_repro.training.optim import build_optimizer, parameter_groups, set_multiplier, set_weight_decay
from adamw_repro.training.schedules import Plateau, build_schedule, restart_period

HISTORY_FIELDS = ("epoch", "step", "lr", "train_loss", "train_error", "val_loss", "val_error",
                  "test_loss", "test_error", "seconds")
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: the job stopped early on request and left a checkpoint to resume from


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived; a checkpoint is written."""


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


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, amp: bool) -> tuple[float, float]:
    """Mean cross-entropy and error rate over (x, y), in large forward-only batches."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    wrong = torch.zeros((), device=x.device, dtype=torch.int64)
    for i in range(0, len(x), batch):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x[i:i + batch])
        loss_sum += nn.functional.cross_entropy(logits.float(), y[i:i + batch], reduction="sum").double()
        wrong += (logits.argmax(1) != y[i:i + batch]).sum()
    model.train()
    return loss_sum.item() / len(x), wrong.item() / len(x)


class Run:
    """Everything a run needs to continue after a restart: model, optimizer, schedule, RNGs, history."""

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
        groups = parameter_groups(model, cfg.optimizer.decay_bias_and_norm)
        self.optimizer = build_optimizer(cfg.optimizer.name, groups, lr=cfg.optimizer.lr,
                                         weight_decay=self.lambda_at(0), betas=tuple(cfg.optimizer.betas),
                                         eps=cfg.optimizer.eps, momentum=cfg.optimizer.momentum,
                                         eager=not cfg.compile)
        self.batch_order = torch.Generator(device="cpu").manual_seed(cfg.seed)
        self.epoch, self.step, self.history, self.seconds = 0, 0, [], 0.0
        self.perm, self.batch_index, self.diverged = None, 0, False
        self.train_sums = torch.zeros(2, device=device, dtype=torch.float64)

    def period_epochs(self, step: int) -> float:
        """T of normalized weight decay: the budget, or the current period under warm restarts."""
        s = self.cfg.schedule
        if s.name != "warm_restarts":
            return self.cfg.epochs
        return restart_period(step, steps_per_epoch=self.steps_per_epoch, T0=s.T0,
                              T_mult=s.T_mult).length / self.steps_per_epoch

    def lambda_at(self, step: int) -> float:
        return effective_lambda(self.cfg.optimizer, batch_size=self.cfg.batch_size, train_size=self.n_train,
                                period_epochs=self.period_epochs(step))

    def eta(self, step: int) -> float:
        return self.schedule.eta if isinstance(self.schedule, Plateau) else self.schedule(step)

    # -- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if isinstance(self.schedule, Plateau) else None,
            "torch_rng": torch.get_rng_state(), "batch_order": self.batch_order.get_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "epoch": self.epoch, "step": self.step, "history": self.history, "seconds": self.seconds,
            "perm": self.perm, "batch_index": self.batch_index, "train_sums": self.train_sums,
            "diverged": self.diverged,
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
        self.diverged = bool(state.get("diverged", False))

    # -- training ------------------------------------------------------------------------------------
    def train_epoch(self, stop_requested) -> None:
        """One pass over the training set; resumes mid-epoch from a SIGTERM checkpoint."""
        cfg, x, y = self.cfg, self.splits.x_train, self.splits.y_train
        if self.perm is None:
            self.perm = torch.randperm(self.n_train, generator=self.batch_order).to(self.device)
            self.batch_index = 0
            # Training loss and error as running sums over the epoch's batches: no extra pass over the data.
            self.train_sums = torch.zeros(2, device=self.device, dtype=torch.float64)
        # Config values read once: an OmegaConf lookup costs microseconds, a step a couple of milliseconds.
        b, amp, device_type = cfg.batch_size, cfg.amp, self.device.type
        normalized = cfg.optimizer.get("lambda_norm") is not None
        period = self.period_epochs(self.step)
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
            self.optimizer.step()
            with torch.no_grad():
                self.train_sums[0] += loss.double() * len(yb)
                self.train_sums[1] += (logits.argmax(1) != yb).sum()
            self.step += 1
            self.batch_index += 1
        self.perm = None

    def evaluate_epoch(self, seconds: float) -> dict:
        """The epoch's history row. One device sync per epoch: a NaN or inf anywhere shows in the sums."""
        cfg, s = self.cfg, self.splits
        train_loss, wrong = (self.train_sums / self.n_train).tolist()
        row = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
               "train_loss": train_loss, "train_error": wrong}
        row["val_loss"], row["val_error"] = evaluate(self.forward, s.x_val, s.y_val, cfg.eval_batch_size, cfg.amp)
        last = self.epoch + 1 == cfg.epochs
        if last or (cfg.test_every and (self.epoch + 1) % cfg.test_every == 0):
            row["test_loss"], row["test_error"] = evaluate(self.forward, s.x_test, s.y_test,
                                                           cfg.eval_batch_size, cfg.amp)
        else:  # the 10,000-sample test pass costs more than an epoch of training: not every epoch
            row["test_loss"], row["test_error"] = math.nan, math.nan
        if not (math.isfinite(train_loss) and math.isfinite(row["val_loss"])):
            self.diverged = True
        if self.diverged:  # a diverged run counts as wrong everywhere
            row.update(train_error=1.0, val_error=1.0, test_error=1.0)
        row["seconds"] = seconds
        return row


def configure_torch(cfg, device: torch.device) -> None:
    torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not cfg.deterministic
    # CPU kernels with a fixed thread count are already repeatable; torch.use_deterministic_algorithms
    # costs ~1 s of start-up (it imports torch's compiler stack), so it is only asked for on the GPU.
    if cfg.deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


class StopHandler:
    """SIGTERM (scancel, SLURM's --signal before the limit, preemption) and SIGINT (Ctrl-C) ask the loop to
    checkpoint and stop. Calling it gives the signal's name once one arrived, else None."""

    def __init__(self):
        self.signal = None
        self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum, frame) -> None:
        self.signal = signal.Signals(signum).name

    def __call__(self) -> str | None:
        return self.signal

    def restore(self) -> None:
        """Give the signals back (an in-process caller keeps its own Ctrl-C)."""
        for s, h in self.previous.items():
            signal.signal(s, h)


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The resume state in `path`, or None. Read with weights_only=True: tensors and plain containers only,
    so a replaced file cannot run code. An unreadable file (truncated, empty, foreign) is moved aside and
    named on stderr; the run then starts from scratch instead of failing the same way on every rerun."""
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError as err:  # the disk, not the file: stop rather than set a good checkpoint aside
        raise ConfigError(f"{path} cannot be read ({err.strerror}); check the file system and rerun") from None
    try:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
        if not isinstance(state, dict) or "config_digest" not in state:
            raise ValueError("not a checkpoint of this project")
        return state
    except Exception as err:  # noqa: BLE001 torch raises many types for a bad file; each means "unreadable"
        moved = runio.move_aside(path, "corrupt")
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        print(f"warning: {path} is unreadable ({type(err).__name__}: {reason}); moved to {moved.name}; "
              f"the run starts from scratch", file=sys.stderr)
        return None


def fit(cfg, run_cfg: dict, digest: str, run_dir: Path, splits: Splits | None = None) -> dict:
    """Train (or resume) the run and write config.yaml, history.csv, checkpoint.pt and metrics.json.

    `splits`: data already on the device (a pack loads them once for all its members)."""
    start = time.perf_counter()
    device = pick_device(cfg.device)
    configure_torch(cfg, device)
    try:
        splits = load_splits(cfg.data, device) if splits is None else splits
    except (FileNotFoundError, PermissionError, ValueError) as err:  # the loaders name the file and the fix
        raise ConfigError(str(err)) from None
    check_against_data(cfg, len(splits.x_train))
    run = Run(cfg, splits, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    runio.remove_stale_tmp(run_dir)  # half-written files of a killed writer
    ckpt_path = run_dir / "checkpoint.pt"
    resumed_from, state = None, load_checkpoint(ckpt_path, device)
    if state is not None and state["config_digest"] != digest:
        runio.set_aside_run(run_dir, state["config_digest"])
        state = None
    finished = state is not None and bool(state.get("final"))
    if state is not None:  # also the final one: killed before metrics.json, the run is only summarized
        run.load_state_dict(state)
        # mid-epoch (a signal) when the epoch's batch order is saved; else at the epoch boundary
        resumed_from = run.epoch + (run.batch_index / run.steps_per_epoch if run.perm is not None else 0)
    runio.write_yaml(run_dir / "config.yaml", run_cfg)
    first_step_seconds = time.perf_counter() - start
    progress = Progress(cfg, run_dir)

    def save() -> None:  # a resume checkpoint; the final one (below) also keeps the run's speed
        runio.torch_save(ckpt_path, {**run.state_dict(), "config_digest": digest, "final": False})

    stop_requested = StopHandler()  # from here on a signal ends in a checkpoint, not a traceback
    loop_start = time.perf_counter()
    first_step_unix = time.time()  # the benchmark compares it with the time the process was started
    steps_before, train_seconds = run.step, 0.0
    while run.epoch < cfg.epochs and not run.diverged:
        t0 = time.perf_counter()
        try:
            run.train_epoch(stop_requested)
        except StopRequested:
            run.seconds += time.perf_counter() - t0
            save()
            stop_requested.restore()
            print(f"stopped on {stop_requested()} at epoch {run.epoch} step {run.step}; checkpoint {ckpt_path}; "
                  "the same command resumes", file=sys.stderr)
            sys.exit(EXIT_PREEMPTED)
        run.seconds += time.perf_counter() - t0
        train_seconds += time.perf_counter() - t0
        row = run.evaluate_epoch(run.seconds)
        if isinstance(run.schedule, Plateau):
            run.schedule.step(row["val_loss"])
        run.history.append(row)
        run.epoch += 1
        progress.update(row)
        if run.epoch % cfg.checkpoint_every == 0 and run.epoch < cfg.epochs and not run.diverged:
            save()
    loop_seconds = time.perf_counter() - loop_start
    stop_requested.restore()
    steps = run.step - steps_before
    speed = {"steps_per_second": steps / max(loop_seconds, 1e-9),
             "train_steps_per_second": steps / max(train_seconds, 1e-9),
             "first_step_seconds": first_step_seconds, "first_step_unix": first_step_unix}
    if finished:  # summarized from the final checkpoint: the speed of the process that trained
        speed = state.get("speed") or speed
    else:
        runio.torch_save(ckpt_path, {**run.state_dict(), "config_digest": digest, "final": True, "speed": speed})
    runio.write_csv(run_dir / "history.csv", HISTORY_FIELDS, run.history)
    metrics = summarize(run, digest, device, **speed, resumed_from=resumed_from)
    runio.write_json(run_dir / "metrics.json", metrics)  # written last: its presence marks a finished run
    return metrics


class Progress:
    """Progress on stderr: a line per ~10 % of the run, and at least one a minute, so a long run shows where it
    is without flooding the log of a short one; each line names the run by its settings. With
    `tensorboard=true`, every epoch's row also goes to TensorBoard (<run dir>/tensorboard)."""

    def __init__(self, cfg, run_dir: Path):
        self.every, self.label = max(1, cfg.epochs // 10), run_label(cfg, run_dir.name)
        self.last, self.writer = time.monotonic(), None
        if cfg.get("tensorboard"):
            try:  # optional: only runs that ask for it need the package
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError("tensorboard=true needs the tensorboard package (pip install tensorboard), "
                                  "or set tensorboard=false (conf/config.yaml)") from None
            self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def update(self, row: dict) -> None:
        if self.writer is not None:
            for key in HISTORY_FIELDS[2:9]:
                if math.isfinite(row[key]):
                    self.writer.add_scalar(key, row[key], row["epoch"])
            self.writer.flush()
        if row["epoch"] % self.every == 0 or time.monotonic() - self.last >= 60:
            self.last = time.monotonic()
            print(f"[{self.label}] epoch {row['epoch']}: train loss {row['train_loss']:.4g}, "
                  f"val error {row['val_error']:.4f}, lr {row['lr']:.3g}", file=sys.stderr, flush=True)


def summarize(run: Run, digest: str, device: torch.device, **extra) -> dict:
    history = run.history
    final = {k: history[-1][k] for k in HISTORY_FIELDS[3:9]} if history else {}
    best = min(history, key=lambda r: r["val_error"]) if history else {}
    return {
        "status": "diverged" if run.diverged else "ok",
        "final": final,
        "best": {"epoch": best.get("epoch"), "val_error": best.get("val_error"),
                 "test_error": best.get("test_error")},
        "epochs": run.epoch, "steps": run.step, "steps_per_epoch": run.steps_per_epoch,
        "lambda_effective": run.lambda_at(0),
        "train_size": run.n_train,
        "scale": run.cfg.scale.name if "scale" in run.cfg else "adhoc",
        "wall_seconds": run.seconds, **extra,
        "config_digest": digest,
        "provenance": runio.provenance(device),
    }


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m adamw_repro.training.train")

