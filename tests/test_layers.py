"""The layers of the package, read from every import statement (inside functions too) by
scripts/import_graph.py: workflow/ never imports training/, training/ never imports workflow/ or analysis/, no
module reachable from analysis/ imports torch, the leaf modules import no layer, no cycle; docs/imports.md, the
drawing of it, is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = ("runconfig", "names", "schema", "runio", "compose", "checks", "units")


def _load_script():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_graph = _load_script()


@pytest.fixture(scope="module")
def graph():
    return import_graph.graph()


def layer(name: str) -> str:
    return import_graph.group(name)


def edges_between(edges, source: str, targets: tuple[str, ...]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, bs in edges.items() for b in bs if layer(a) == source and layer(b) in targets)


def test_the_import_reader_sees_function_level_and_relative_imports(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("import os\nfrom . import sibling\ndef f():\n    import torch\n    from adamw_repro.x import y\n")
    known = {"adamw_repro.pkg.mod", "adamw_repro.pkg.sibling", "adamw_repro.x"}
    inside, outside = import_graph.imports_of("adamw_repro.pkg.mod", path, known)
    assert inside == {"adamw_repro.pkg.sibling", "adamw_repro.x"} and outside == {"os", "torch"}


def test_workflow_never_imports_training(graph):
    assert edges_between(graph[0], "workflow", ("training",)) == []


def test_training_never_imports_workflow_or_analysis(graph):
    assert edges_between(graph[0], "training", ("workflow", "analysis")) == []


def test_nothing_reachable_from_analysis_imports_torch(graph):
    edges, external = graph
    reached, todo = set(), [m for m in edges if layer(m) == "analysis"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += edges[module]
    assert sorted(m for m in reached if external[m] & {"torch", "torchvision"}) == []
    assert any(layer(m) == "runio" for m in reached)  # the leaves it reads are among those checked


def test_leaf_modules_import_no_layer(graph):
    edges = graph[0]
    assert {layer(m) for m in edges} >= set(LEAVES)
    for leaf in LEAVES:
        assert edges_between(edges, leaf, import_graph.LAYERS) == [], leaf


def test_the_module_graph_has_no_cycle(graph):
    assert import_graph.cycles(graph[0]) == []
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_drawing_in_docs_is_current(graph):
    assert (ROOT / "docs" / "imports.md").read_text() == import_graph.drawing(*graph), (
        "docs/imports.md is stale: run python scripts/import_graph.py --write")
