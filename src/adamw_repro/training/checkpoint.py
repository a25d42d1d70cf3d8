"""Stop and resume: checkpoints written atomically and read safely, and the signals that ask for one.

A checkpoint holds everything a run needs to continue bitwise (loop.Run.state_dict) plus its config digest.
It is read with weights_only=True (tensors and plain containers only), so a replaced file cannot run code.
SIGTERM (scancel, SLURM's --signal before a time limit, preemption) and SIGINT (Ctrl-C) ask the loop to write
one and stop with EXIT_PREEMPTED; the same command then resumes.
"""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path

import torch

from adamw_repro import runio
from adamw_repro.runconfig import ConfigError

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: the job stopped early on request and left a checkpoint to resume from


class StopRequested(Exception):
    """SIGTERM or SIGINT arrived; the loop writes checkpoints and stops."""


class StopHandler:
    """SIGTERM and SIGINT ask the loop to checkpoint and stop. Calling it gives the signal's name once one
    arrived, else None."""

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


def save_checkpoint(path: Path, state: dict) -> None:
    """torch.save into memory, then one atomic write: a reader never sees half a checkpoint."""
    buf = io.BytesIO()
    torch.save(state, buf)
    runio.write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The resume state in `path`, or None. An unreadable file (truncated, empty, foreign) is moved aside and
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
        discard(path, err)
        return None


def discard(path: Path, err: BaseException, what: str = "is unreadable") -> None:
    """Move an unusable checkpoint aside (never deleted) and say so on stderr; the run starts from scratch."""
    moved = runio.move_aside(path, "corrupt")
    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    print(f"warning: {path} {what} ({type(err).__name__}: {reason}); moved to {moved.name}; "
          f"the run starts from scratch", file=sys.stderr)
