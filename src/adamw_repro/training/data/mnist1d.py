"""MNIST-1D (Greydanus 2020), generated offline by the `mnist1d` package and cached as one .npz file.

The generator (never its download) makes as many samples as asked from a fixed data seed; the cache file
is named by the generation arguments so that a change of size or seed makes a new file. Loading the
cache takes milliseconds; generating 16,000 samples takes ~3 s and happens once (the workflow's
`prepare_data` rule).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from adamw_repro.training.data import Splits

LENGTH = 40  # the generator's final_seq_length


def generation_args(cfg) -> dict:
    """The generator arguments that decide the data: the pool (train + validation, or `pool_size`) and the test
    set."""
    pool = cfg.get("pool_size") or int(cfg["train_size"]) + int(cfg["val_size"])
    return {"pool": int(pool), "test": int(cfg["test_size"]), "seed": int(cfg["data_seed"])}


def cache_path(cfg) -> Path:
    args = generation_args(cfg)
    digest = hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    return Path(cfg["root"]) / f"mnist1d-{args['pool']}-{args['test']}-seed{args['seed']}-{digest}.npz"


def generate(cfg) -> Path:
    """Generate the data with the package's generator and write the cache atomically. Returns its path."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (scipy, matplotlib): only here

    args = generation_args(cfg)
    gen_args = get_dataset_args()
    gen_args.num_samples = args["pool"] + args["test"]
    gen_args.train_split = args["pool"] / gen_args.num_samples
    gen_args.seed = args["seed"]
    data = make_dataset(gen_args)
    path = cache_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, x=data["x"].astype(np.float32), y=data["y"].astype(np.int64),
             x_test=data["x_test"].astype(np.float32), y_test=data["y_test"].astype(np.int64))
    os.replace(tmp, path)
    return path


def load(cfg, device: torch.device) -> Splits:
    """Train / validation / test tensors on `device`; generates the cache on first use."""
    path = cache_path(cfg)
    if not path.exists():
        if not cfg.get("generate", True):
            raise FileNotFoundError(f"data.generate=false and the MNIST-1D cache {path} is missing; allowed: "
                                    f"data.generate=true, or a data.root holding the cache (`snakemake --cores 1 "
                                    f"prepare_data` makes it) (conf/data/mnist1d.yaml or data.generate=...)")
        root = Path(cfg["root"])
        if root.exists() and not os.access(root, os.W_OK):
            raise PermissionError(f"data.root={root} is not writable; change data.root "
                                  f"(conf/data/mnist1d.yaml or data.root=...)")
        generate(cfg)
    try:
        with np.load(path) as f:
            x, y, x_test, y_test = f["x"], f["y"], f["x_test"], f["y_test"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"data.root: cannot read the MNIST-1D cache {path} ({err}); delete it to regenerate, "
                         f"or point data.root elsewhere (conf/data/mnist1d.yaml)") from err
    n_train, n_val = int(cfg["train_size"]), int(cfg["val_size"])
    if n_train + n_val > len(x):
        raise ValueError(f"data.train_size={n_train} + data.val_size={n_val} exceed data.pool_size={len(x)}; "
                         "allowed: a pool at least their sum (conf/data/mnist1d.yaml or data.pool_size=...)")
    # The pool is already shuffled by the generator: training takes its head, validation its tail, so runs of
    # different train_size over one pool share their validation split and nest their training sets.
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return Splits(
        x_train=to(x[:n_train, None, :]), y_train=to(y[:n_train]),
        x_val=to(x[len(x) - n_val:, None, :]), y_val=to(y[len(y) - n_val:]),
        x_test=to(x_test[:, None, :]), y_test=to(y_test),
        num_classes=10, in_channels=1, name="mnist1d",
    )
