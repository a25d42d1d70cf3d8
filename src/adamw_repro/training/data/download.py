"""Fetch a data set: `python -m adamw_repro.training.data.download {cifar10,cifar100,imagenet32} --root DIR`.

The only place in the project that downloads anything; loaders never do, so a run cannot silently start a
download on a compute node without internet. ImageNet32x32 needs an image-net.org login: for it this prints
where to get it and exits with status 2.
"""

import argparse
import sys
from pathlib import Path

CHOICES = ("cifar10", "cifar100", "imagenet32")


def download(name: str, root: Path) -> None:
    """Download CIFAR-10 or CIFAR-100 (the official archive, md5-checked) into `root` and unpack it; no-op when
    its files are there. The batch files are never unpickled here: the loader reads them with its restricted
    unpickler (torchvision's dataset classes would pickle.load them)."""
    from torchvision.datasets import CIFAR10, CIFAR100  # late: `--help` should not pay for importing torch
    from torchvision.datasets.utils import download_and_extract_archive

    cls = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
    folder = root / cls.base_folder
    if all((folder / file).is_file() for file, _ in cls.train_list + cls.test_list):
        return
    root.mkdir(parents=True, exist_ok=True)
    download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m adamw_repro.training.data.download", description=__doc__.split("\n")[0]
    )
    parser.add_argument("name", choices=CHOICES, help="data set (the `data.name` of conf/data/)")
    parser.add_argument("--root", type=Path, default=Path("data"), help="folder that `data.root` points at")
    args = parser.parse_args(argv)
    if args.name == "imagenet32":
        from adamw_repro.training.data.imagenet32 import where_to_get

        print(where_to_get(args.root), file=sys.stderr)
        return 2
    download(args.name, args.root)
    print(f"{args.name} ready under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
