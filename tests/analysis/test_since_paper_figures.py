"""What the figures of findings 11 (timescale) and 12 (rotation) show: the plotted values are the tables' (seed means,
per-seed optima, equilibrium angles), the axes say what they hold, and missing data gives a figure that says so."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamw_repro.analysis import plotting, results
from adamw_repro.analysis.since_paper import equilibrium, timescale_fit

from .synthetic_since_paper import rotation_telemetry, timescale_runs

FIGURES = Path(__file__).resolve().parents[2] / "scripts" / "figures"


def load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"figures_{name}", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_files(monkeypatch):
    """Draw without writing: plotting.save records the path and the figure's title, and closes the figure."""
    saved = []

    def save(fig, out):
        saved.append((Path(out), fig._suptitle.get_text() if fig._suptitle else ""))
        plotting.plt.close(fig)

    monkeypatch.setattr(plotting, "save", save)
    return saved


def _labelled_lines(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_timescale_figure_plots_the_seed_means_the_per_seed_optima_and_tau(no_files, tmp_path):
    runs = timescale_runs(slope=-0.8, noise=0.002)
    fig = load("timescale").plot(runs, None, tmp_path / "timescale.png")
    a, b, c = fig.axes[:3]
    assert [path for path, _ in no_files] == [tmp_path / "timescale.png"]
    # (a) one curve per N: the mean over seeds of the validation error (%) at each lambda
    curves = _labelled_lines(a)
    for size in (1000, 4000, 16000):
        want = runs[runs["train_size"] == size].groupby("weight_decay")["final_val_error"].mean()
        x, y = curves[f"N = {size:g}"].get_data()
        assert np.allclose(x, want.index) and np.allclose(y, 100 * want.to_numpy())
    assert a.get_xlabel() == "weight decay λ" and a.get_ylabel() == "final validation error (%)"
    # (b) the per-seed parabola vertices and their geometric mean per N
    fit = timescale_fit(runs)
    offsets = b.collections[0].get_offsets()
    best = fit.best.dropna(subset=["lam_best"])
    assert np.allclose(offsets[:, 0], best["train_size"]) and np.allclose(offsets[:, 1], best["lam_best"])
    geo = np.exp(np.log(best["lam_best"]).groupby(best["train_size"]).mean())
    mean_line = next(line for line in b.get_lines() if line.get_marker() == "o")
    assert np.allclose(mean_line.get_ydata(), geo.to_numpy())
    assert b.get_xlabel() == "training-set size N" and b.get_yscale() == "log"
    assert any("slope -1: constant τ_epoch" in k for k in _labelled_lines(b))
    # (c) the best tau_epoch per N, from the units module through timescale_fit
    x, y = _labelled_lines(c)["best τ_epoch (geometric-mean λ)"].get_data()
    assert np.allclose(x, fit.per_size["train_size"]) and np.allclose(y, fit.per_size["tau_epoch"])
    assert "slope -0.8" in fig._suptitle.get_text() or "slope -0.7" in fig._suptitle.get_text()


def test_rotation_figure_plots_the_equilibrium_against_the_prediction(no_files, tmp_path):
    runs, tel = rotation_telemetry(input_ratio=0.7)
    fig = load("rotation").plot(runs, None, tmp_path / "rotation.png", telemetry=tel)
    a, b, c, d = fig.axes[:4]
    # (a) the middle AdamW cell: each layer's angle per epoch, the mean over seeds
    cell = tel[(tel["optimizer"] == "adamw") & (tel["alpha"] == 2.0**-5) & (tel["weight_decay"] == 2.0**-6)]
    want = cell[cell["layer"] == "3.weight"].groupby("epoch")["angular_update"].mean()
    x, y = _labelled_lines(a)["3.weight"].get_data()
    assert np.allclose(x, want.index) and np.allclose(y, want.to_numpy())
    assert _labelled_lines(a)["predicted"].get_ydata()[0] == pytest.approx(np.sqrt(2 * 2.0**-6 * 0.1 / 1.9))
    assert "0.weight (not judged)" in _labelled_lines(a) and a.get_ylabel() == "angular update per step (rad)"
    # (c) measured against predicted, one point per cell and layer (mean over seeds); the input layer hollow
    eq = equilibrium(tel, runs)
    eq = eq[(eq["optimizer"] == "adamw") & (eq["layer"] == "6.weight")]
    want = eq.groupby(["alpha", "weight_decay"])[["predicted", "angle"]].mean()
    points = next(col for col in c.collections if col.get_label() == "6.weight").get_offsets()
    assert sorted(map(tuple, np.round(points, 12))) == sorted(map(tuple, np.round(want.to_numpy(), 12)))
    hollow = next(col for col in c.collections if "input layer" in col.get_label())
    assert hollow.get_facecolors().size == 0 or hollow.get_facecolors()[0][3] == 0
    assert c.get_xlabel().startswith("predicted") and c.get_ylabel() == "measured equilibrium angle (rad)"
    # (d) one line per optimizer and lambda against alpha
    assert d.get_xlabel() == "learning rate α" and len(_labelled_lines(d)) == 6
    assert "AdamW measured/predicted 1.00 [" in fig._suptitle.get_text()


def test_missing_data_gives_figures_that_say_so(no_files, tmp_path):
    runs, tel = rotation_telemetry(seeds=(0,))
    fig = load("rotation").plot(runs, None, tmp_path / "r.png", telemetry=None)
    assert "missing: telemetry of rotation" in fig._suptitle.get_text()
    fig = load("timescale").plot(runs, None, tmp_path / "t.png")
    assert "missing: timescale" in fig._suptitle.get_text()


def test_the_smoke_scales_tiny_sweeps_draw(no_files, tmp_path):
    runs = timescale_runs(seeds=(0,), sizes=(500, 1000), lambdas=(2.0**-6, 2.0**-4))
    assert load("timescale").plot(runs, None, tmp_path / "t.png") is not None
    runs, tel = rotation_telemetry(seeds=(0,), epochs=3, alphas=(2.0**-7, 2.0**-5))
    assert load("rotation").plot(runs, None, tmp_path / "r.png", telemetry=tel) is not None


def test_rotation_adapter_reads_the_aggregated_telemetry_table(no_files, tmp_path):
    runs, tel = rotation_telemetry(seeds=(0, 1))
    results.write_table(runs, tmp_path / "runs.parquet")
    results.write_table(pd.DataFrame({"x": [1]}), tmp_path / "history.parquet")
    results.write_table(tel, tmp_path / "telemetry.parquet")

    class Named(dict):
        __getattr__ = dict.__getitem__

    smk = types.SimpleNamespace(
        input=Named(runs=str(tmp_path / "runs.parquet"), history=str(tmp_path / "history.parquet"),
                    telemetry=str(tmp_path / "telemetry.parquet")),
        output=Named(png=str(tmp_path / "fig" / "rotation.png"), pdf=str(tmp_path / "fig" / "rotation.pdf")),
        params=Named(experiment="rotation", caption="", code=""), log=[])
    load("rotation").main(smk)
    [(path, title)] = no_files
    assert path == tmp_path / "fig" / "rotation.png"
    assert "2 seeds" in title and "missing" not in title
