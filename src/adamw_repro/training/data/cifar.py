"""CIFAR-10 and CIFAR-100 from their official batch files, as normalized tensors on the device.

The batch files are Python pickles: they are read by the project's restricted unpickler (data/safe_pickle.py),
never by plain pickle (torchvision's dataset classes use pickle.load), whatever `verify_checksums` says, so a
replaced file cannot run code. With `verify_checksums` (the default) each file's md5 must be the official one
(torchvision's list). Nothing is downloaded here: a missing data set stops the run with the command that
fetches it (`adamw_repro.training.data.download` is the one place that downloads).
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from adamw_repro.training.data._images import Splits, build_splits
from adamw_repro.training.data.augment import augment as pad_crop_flip
from adamw_repro.training.data.safe_pickle import load_pickle

# name -> (torchvision's class: only its file list, md5 sums and folder are read; the label key; classes)
DATASETS: dict[str, tuple[type[CIFAR10], str, int]] = {"cifar10": (CIFAR10, "labels", 10),
                                                        "cifar100": (CIFAR100, "fine_labels", 100)}


def fetch_hint(name: str, root: str | Path) -> str:
    """The commands that put data set `name` under `root`."""
    return (
        "Fetch it with `snakemake --cores 1 download_data --config scale=paper`, or directly with "
        f"`python -m adamw_repro.training.data.download {name} --root {root}`; or point `data.root=...` "
        "(default: $ADAMW_REPRO_DATA, else ./data) at a folder that holds it."
    )


def _files(cls: type[CIFAR10]) -> list[str]:
    return [name for name, _ in cls.train_list + cls.test_list]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def read_batch(path: Path, label_key: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and 0-based labels of one official batch file (a pickled dict: 'data' N x 3072,
    1024 red values then green then blue; the labels under `label_key`)."""
    entry = load_pickle(path, "a CIFAR batch file", "delete the data set's folder and fetch it again")
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise ValueError(f"{path}: not a CIFAR batch file (expected a dict with 'data' and '{label_key}')")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected 'data' N x 3072 and N labels, got {data.shape} and {len(labels)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{path}: labels must be 0..{classes - 1}, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def load(cfg: Mapping[str, Any], device: torch.device | str) -> Splits:
    """CIFAR-10 or CIFAR-100 (`cfg["name"]`) from `cfg["root"]` as a `Splits` on `device`.

    Keys of `cfg` (conf/data/cifar10.yaml): name, root, val_size (validation images carved from the training
    set), train_size (null: the rest), split_seed, augment (pad-4 crop + flip on the device), verify_checksums
    (default true: each file's md5 must be the official one).
    """
    name = cfg["name"]
    if name not in DATASETS:
        raise ValueError(f"data.name={name!r} is not a CIFAR data set; choose one of {sorted(DATASETS)}")
    cls, label_key, classes = DATASETS[name]
    root = Path(cfg["root"])
    folder = root / cls.base_folder
    missing = [file for file in _files(cls) if not (folder / file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{name} not found: {folder} lacks {', '.join(missing)}. {fetch_hint(name, root)}"
        )
    if cfg.get("verify_checksums", True):
        bad = [file for file, md5 in cls.train_list + cls.test_list if _md5(folder / file) != md5]
        if bad:
            raise FileNotFoundError(f"{name} under {folder} is corrupted or incomplete ({', '.join(bad)}: md5 "
                                    f"differs from the official files). Delete that folder and fetch it again. "
                                    f"{fetch_hint(name, root)}")
    train = [read_batch(folder / file, label_key, classes) for file, _ in cls.train_list]
    test_images, test_labels = read_batch(folder / cls.test_list[0][0], label_key, classes)
    return build_splits(
        np.concatenate([images for images, _ in train]),
        np.concatenate([labels for _, labels in train]),
        test_images,
        test_labels,
        val_size=int(cfg["val_size"]),
        split_seed=int(cfg["split_seed"]),
        train_size=int(cfg["train_size"]) if cfg.get("train_size") is not None else None,
        device=device,
        num_classes=classes,
        augment=pad_crop_flip if cfg.get("augment", True) else None,
        name=name,
    )
