"""CIFAR-10 and CIFAR-100, read by torchvision's own dataset classes, as normalized tensors on the device.

Nothing is downloaded here: a missing data set stops the run with the command that fetches it
(`adamw_repro.training.data.download` is the one place that downloads).
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torchvision.datasets import CIFAR10, CIFAR100

from adamw_repro.training.data._images import Splits, build_splits
from adamw_repro.training.data.augment import augment as pad_crop_flip

DATASETS: dict[str, tuple[type[CIFAR10], int]] = {"cifar10": (CIFAR10, 10), "cifar100": (CIFAR100, 100)}


def fetch_hint(name: str, root: str | Path) -> str:
    """The commands that put data set `name` under `root`."""
    return (
        "Fetch it with `snakemake --cores 1 download_data --config scale=paper`, or directly with "
        f"`python -m adamw_repro.training.data.download {name} --root {root}`; or point `data.root=...` "
        "(default: $ADAMW_REPRO_DATA, else ./data) at a folder that holds it."
    )


def _files(cls: type[CIFAR10]) -> list[str]:
    return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _trusting(cls: type[CIFAR10], folder: Path) -> type[CIFAR10]:
    """`cls` with its expected md5 sums replaced by those of the files now in `folder`.

    torchvision refuses files whose md5 differs from the official archive's, so it cannot read the tiny files
    the tests write in the real format. This subclass keeps every line of torchvision's reading code and only
    makes its integrity check agree with the disk; it is used only when `data.verify_checksums=false`.
    """
    return type(
        f"Unverified{cls.__name__}",
        (cls,),
        {
            "train_list": [[name, _md5(folder / name)] for name, _ in cls.train_list],
            "test_list": [[name, _md5(folder / name)] for name, _ in cls.test_list],
            "meta": {**cls.meta, "md5": _md5(folder / cls.meta["filename"])},
        },
    )


def load(cfg: Mapping[str, Any], device: torch.device | str) -> Splits:
    """CIFAR-10 or CIFAR-100 (`cfg["name"]`) from `cfg["root"]` as a `Splits` on `device`.

    Keys of `cfg` (conf/data/cifar10.yaml): name, root, val_size (validation images carved from the training
    set), split_seed, augment (pad-4 crop + flip on the device), verify_checksums (default true).
    """
    name = cfg["name"]
    if name not in DATASETS:
        raise ValueError(f"data.name={name!r} is not a CIFAR data set; choose one of {sorted(DATASETS)}")
    cls, num_classes = DATASETS[name]
    root = Path(cfg["root"])
    folder = root / cls.base_folder
    missing = [file for file in _files(cls) if not (folder / file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{name} not found: {folder} lacks {', '.join(missing)}. {fetch_hint(name, root)}"
        )
    if not cfg.get("verify_checksums", True):
        cls = _trusting(cls, folder)
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except RuntimeError as err:  # torchvision's answer to an md5 mismatch
        raise FileNotFoundError(
            f"{name} under {folder} is corrupted or incomplete ({err}). Delete that folder and fetch it "
            "again. "
            f"{fetch_hint(name, root)}"
        ) from err
    # torchvision holds images as (N, H, W, C) uint8; the models want (N, C, H, W).
    return build_splits(
        train.data.transpose(0, 3, 1, 2),
        train.targets,
        test.data.transpose(0, 3, 1, 2),
        test.targets,
        val_size=int(cfg["val_size"]),
        split_seed=int(cfg["split_seed"]),
        train_size=int(cfg["train_size"]) if cfg.get("train_size") is not None else None,
        device=device,
        num_classes=num_classes,
        augment=pad_crop_flip if cfg.get("augment", True) else None,
        name=name,
    )
