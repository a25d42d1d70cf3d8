"""Images per second of the paper's augmentation: batches on the device vs a torchvision DataLoader.

Both pipelines do the same work on the same synthetic CIFAR-shaped images (pad-4 random crop, horizontal flip,
per-channel normalization) and hand the training step a normalized float batch on the device:
- device: `adamw_repro.training.data.augment.augment` on batches drawn from a tensor already on the device;
- torchvision: DataLoader over PIL images with RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
  Normalize, then `.to(device)`.

    python scripts/bench_augment.py [--images 10000] [--workers 0] [--threads 1] [--device auto]

Prints a markdown table naming the device.
"""

import argparse
import platform
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from adamw_repro.training.data.augment import augment

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10's; any values cost the same


class PilImages(Dataset):
    """uint8 (N, 32, 32, 3) images served as PIL images, the way torchvision's CIFAR10 serves them."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: transforms.Compose) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_device(images: np.ndarray, batch_size: int, device: torch.device, repeats: int) -> float:
    """Images/s of drawing, cropping and flipping batches of a normalized tensor held on `device`."""
    mean = torch.tensor(MEAN, device=device)[None, :, None, None]
    std = torch.tensor(STD, device=device)[None, :, None, None]
    x = (torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 255 - mean) / std
    gen = torch.Generator().manual_seed(0)  # CPU generator, as the training loop uses
    n = len(x)
    for _ in range(3):  # warm-up (CUDA kernels, allocator)
        augment(x[:batch_size], gen)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, batch_size):
            augment(x[order[i : i + batch_size]], gen)
    sync(device)
    return repeats * n / (time.perf_counter() - start)


def bench_torchvision(images: np.ndarray, batch_size: int, device: torch.device, workers: int) -> float:
    """Images/s of one epoch of a torchvision DataLoader (the paper's transforms), batches on `device`."""
    pipeline = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    dataset = PilImages(images, np.zeros(len(images), dtype=np.int64), pipeline)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    start = time.perf_counter()
    for xb, _ in loader:
        xb.to(device, non_blocking=True)
    sync(device)
    return len(images) / (time.perf_counter() - start)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10000, help="synthetic 32x32x3 images")
    parser.add_argument("--batch-size", type=int, default=128, help="the paper's 128")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="epochs of the device pipeline")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    on_device = bench_device(images, args.batch_size, device, args.repeats)
    loader = bench_torchvision(images, args.batch_size, device, args.workers)
    print(f"Device: {device_name(device)}; batch {args.batch_size}; {args.images} images; "
          f"torch {torch.__version__}\n")
    print("| pipeline | images/s | speed-up |")
    print("|---|---:|---:|")
    print(f"| torchvision DataLoader + transforms ({args.workers} workers) | {loader:,.0f} | 1.0x |")
    speedup = on_device / loader
    print(f"| batch augmentation on the device (`data/augment.py`) | {on_device:,.0f} | {speedup:.1f}x |")


if __name__ == "__main__":
    main()
