"""Paper-scale data: CIFAR through the real torchvision classes, ImageNet32 batch files, device augmentation.

Every data file here is a tiny one written by the test in the real on-disk format; nothing is downloaded.
"""

import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from adamw_repro.training.data import augment as aug
from adamw_repro.training.data import cifar, download, imagenet32
from adamw_repro.training.data._images import carve_validation

# --- writers of the real formats ---------------------------------------------------------------------------


def _pickle(path: Path, obj: dict) -> None:
    # The official files are Python 2 pickles; torchvision reads them with encoding="latin1", which turns
    # their str keys into Python 3 str. A Python 3 pickle with str keys therefore loads as the same dict.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)


def write_cifar(root: Path, name: str, per_file: int = 20, n_test: int = 30) -> tuple[np.ndarray, ...]:
    """Tiny CIFAR-10/100 files in torchvision's layout; returns train images, labels, test images, labels."""
    rng = np.random.default_rng(0)
    classes = 10 if name == "cifar10" else 100
    cls = cifar.DATASETS[name][0]  # torchvision's file list and folder
    folder = root / cls.base_folder
    label_key = "labels" if name == "cifar10" else "fine_labels"
    train_x, train_y = [], []
    for file, _ in cls.train_list:
        n = per_file if name == "cifar10" else 5 * per_file
        x, y = _images(rng, n), rng.integers(0, classes, n).tolist()
        names = [f"{i}.png" for i in range(n)]
        _pickle(folder / file, {"batch_label": file, label_key: y, "data": x, "filenames": names})
        train_x.append(x)
        train_y += y
    test_x, test_y = _images(rng, n_test), rng.integers(0, classes, n_test).tolist()
    _pickle(folder / cls.test_list[0][0], {label_key: test_y, "data": test_x})
    _pickle(folder / cls.meta["filename"], {cls.meta["key"]: [f"class{i}" for i in range(classes)]})
    return np.concatenate(train_x), np.array(train_y), test_x, np.array(test_y)


def cifar_cfg(root: Path, name: str = "cifar10", **overrides) -> dict:
    # verify_checksums=False: the tiny files cannot match the official md5 sums.
    return {"name": name, "root": str(root), "val_size": 10, "split_seed": 0, "augment": True,
            "verify_checksums": False, **overrides}


def expected_normalized(train_x: np.ndarray, train_idx: torch.Tensor, x: np.ndarray) -> torch.Tensor:
    """(x/255 - mean) / std per channel, with statistics of the training images left after the split."""
    train = torch.from_numpy(train_x).double().reshape(-1, 3, 32, 32)[train_idx] / 255
    mean = train.mean((0, 2, 3))[None, :, None, None]
    std = train.std((0, 2, 3), unbiased=False)[None, :, None, None]
    return ((torch.from_numpy(x).double().reshape(-1, 3, 32, 32) / 255 - mean) / std).float()


# --- CIFAR ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_loads_its_batch_files(tmp_path, name, classes):
    train_x, train_y, test_x, test_y = write_cifar(tmp_path, name)
    splits = cifar.load(cifar_cfg(tmp_path, name), "cpu")
    train_idx, val_idx = carve_validation(len(train_x), 10, 0)
    assert (splits.name, splits.num_classes, splits.in_channels) == (name, classes, 3)
    assert splits.x_train.shape == (len(train_x) - 10, 3, 32, 32) and splits.x_val.shape == (10, 3, 32, 32)
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    assert splits.augment is aug.augment
    # Pixels in channel-first order, normalized with the statistics of the training part only.
    torch.testing.assert_close(splits.x_train, expected_normalized(train_x, train_idx, train_x[train_idx]))
    torch.testing.assert_close(splits.x_val, expected_normalized(train_x, train_idx, train_x[val_idx]))
    torch.testing.assert_close(splits.x_test, expected_normalized(train_x, train_idx, test_x))
    assert torch.equal(splits.y_train, torch.from_numpy(train_y)[train_idx])
    assert torch.equal(splits.y_val, torch.from_numpy(train_y)[val_idx])
    assert torch.equal(splits.y_test, torch.from_numpy(test_y))
    assert splits.x_train.mean((0, 2, 3)).abs().max() < 1e-5


def test_validation_split_is_fixed_by_split_seed_only():
    train_a, val_a = carve_validation(100, 10, split_seed=0)
    torch.manual_seed(123)  # the run's seed must not move the split
    train_b, val_b = carve_validation(100, 10, split_seed=0)
    _, val_c = carve_validation(100, 10, split_seed=1)
    assert torch.equal(val_a, val_b) and torch.equal(train_a, train_b)
    assert not torch.equal(val_a, val_c)
    assert sorted(train_a.tolist() + val_a.tolist()) == list(range(100))
    with pytest.raises(ValueError, match="val_size"):
        carve_validation(100, 100, 0)


