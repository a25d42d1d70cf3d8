"""runio.load_yaml: libyaml's speed, PyYAML's results and error messages."""

from pathlib import Path

import pytest
import yaml

from adamw_repro.runio import load_yaml

CONF = Path(__file__).resolve().parents[1] / "conf"


def test_every_conf_file_reads_as_safe_load_reads_it():
    files = sorted(CONF.rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        assert load_yaml(text) == yaml.safe_load(text), path


def test_a_syntax_error_is_worded_by_the_pure_python_parser():
    with pytest.raises(yaml.YAMLError) as err:
        load_yaml("a: 1\nb: c: 2\n")
    assert err.value.problem == "mapping values are not allowed here"  # libyaml: "... in this context"
    assert err.value.problem_mark.line == 1
