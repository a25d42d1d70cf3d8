"""ImageNet32x32 (Chrabaszcz, Loshchilov & Hutter 2017) from its official batch files, as device tensors.

The paper's Fig. 4 reports top-5 error on this data set. It sits behind an image-net.org login, so it is never
downloaded: the user unpacks Imagenet32_train.zip and Imagenet32_val.zip and points `data.root` at them.
The official ImageNet validation set (`val_data`) serves as the test set; the validation split is carved from
the training set, as for CIFAR.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adamw_repro.training.data._images import Splits, build_splits
from adamw_repro.training.data.augment import augment as pad_crop_flip
from adamw_repro.training.data.safe_pickle import load_pickle

NUM_CLASSES = 1000
TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
TEST_FILE = "val_data"
# Where the files may lie under data.root: directly, or in the folders the official zips unpack to.
SUBFOLDERS = ("", "Imagenet32_train", "Imagenet32_val", "imagenet32", "imagenet32/Imagenet32_train",
              "imagenet32/Imagenet32_val")


def where_to_get(root: str | Path) -> str:
    """How to obtain ImageNet32x32 and tell the pipeline where it is."""
    return (
        "ImageNet32x32 is not downloaded automatically (it needs an image-net.org account). Download "
        "Imagenet32_train.zip and Imagenet32_val.zip from the image-net.org downloads page "
        "(https://image-net.org/download-images.php, \"Downsampled ImageNet 32x32\"), unzip both, and set "
        f"`data.root=...` (or $ADAMW_REPRO_DATA) to the folder that holds them (now: {root})."
    )


def _find(root: Path, name: str) -> Path | None:
    for sub in SUBFOLDERS:
        if (root / sub / name).is_file():
            return root / sub / name
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and 0-based labels of one official batch file.

    Each file is a pickled dict: 'data' (N x 3072 uint8: 1024 red values, then green, then blue, as in
    CIFAR), 'labels' (1-based class numbers 1..1000) and, in training files, 'mean' (unused: statistics come
    from the images left for training after the validation split).
    """
    entry = load_pickle(path, "an ImageNet32x32 batch file", "replace it with the file from the official zip")
    if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
        raise ValueError(f"{path}: not an ImageNet32x32 batch file (expected a dict with 'data' and 'labels')")
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry["labels"], dtype=np.int64) - 1
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected 'data' N x 3072 and N labels, got {data.shape} and {len(labels)}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise ValueError(
            f"{path}: labels must be 1..{NUM_CLASSES}, got {labels.min() + 1}..{labels.max() + 1}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def load(cfg: Mapping[str, Any], device: torch.device | str) -> Splits:
    """ImageNet32x32 from `cfg["root"]` as a `Splits` on `device` (1.28M training images: ~16 GB as float32).

    Keys of `cfg` (conf/data/imagenet32.yaml): name, root, val_size, split_seed, augment.
    """
    root = Path(cfg["root"])
    paths = {name: _find(root, name) for name in (*TRAIN_FILES, TEST_FILE)}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise FileNotFoundError(f"ImageNet32x32 not found under {root}: missing {', '.join(missing)}. "
                                f"{where_to_get(root)}")
    train = [read_batch(paths[name]) for name in TRAIN_FILES]
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    del train  # 4 GB of batches no longer needed once joined
    test_images, test_labels = read_batch(paths[TEST_FILE])
    return build_splits(
        train_images,
        train_labels,
        test_images,
        test_labels,
        val_size=int(cfg["val_size"]),
        split_seed=int(cfg["split_seed"]),
        device=device,
        num_classes=NUM_CLASSES,
        augment=pad_crop_flip if cfg.get("augment", False) else None,
        name="imagenet32",
    )