def test_cifar_without_augmentation(tmp_path):
    write_cifar(tmp_path, "cifar10")
    assert cifar.load(cifar_cfg(tmp_path, augment=False), "cpu").augment is None


def test_cifar_checks_md5_by_default(tmp_path):
    write_cifar(tmp_path, "cifar10")
    cfg = cifar_cfg(tmp_path)
    del cfg["verify_checksums"]
    with pytest.raises(FileNotFoundError, match="corrupted") as err:
        cifar.load(cfg, "cpu")
    assert "python -m adamw_repro.training.data.download cifar10" in str(err.value)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_missing_cifar_names_the_fetch_commands(tmp_path, name):
    with pytest.raises(FileNotFoundError) as err:
        cifar.load(cifar_cfg(tmp_path / "nowhere", name), "cpu")
    message = str(err.value)
    assert "snakemake --cores 1 download_data --config scale=paper" in message
    assert f"python -m adamw_repro.training.data.download {name} --root {tmp_path / 'nowhere'}" in message


def test_unknown_cifar_name(tmp_path):
    with pytest.raises(ValueError, match="cifar10"):
        cifar.load(cifar_cfg(tmp_path, "cifar1000"), "cpu")


def test_download_fetches_the_md5_checked_archive_and_never_unpickles(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive",
                        lambda url, root, filename, md5: calls.append((url, root, filename, md5)))
    assert download.main(["cifar10", "--root", str(tmp_path)]) == 0
    (url, root, filename, md5), = calls
    assert url.startswith("https://") and root == str(tmp_path) and filename.endswith(".tar.gz") and len(md5) == 32
    write_cifar(tmp_path, "cifar10")  # once its files are there, nothing is fetched again
    assert download.main(["cifar10", "--root", str(tmp_path)]) == 0 and len(calls) == 1


# --- ImageNet32 ---------------------------------------------------------------------------------------------


def write_imagenet32(root: Path, per_file: int = 3, n_val: int = 7) -> tuple[np.ndarray, ...]:
    """Tiny official-format batch files (1-based labels) in the folders the official zips unpack to."""
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for i in range(1, 11):
        x, y = _images(rng, per_file), rng.integers(1, 1001, per_file).tolist()
        if i == 1:
            y[:2] = [1, 1000]  # both ends of the 1-based range
        _pickle(root / "Imagenet32_train" / f"train_data_batch_{i}",
                {"data": x, "labels": y, "mean": x.mean(0)})
        xs.append(x)
        ys += y
    val_x, val_y = _images(rng, n_val), rng.integers(1, 1001, n_val).tolist()
    _pickle(root / "Imagenet32_val" / "val_data", {"data": val_x, "labels": val_y})
    return np.concatenate(xs), np.array(ys), val_x, np.array(val_y)


def test_imagenet32_loads_official_batches(tmp_path):
    train_x, train_y, val_x, val_y = write_imagenet32(tmp_path)
    cfg = {"name": "imagenet32", "root": str(tmp_path), "val_size": 5, "split_seed": 0, "augment": False}
    splits = imagenet32.load(cfg, "cpu")
    train_idx, val_idx = carve_validation(30, 5, 0)
    assert (splits.name, splits.num_classes, splits.in_channels) == ("imagenet32", 1000, 3)
    assert splits.augment is None
    assert splits.x_train.shape == (25, 3, 32, 32) and splits.x_test.shape == (7, 3, 32, 32)
    torch.testing.assert_close(splits.x_train, expected_normalized(train_x, train_idx, train_x[train_idx]))
    torch.testing.assert_close(splits.x_test, expected_normalized(train_x, train_idx, val_x))
    # Labels become 0-based: 1..1000 -> 0..999.
    assert torch.equal(splits.y_train, torch.from_numpy(train_y - 1)[train_idx])
    assert torch.equal(splits.y_val, torch.from_numpy(train_y - 1)[val_idx])
    assert torch.equal(splits.y_test, torch.from_numpy(val_y - 1))


def test_imagenet32_rejects_zero_based_labels(tmp_path):
    _pickle(tmp_path / "val_data", {"data": _images(np.random.default_rng(0), 2), "labels": [0, 5]})
    with pytest.raises(ValueError, match="1..1000"):
        imagenet32.read_batch(tmp_path / "val_data")


def test_missing_imagenet32_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        imagenet32.load({"name": "imagenet32", "root": str(tmp_path), "val_size": 5, "split_seed": 0}, "cpu")
    message = str(err.value)
    assert "image-net.org" in message and "Downsampled ImageNet 32x32" in message and "data.root=" in message
    assert "train_data_batch_1" in message


