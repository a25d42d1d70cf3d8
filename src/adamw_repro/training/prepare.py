"""Prepare a scale's data once, before any training job: `python -m adamw_repro.training.prepare scale=NAME OUT`
(`--download` first fetches a downloadable data set: the workflow's local `download_data` rule).

MNIST-1D is generated here (offline). Downloadable data sets (CIFAR) are fetched only by the workflow's
`download_data` rule; here they are only checked, so a compute node never downloads. The workflow starts
this as a process, like every training job (the workflow layer never imports training).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from adamw_repro import runio
from adamw_repro.compose import Composer
from adamw_repro.runconfig import CONF_DIR, ConfigError

USAGE = "usage: python -m adamw_repro.training.prepare [--download] scale=NAME [overrides] OUT.json"


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    download = "--download" in argv
    argv = [a for a in argv if a != "--download"]
    if not argv:
        sys.exit(USAGE)
    out = Path(argv.pop())
    try:
        cfg = Composer(CONF_DIR).compose(argv)
    except ConfigError as err:
        sys.exit(f"error: {' '.join(argv)}: {err} (files in {CONF_DIR})")
    from adamw_repro.training.data import load_splits

    if download:
        if cfg.data.name == "mnist1d":
            print("mnist1d is generated offline: nothing to download")
        else:
            from adamw_repro.training.data.download import download as fetch

            fetch(cfg.data.name, Path(cfg.data.root))

    start = time.perf_counter()
    try:
        splits = load_splits(cfg.data, "cpu")
    except (FileNotFoundError, PermissionError, ValueError) as err:
        sys.exit(f"error: {err}")
    runio.write_json(out, {"data": cfg.data.name, "train": len(splits.x_train), "val": len(splits.x_val),
                           "test": len(splits.x_test), "seconds": round(time.perf_counter() - start, 3)})
    print(f"{cfg.data.name}: {len(splits.x_train)} train / {len(splits.x_val)} val / {len(splits.x_test)} test")


if __name__ == "__main__":
    main()
