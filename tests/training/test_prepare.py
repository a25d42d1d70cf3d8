"""Preparing a scale's data once before any run: the data.json it writes, and bad input as one line."""

from __future__ import annotations

import json

import pytest

from adamw_repro.training import prepare


@pytest.mark.slow  # generates MNIST-1D
def test_prepare_generates_the_smoke_data_and_writes_its_sizes(tmp_path):
    out = tmp_path / "data.json"
    prepare.main(["scale=smoke", f"data.root={tmp_path / 'data'}", str(out)])
    sizes = json.loads(out.read_text())
    assert (sizes["data"], sizes["train"], sizes["val"], sizes["test"]) == ("mnist1d", 1000, 500, 1000)
    assert not list(tmp_path.glob("*.tmp*"))


def test_an_unknown_scale_is_one_line_naming_it(tmp_path):
    with pytest.raises(SystemExit) as err:
        prepare.main(["scale=huge", str(tmp_path / "data.json")])
    message = str(err.value)
    assert message.startswith("error: scale=huge:") and "Could not find 'scale/huge'" in message
    assert "\n" not in message and not (tmp_path / "data.json").exists()