def test_download_refuses_imagenet32(tmp_path, capsys):
    assert download.main(["imagenet32", "--root", str(tmp_path)]) == 2
    assert "Downsampled ImageNet 32x32" in capsys.readouterr().err


# --- augmentation on the device ----------------------------------------------------------------------------


def reference_crop_flip(x, dy, dx, flip, pad=aug.PAD):
    """One image at a time, the plain way: zero-pad, slice, mirror."""
    out = []
    for image, top, left, mirror in zip(x, dy.tolist(), dx.tolist(), flip.tolist(), strict=True):
        window = F.pad(image, (pad, pad, pad, pad))[:, top : top + 32, left : left + 32]
        out.append(window.flip(2) if mirror else window)
    return torch.stack(out)


def test_crop_flip_matches_the_per_image_reference():
    x = torch.randn(64, 3, 32, 32)
    dy, dx, flip = aug.draw(64, torch.Generator().manual_seed(0))
    assert torch.equal(aug.crop_flip(x, dy, dx, flip), reference_crop_flip(x, dy, dx, flip))


def test_every_output_is_a_window_of_the_padded_input():
    x = torch.randn(16, 3, 32, 32)
    out = aug.augment(x, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = F.pad(x, (4, 4, 4, 4))
    for image, result in zip(padded, out, strict=True):
        windows = [image[:, t : t + 32, s : s + 32] for t, s in itertools.product(range(9), range(9))]
        assert any(torch.equal(result, w) or torch.equal(result, w.flip(2)) for w in windows)


def test_offsets_cover_the_pad_and_half_the_images_flip():
    dy, dx, flip = aug.draw(20000, torch.Generator().manual_seed(2))
    assert set(dy.tolist()) == set(range(9)) and set(dx.tolist()) == set(range(9))
    assert abs(flip.float().mean().item() - 0.5) < 0.02  # 0.02 is ~6 standard deviations at n = 20000


def test_augment_is_deterministic_under_a_seed():
    x = torch.randn(32, 3, 32, 32)
    a = aug.augment(x, torch.Generator().manual_seed(3))
    b = aug.augment(x, torch.Generator().manual_seed(3))
    c = aug.augment(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_imagenet32_batches_are_read_by_a_restricted_unpickler(tmp_path, monkeypatch):
    """numpy arrays (protocols 2 and 5) load; a file that would call os.system is refused, naming the file."""
    rng = np.random.default_rng(0)
    for protocol in (2, 5):
        path = tmp_path / f"val_data_{protocol}"
        with open(path, "wb") as f:
            pickle.dump({"data": _images(rng, 3), "labels": np.array([1, 2, 1000]), "mean": np.zeros(3072)},
                        f, protocol=protocol)
        images, labels = imagenet32.read_batch(path)
        assert images.shape == (3, 3, 32, 32) and labels.tolist() == [0, 1, 999]
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "train_data_batch_1"
    with open(evil, "wb") as f:
        pickle.dump({"data": _Evil(), "labels": [1]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"train_data_batch_1: not an ImageNet32x32 batch file .*forbidden "
                                         r"global (posix|os)\.system"):
        imagenet32.read_batch(evil)
    assert not (tmp_path / "pwned").exists()


class _Payload:
    """A pickled object whose unpickling would create a file: what a hostile batch file carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("verify", [True, False])
def test_a_crafted_cifar_batch_file_is_refused_and_runs_nothing(tmp_path, verify):
    write_cifar(tmp_path, "cifar10")
    marker = tmp_path / "PWNED"
    folder = tmp_path / cifar.DATASETS["cifar10"][0].base_folder
    _pickle(folder / "data_batch_1", {"data": _Payload(marker), "labels": [0]})
    with pytest.raises((ValueError, FileNotFoundError), match="data_batch_1"):
        cifar.load(cifar_cfg(tmp_path, verify_checksums=verify), "cpu")
    assert not marker.exists()


def test_a_cifar_training_subset_is_the_head_of_the_full_one_and_the_validation_split_stays(tmp_path):
    write_cifar(tmp_path, "cifar10")
    full = cifar.load(cifar_cfg(tmp_path, augment=False), "cpu")
    part = cifar.load(cifar_cfg(tmp_path, augment=False, train_size=40), "cpu")
    assert torch.equal(part.y_train, full.y_train[:40]) and torch.equal(part.y_val, full.y_val)
    with pytest.raises(ValueError, match=r"data.train_size=500 is not allowed; allowed: 1..90"):
        cifar.load(cifar_cfg(tmp_path, train_size=500), "cpu")
