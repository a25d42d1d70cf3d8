"""From uint8 image arrays to a `Splits` of normalized float tensors on the training device.

Shared by the CIFAR and ImageNet32 loaders: both read (N, 3, 32, 32) uint8 images and integer labels, carve
a validation split out of the training set, and normalize per channel with statistics of what is left for
training.
"""

from collections.abc import Callable

import numpy as np
import torch

from adamw_repro.training.data import Splits

# Images are converted to float on the device this many at a time, so that a 1.28M-image ImageNet32 never
# needs a second full-size float copy (15 GiB) on the host.
CHUNK = 65536


def carve_validation(n: int, val_size: int, split_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) of a random `val_size`-image validation split of `n` training images.

    The split depends only on `split_seed`, never on the run's seed: every run of a sweep sees the same split.
    """
    if not 0 <= val_size < n:
        raise ValueError(f"data.val_size={val_size} must be in [0, {n}) for a training set of {n} images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    return order[val_size:].sort().values, order[:val_size].sort().values


def channel_mean_std(images: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 `images` (N, C, H, W) on the 0-1 scale, in float64.

    Summed chunk by chunk on `device` (the GPU is much faster than the host at 4e9 pixels of ImageNet32).
    """
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64, device=device)
    squares = torch.zeros(c, dtype=torch.float64, device=device)
    for chunk in images.split(CHUNK):
        pixels = chunk.to(device).transpose(0, 1).reshape(c, -1).double() / 255
        total += pixels.sum(1)
        squares += (pixels * pixels).sum(1)
    count = images.numel() // c
    mean = total / count
    return mean, (squares / count - mean * mean).clamp_min(0).sqrt()


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Float32 copy of uint8 `images` on `device`, scaled to 0-1 and standardized per channel."""
    out = torch.empty(images.shape, dtype=torch.float32, device=device)
    shift = mean.float().to(device)[None, :, None, None]
    scale = std.float().to(device)[None, :, None, None]
    for start in range(0, len(images), CHUNK):
        chunk = images[start : start + CHUNK].to(device, non_blocking=True).float() / 255
        out[start : start + CHUNK] = (chunk - shift) / scale
    return out


def build_splits(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    val_size: int,
    split_seed: int,
    device: torch.device | str,
    train_size: int | None = None,
    num_classes: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
    name: str,
) -> Splits:
    """`Splits` on `device` from uint8 (N, C, H, W) images and 0-based integer labels."""
    device = torch.device(device)
    train_x = torch.from_numpy(np.ascontiguousarray(train_images))
    train_y = torch.from_numpy(np.asarray(train_labels, dtype=np.int64))
    train_idx, val_idx = carve_validation(len(train_x), val_size, split_seed)
    if train_size is not None:  # the first ones in the files' (shuffled) order: smaller sets nest in larger ones
        if not 0 < train_size <= len(train_idx):
            raise ValueError(f"data.train_size={train_size} is not allowed; allowed: 1..{len(train_idx)} (the "
                             f"images left after data.val_size={val_size}) (conf/data/{name}.yaml)")
        train_idx = train_idx[:train_size]
    x_train_u8, x_val_u8 = train_x[train_idx], train_x[val_idx]
    # Statistics of the images the model trains on: the validation images stay unseen.
    mean, std = channel_mean_std(x_train_u8, device)
    test_x = torch.from_numpy(np.ascontiguousarray(test_images))
    return Splits(
        x_train=normalize(x_train_u8, mean, std, device),
        y_train=train_y[train_idx].to(device),
        x_val=normalize(x_val_u8, mean, std, device),
        y_val=train_y[val_idx].to(device),
        x_test=normalize(test_x, mean, std, device),
        y_test=torch.from_numpy(np.asarray(test_labels, dtype=np.int64)).to(device),
        num_classes=num_classes,
        in_channels=train_x.shape[1],
        augment=augment,
        name=name,
    )
