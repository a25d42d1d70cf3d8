"""envs/adamw-repro.yaml, the environment of every rule, lists exactly pyproject.toml's [project] dependencies with
the same bounds and the same Python: the two files the project ships, read as they are (a change to one alone fails
here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
ENV_FILE = ROOT / "envs" / "adamw-repro.yaml"

# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {"pytorch": "torch"}
# conda packages that are the environment itself, not project dependencies
CONDA_BASE = {"python", "pip"}


def normalize(name: str) -> str:
    """PEP 503 name: case-insensitive, runs of '-', '_', '.' are one '-' (hydra_core == Hydra-Core)."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PYPI.get(name, name)


def pyproject_requirements(pyproject: dict) -> dict[str, SpecifierSet]:
    """Normalized name -> version bounds of [project].dependencies."""
    reqs = [Requirement(line) for line in pyproject["project"]["dependencies"]]
    return {normalize(r.name): r.specifier for r in reqs}


def parse_conda_spec(spec: str) -> tuple[str, SpecifierSet]:
    """'pytorch >=2.4,<=2.14.1' -> ('torch', SpecifierSet('>=2.4,<=2.14.1')); only PEP 440 operators."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(.*?)\s*", spec)
    if match is None:
        raise ValueError(f"cannot parse conda spec {spec!r}")
    name, bounds = match.groups()
    return normalize(name), SpecifierSet(bounds.replace(" ", ""))


def env_requirements(env: dict) -> tuple[dict[str, SpecifierSet], SpecifierSet | None]:
    """(normalized name -> bounds of conda and pip: entries, python bounds) of a conda env file."""
    out: dict[str, SpecifierSet] = {}
    python = None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                r = Requirement(line)
                out[normalize(r.name)] = r.specifier
            continue
        name, bounds = parse_conda_spec(dep)
        if name == "python":
            python = bounds
        elif name not in CONDA_BASE:
            out[name] = bounds
    return out, python


def mismatches(project: dict[str, SpecifierSet], env: dict[str, SpecifierSet]) -> list[str]:
    """Human-readable differences between two name -> bounds maps; empty when they agree."""
    problems = [f"{name}: in pyproject.toml, missing from {ENV_FILE.name}" for name in project.keys() - env]
    problems += [f"{name}: in {ENV_FILE.name}, not in pyproject.toml" for name in env.keys() - project]
    problems += [
        f"{name}: pyproject.toml says '{project[name]}', {ENV_FILE.name} says '{env[name]}'"
        for name in sorted(project.keys() & env.keys())
        if project[name] != env[name]
    ]
    return sorted(problems)


@pytest.fixture(scope="module")
def files() -> tuple[dict, dict]:
    return tomllib.loads(PYPROJECT.read_text()), yaml.safe_load(ENV_FILE.read_text())


def test_env_file_matches_pyproject_dependencies(files):
    pyproject, env = files
    project = pyproject_requirements(pyproject)
    in_env, _ = env_requirements(env)
    assert len(project) == len(pyproject["project"]["dependencies"]), "duplicate names in pyproject.toml"
    problems = mismatches(project, in_env)
    assert not problems, "envs/adamw-repro.yaml disagrees with pyproject.toml:\n" + "\n".join(problems)


def test_env_python_matches_requires_python(files):
    pyproject, env = files
    _, python = env_requirements(env)
    assert python == SpecifierSet(pyproject["project"]["requires-python"])


def test_env_channels_put_conda_forge_first(files):
    # conda-forge must win over bioconda for shared packages (bioconda's own requirement)
    _, env = files
    assert env["channels"][0] == "conda-forge"

