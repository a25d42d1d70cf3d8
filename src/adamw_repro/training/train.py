"""One training run: `python -m adamw_repro.training.train [hydra overrides]`, or `train(cfg, run_dir)` from Python.

This module checks the config and answers a finished run before torch is imported: a finished run asked
again returns at once, and bad input fails in well under a second with one line that names the option,
the allowed values and the file to change. What a run directory may hold besides its own run is settled
here too: an unreadable metrics.json is moved aside, another config's run is set aside, never overwritten.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import DictConfig

from adamw_repro import runio
from adamw_repro.checks import check_config
from adamw_repro.runconfig import CONF_DIR, ConfigError, config_digest, run_config, run_label

__all__ = ["ConfigError", "check_config", "finished_metrics", "train"]


def read_metrics(run_dir: Path) -> dict | None:
    """metrics.json of `run_dir` when its outputs parse and agree (runio.finished_run), else None. Damaged ones
    (an unreadable metrics.json, one that lacks keys, a history.csv truncated or garbled) are moved aside and
    named on stderr; the run is then finished again from its final checkpoint, or retrained."""
    metrics, problem = runio.finished_run(run_dir)
    if problem is None:
        return metrics
    writable_or_fail(run_dir, f"its outputs are damaged ({problem})")
    moved = runio.move_aside(run_dir / "metrics.json", "corrupt")
    print(f"warning: {run_dir / 'metrics.json'} is not a finished run's ({problem}); moved to {moved.name}",
          file=sys.stderr)
    return None


def finished_metrics(run_dir: Path, digest: str) -> dict | None:
    """The metrics of a finished run with this exact config, or None."""
    metrics = read_metrics(run_dir)
    return metrics if metrics is not None and metrics.get("config_digest") == digest else None


def writable_or_fail(run_dir: Path, why: str = "the run must write there") -> None:
    """ConfigError unless `run_dir` (or the folder it will be made in) is writable."""
    folder = run_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"hydra.run.dir={run_dir}: {folder} is a file; allowed: a folder, new or existing "
                          f"(hydra.run.dir=... or conf/config.yaml)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"hydra.run.dir={run_dir}: {folder} is not writable and {why}; allowed: a writable "
                          f"folder (hydra.run.dir=... or conf/config.yaml)")


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict:
    """Train one run into `run_dir` (Hydra's run directory by default); returns its metrics.

    A finished run of the same config is answered without training (also from a read-only folder);
    a finished run of another config is moved aside (`runio.set_aside_run`), never overwritten."""
    if run_dir is None:
        from hydra.core.hydra_config import HydraConfig

        run_dir = HydraConfig.get().runtime.output_dir
    run_dir = Path(run_dir)
    check_config(cfg)
    run_cfg = run_config(cfg)
    digest = config_digest(run_cfg)
    metrics = read_metrics(run_dir)
    if metrics is not None and metrics.get("config_digest") == digest:
        return metrics
    writable_or_fail(run_dir)
    try:
        with runio.RunLock(run_dir):  # one writer: a second process on this folder stops here, changing nothing
            metrics = read_metrics(run_dir)  # again, now that no one else writes: finished meanwhile?
            if metrics is not None and metrics.get("config_digest") == digest:
                return metrics
            if metrics is not None:
                runio.set_aside_run(run_dir, metrics["config_digest"])
            from adamw_repro.training.loop import fit  # imports torch: only when there is work to do

            return fit(cfg, run_cfg, digest, run_dir, engine=engine_for(cfg))
    except runio.RunLocked as err:
        raise ConfigError(f"hydra.run.dir={err}") from None


def engine_for(cfg):
    """The engine of loop.fit_members that trains this run (training/engines.py: decided by its config): the batched
    CNN as a stack (of one, or of a pack's members), else the solo loop. Imports torch."""
    from adamw_repro.training.engines import engine_of

    if engine_of(cfg) == "batched":
        from adamw_repro.training.vectorized import batched_engine

        return batched_engine
    from adamw_repro.training.loop import SoloEngine

    return SoloEngine


def check_experiment(argv: list[str]) -> None:
    """An `experiment=NAME` override must name a file of conf/experiment/ (the group is optional, so Hydra
    itself would compose a misspelt one as no experiment at all and train a default run)."""
    folders = [CONF_DIR] + [Path(entry.strip().removeprefix("file://")) for arg in argv
                            if arg.startswith("hydra.searchpath=")
                            for entry in arg.split("=", 1)[1].strip("[]").split(",") if entry.strip()]
    known = sorted({p.stem for folder in folders for p in (folder / "experiment").glob("*.yaml")})
    for arg in argv:
        key, _, name = arg.lstrip("+~").partition("=")
        if key == "experiment" and name not in ("", "null") and name not in known:
            raise ConfigError(f"experiment={name} is unknown; allowed: {', '.join(known)} (files in "
                              f"conf/experiment/)")


def _prepare_argv(argv: list[str]) -> list[str]:
    """Checks Hydra would answer with a traceback: a run directory that is a file; and for a read-only run
    directory, Hydra's own files (.hydra/, the job log) are not written, so a finished run can be answered."""
    check_experiment(argv)
    if "-m" in argv or "--multirun" in argv:
        return argv
    given = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")]
    if not given:
        return argv
    run_dir = Path(given[-1])
    if run_dir.is_symlink() and not run_dir.exists():
        raise ConfigError(f"hydra.run.dir={run_dir} is a symbolic link to {os.readlink(run_dir)}, which does not "
                          "exist; allowed: an existing folder or a new path (hydra.run.dir=...)")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"hydra.run.dir={run_dir} is a file; allowed: a folder, new or existing "
                          "(hydra.run.dir=...)")
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK):
        return [*argv, "hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return argv


def _config_problem(err: Exception) -> str | None:
    """One line for an error of the config files or overrides (Hydra, OmegaConf, YAML), else None."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    cause = err
    while cause is not None and not isinstance(cause, yaml.YAMLError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        mark = getattr(cause, "problem_mark", None)
        where = f"{mark.name}: line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "conf/"
        return f"{where}: not valid YAML ({getattr(cause, 'problem', None) or cause}); fix the file"
    if isinstance(err, HydraException | OmegaConfBaseException):
        return " ".join(str(err).split("Config search path:")[0].split())
    return None


def _reraise(err: Exception):
    raise err


def disk_problem(err: OSError) -> str:
    """One line for a fault of the disk or file system, naming the file."""
    return (f"{err.filename or 'the run directory'}: {err.strerror or err}; free space (or choose another "
            "hydra.run.dir) and run the same command again: it resumes from the last checkpoint")


def _fail(err: BaseException | str, code: int = 2) -> None:
    print(f"error: {str(err).replace(chr(10), ' ')}", file=sys.stderr)
    exit_now(code)


def main() -> None:
    """The command line: bad input and faults end in one line on stderr (exit 2); only a bug keeps its traceback."""

    def one_run(cfg: DictConfig, run_dir: Path) -> None:
        metrics = train(cfg, run_dir)
        # The log's last line: the workflow shows it as the run's one-line summary.
        print(f"{run_label(cfg, run_dir.name)}: {metrics['status']}, test error "
              f"{metrics['final']['test_error']:.4f} after {metrics['epochs']} epochs "
              f"({metrics['wall_seconds']:.1f} s of training and evaluation)")

    command_line(one_run)


def command_line(task) -> None:
    """Hydra's command line around `task(cfg, run_dir)`, shared by the entry points (train, lr_range): an
    unknown experiment, an error of the config files or overrides, bad values and disk faults are one `error:`
    line with exit code 2; anything else (a bug) keeps its full traceback."""
    import hydra

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    def _main(cfg: DictConfig) -> None:
        from hydra.core.hydra_config import HydraConfig

        try:
            task(cfg, Path(HydraConfig.get().runtime.output_dir))
        except ConfigError as err:
            _fail(err)
        except OSError as err:  # a disk full or a folder gone mid-run: named; the last checkpoint is kept
            _fail(disk_problem(err))

    # Hydra re-raises instead of printing a trace: an error of the config files or overrides becomes one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        sys.argv[1:] = _prepare_argv(sys.argv[1:])
        _main()
    except ConfigError as err:
        _fail(err)
    except OSError as err:  # the disk or the file system before the run could start (Hydra's missing config too)
        _fail(_config_problem(err) or disk_problem(err))
    except Exception as err:  # noqa: BLE001 sorted below: only the config's own errors become one line
        _fail(_config_problem(err) or _reraise(err))
    except KeyboardInterrupt:  # outside the loop, which turns SIGINT into a checkpoint
        _fail("interrupted; the same command resumes from the last checkpoint, if any", code=130)
    exit_now()


def exit_now(code: int = 0) -> None:
    """End the process without the interpreter's teardown, which takes ~0.5 s once torch is loaded (a tenth
    of a quick run). Every output is already written atomically; only logs and streams need flushing."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
