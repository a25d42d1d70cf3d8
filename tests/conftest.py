"""Shared fixtures: the real conf/ composed by Hydra and shrunk to a tiny CPU run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def compose_config(*overrides: str, data_root: Path | None = None):
    """The real config tree with `overrides`, at the smoke scale unless a scale is given."""
    ov = list(overrides)
    if not any(o.startswith("scale=") for o in ov):
        ov.insert(0, "scale=smoke")
    if data_root is not None:
        ov.append(f"data.root={data_root}")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=ov)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """One generated MNIST-1D cache shared by every test of the session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_cfg(data_root):
    return lambda *ov: compose_config(*ov, data_root=data_root)
