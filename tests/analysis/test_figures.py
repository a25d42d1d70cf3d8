"""What each figure shows, drawn from small synthetic tables: the plotted cells and curves are the tables' seed
means, the best cells are circled, the axes say what they hold, and missing data gives a figure that says so; the
shared helpers do what they say. Most tests read the Figure a plot() returns without writing it (`no_files`);
`plotting.save` and every script's PNG and PDF are written by their own tests.

The tables are built with the schema's columns (`make_runs`, `make_history`) so a renamed column breaks here,
not in the workflow.
"""

import importlib.util
import json
import math
import re
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, QuadMesh

from adamw_repro.analysis import plotting
from adamw_repro.schema import HISTORY_COLUMNS, RUN_COLUMNS

FIGURES = Path(__file__).resolve().parents[2] / "scripts" / "figures"
ALPHAS = (2.0**-10, 2.0**-9, 2.0**-8)
LAMBDAS = (0.0, 0.001 / 8, 0.001 / 4, 0.001 / 2)


def load(name: str) -> types.ModuleType:
    """Import scripts/figures/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"figures_{name}", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _error(optimizer: str, alpha: float, lam: float, seed: int, epochs: float) -> float:
    """A smooth synthetic error surface: decoupled optimizers axis-aligned, coupled ones diagonal."""
    a = math.log2(alpha) + 9
    l = math.log2(lam / 0.001) + 2 if lam > 0 else -4.0
    bowl = a**2 + l**2 if optimizer in ("adamw", "sgdw") else (a + l) ** 2 + 0.3 * a**2
    noise = np.random.default_rng([seed, abs(hash(optimizer)) % 1000]).normal(0, 0.002)
    return float(np.clip(0.04 + 0.004 * bowl + 0.2 / epochs + noise, 0.0, 1.0))


def make_runs(
    optimizers=("adam", "adamw"),
    schedules=("cosine",),
    alphas=ALPHAS,
    lambdas=LAMBDAS,
    seeds=(0, 1),
    epochs=(3,),
    normalized=False,
    diverged=(),
    experiment="synthetic",
) -> pd.DataFrame:
    """One row per run with every RUN_COLUMNS column; `diverged` lists (optimizer, alpha, lam) cells."""
    rows = []
    for opt in optimizers:
        for sch in schedules:
            for alpha in alphas:
                for lam in lambdas:
                    for seed in seeds:
                        for ep in epochs:
                            err = _error(opt, alpha, lam, seed, ep)
                            bad = (opt, alpha, lam) in diverged
                            val, test = (1.0, 1.0) if bad else (err, err + 0.003)
                            rows.append(
                                {
                                    "run_id": f"{experiment}-{len(rows):08x}",
                                    "experiment": experiment,
                                    "scale": "smoke",
                                    "seed": seed,
                                    "optimizer": opt,
                                    "schedule": sch,
                                    "alpha": alpha,
                                    "weight_decay": np.nan if normalized else lam,
                                    "lambda_norm": lam * 200 if normalized else np.nan,
                                    "lambda_effective": lam,
                                    "epochs": ep,
                                    "batch_size": 128,
                                    "train_size": 45000,
                                    "model": "tiny",
                                    "dataset": "cifar10",
                                    "T0": 1.0 if sch == "warm_restarts" else np.nan,
                                    "T_mult": 2.0 if sch == "warm_restarts" else np.nan,
                                    "stepsize_epochs": 1.0 if sch.startswith("tri") else np.nan,
                                    "status": "diverged" if bad else "ok",
                                    "final_train_loss": np.nan if bad else 0.1 + 5 * err,
                                    "final_train_error": err / 2,
                                    "final_val_loss": 1.0,
                                    "final_val_error": val,
                                    "final_test_loss": 1.0,
                                    "final_test_error": test,
                                    "best_val_error": val,
                                    "best_epoch": ep,
                                    "test_error_at_best_val": test,
                                    "epochs_run": ep,
                                    "steps": 10 * ep,
                                    "wall_seconds": 1.0,
                                    "steps_per_second": 10.0,
                                }
                            )
    runs = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    assert list(runs.columns) == list(RUN_COLUMNS)
    return runs


def make_history(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run and epoch, errors falling towards the run's final values."""
    rows = []
    labels = [c for c in HISTORY_COLUMNS if c in RUN_COLUMNS]
    for run in runs.itertuples(index=False):
        r = run._asdict()
        for epoch in range(1, int(r["epochs"]) + 1):
            frac = epoch / r["epochs"]
            rows.append(
                {
                    **{c: r[c] for c in labels},
                    "epoch": epoch,
                    "step": 10 * epoch,
                    "lr": r["alpha"] * (0.5 + 0.5 * math.cos(math.pi * frac)) + 1e-6,
                    "train_loss": 2.0 * (1 - frac) + 0.2,
                    "train_error": 0.5 * (1 - frac) + 0.02,
                    "val_loss": 1.0,
                    "val_error": r["final_val_error"] + 0.3 * (1 - frac),
                    "test_loss": 1.0,
                    "test_error": r["final_test_error"] + 0.3 * (1 - frac),
                    "seconds": float(epoch),
                }
            )
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def full_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every optimizer and schedule any figure asks for, two budgets, raw and normalized decay."""
    parts = [
        make_runs(("adam", "adamw", "sgd", "sgdw", "adamw_torch"), ("fixed", "step", "cosine")),
        make_runs(("adamw", "sgdw", "adam"), ("warm_restarts",), alphas=ALPHAS[:2], lambdas=LAMBDAS[1:3]),
        make_runs(("adamw",), ("cosine",), epochs=(2, 4), lambdas=LAMBDAS[1:], experiment="budget"),
        make_runs(
            ("adamw",), ("cosine",), epochs=(2, 4), lambdas=LAMBDAS[1:], normalized=True, experiment="budget"
        ),
        make_runs(
            ("sgd", "adam"),
            ("triangular", "triangular2", "exp_range", "exponential", "decay_only", "plateau"),
            alphas=ALPHAS[:1],
            lambdas=LAMBDAS[1:2],
        ),
    ]
    runs = pd.concat(parts, ignore_index=True)
    runs["run_id"] = [f"r{i:05d}" for i in range(len(runs))]
    return runs, make_history(runs)


@pytest.fixture(scope="module")
def tables():
    return full_tables()


def assert_written(out_png: Path) -> None:
    assert out_png.stat().st_size > 1000
    assert out_png.with_suffix(".pdf").stat().st_size > 1000
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert not list(out_png.parent.glob("*.tmp")), "temporary files left behind"


SCRIPTS = (
    "fig1_schedules",
    "fig2_sgd_adam",
    "fig3_curves",
    "fig4_restarts",
    "figS3_budgets",
    "torch_adamw",
    "clr",
    "blog_decays",
    "testbed",
)


@pytest.fixture
def no_files(monkeypatch):
    """Figures drawn but not written (rendering a PNG and a PDF takes most of a figure test's time): the tests
    that read what a figure shows need the Figure only; test_each_figure_writes_png_and_pdf writes them."""
    monkeypatch.setattr(plotting, "save", lambda fig, out: plotting.plt.close(fig))


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_each_figure_writes_png_and_pdf(name, tables, tmp_path):
    runs, history = tables
    out = tmp_path / "sub" / f"{name}.png"
    load(name).plot(runs, history, out)
    assert_written(out)


@pytest.mark.parametrize("name", SCRIPTS)
def test_tiny_grids_and_missing_combinations_do_not_crash(name, tmp_path, no_files):
    # The smoke scale: one seed, one alpha, one lambda, two epochs, a diverged cell, and every figure missing
    # at least one of its optimizers, which its title must name.
    runs = make_runs(
        ("adamw", "sgd"),
        ("cosine", "step", "warm_restarts", "triangular", "plateau"),
        alphas=ALPHAS[:1],
        lambdas=LAMBDAS[1:2],
        seeds=(0,),
        epochs=(2,),
        diverged={("sgd", ALPHAS[0], LAMBDAS[1])},
    )
    fig = load(name).plot(runs, make_history(runs), tmp_path / f"{name}.png")
    assert "missing: " in " ".join(fig.get_suptitle().split())  # a long note may still wrap


@pytest.mark.parametrize("name", SCRIPTS)
def test_empty_tables_still_give_a_figure(name, tmp_path, no_files):
    runs = make_runs().iloc[:0]
    fig = load(name).plot(runs, make_history(runs), tmp_path / f"{name}.png")
    assert "missing" in fig.get_suptitle() or "no " in " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_log2_labels_in_the_papers_units():
    assert plotting.log2_labels(ALPHAS) == (["$2^{-10}$", "$2^{-9}$", "$2^{-8}$"], "")
    assert plotting.log2_labels(LAMBDAS) == (["0", "$2^{-3}$", "$2^{-2}$", "$2^{-1}$"], " (×0.001)")
    # "initial learning rate x 0.1": 0.1/4 .. 0.1*2
    assert plotting.log2_labels([0.025, 0.05, 0.1, 0.2]) == (
        ["$2^{-2}$", "$2^{-1}$", "$2^{0}$", "$2^{1}$"],
        " (×0.1)",
    )
    assert plotting.log2_labels([0.3, 0.7]) == (["0.3", "0.7"], "")


def test_heatmap_ticks_and_zero_row():
    fig, axes, _, _ = plotting.heatmap_figure([[("AdamW", make_runs(("adamw",)))]])
    ax = axes[0, 0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["$2^{-10}$", "$2^{-9}$", "$2^{-8}$"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "$2^{-3}$", "$2^{-2}$", "$2^{-1}$"]
    ticks = ax.get_yticks()
    assert ticks[1] - ticks[0] > ticks[2] - ticks[1], "the λ = 0 row sits apart from the positive rows"
    assert ax.get_ylabel() == "weight decay λ (×0.001)"
    assert ax.get_xlabel() == "initial learning rate α"
    plotting.plt.close(fig)


def test_colour_scale_is_shared_by_every_panel_and_resolves_the_good_region():
    low = make_runs(("adamw",))
    high = low.assign(final_test_error=low["final_test_error"] + 0.30)
    fig, _, limits, mappables = plotting.heatmap_figure([[("a", low), ("b", high)], [("c", high), None]])
    assert len(mappables) == 3
    assert all(m.get_clim() == limits for m in mappables)
    best = 100 * plotting.cell_table(low)["test_error"].min()
    worst = 100 * plotting.cell_table(high)["test_error"].max()
    assert limits == pytest.approx((best, best * 7 / 3)) and worst > limits[1]  # the paper's 3-7 %: to 7/3 of best
    bar = fig.axes[-1]
    assert bar.get_ylabel() == f"test error (%); ≥ {limits[1]:.1f} saturate"  # worse cells saturate, and it says so
    plotting.plt.close(fig)


def test_one_diverged_cell_does_not_wash_out_the_scale():
    runs = make_runs(("adamw",))
    clean = plotting.color_limits([plotting.cell_table(runs)])
    bad = make_runs(("adamw",), diverged={("adamw", ALPHAS[2], LAMBDAS[3])})
    vmin, vmax = plotting.color_limits([plotting.cell_table(bad)])
    assert vmax < 20.0 and clean[1] < 20.0
    assert vmin == pytest.approx(clean[0])


def test_best_cells_are_the_lowest_mean_validation_error():
    # Cell (a1, l1) holds the single best seed but not the best mean; test error ranks the other way round.
    def run(alpha, lam, seed, val, test):
        return {
            "alpha": alpha,
            "weight_decay": lam,
            "lambda_norm": np.nan,
            "seed": seed,
            "status": "ok",
            "final_val_error": val,
            "final_test_error": test,
        }

    runs = pd.DataFrame(
        [
            run(1.0, 1.0, 0, 0.01, 0.30),
            run(1.0, 1.0, 1, 0.50, 0.30),  # mean val 0.255
            run(1.0, 2.0, 0, 0.10, 0.90),
            run(1.0, 2.0, 1, 0.10, 0.90),  # mean val 0.10
            run(2.0, 1.0, 0, 0.20, 0.10),
            run(2.0, 1.0, 1, 0.20, 0.10),  # mean val 0.20
            run(2.0, 2.0, 0, 0.40, 0.05),
            run(2.0, 2.0, 1, 0.40, 0.05),  # mean val 0.40
        ]
    )
    best = plotting.best_cells(plotting.cell_table(runs), n=2)
    assert list(zip(best["alpha"], best["lam"], strict=True)) == [(1.0, 2.0), (2.0, 1.0)]
    assert len(plotting.best_cells(plotting.cell_table(runs), n=10)) == 4
    runs.loc[runs["alpha"].eq(1.0) & runs["weight_decay"].eq(2.0), "status"] = "diverged"
    runs.loc[runs["alpha"].eq(1.0) & runs["weight_decay"].eq(2.0), "final_val_error"] = 1.0
    assert (1.0, 2.0) not in set(
        zip(*[plotting.best_cells(plotting.cell_table(runs), n=10)[c] for c in ("alpha", "lam")], strict=True)
    )


def test_best_setting_selects_on_validation_and_keeps_all_seeds():
    runs = make_runs(("adamw",), seeds=(0, 1, 2))
    chosen = plotting.best_setting(runs, by=["optimizer", "schedule"])
    means = runs.groupby(["alpha", "weight_decay"])["final_val_error"].mean()
    assert len(chosen) == 3
    assert (chosen["alpha"].iloc[0], chosen["weight_decay"].iloc[0]) == means.idxmin()


def test_restart_epochs_follow_sgdr():
    fig4 = load("fig4_restarts")
    assert fig4.restart_epochs(100, 2, 1800) == [100, 300, 700, 1500]
    assert fig4.restart_epochs(10, 1, 35) == [10, 20, 30]
    assert fig4.restart_epochs(float("nan"), 2, 100) == []


def test_slope_with_the_real_decoupling_module():
    # The synthetic SGD+L2 surface is diagonal, AdamW's axis-aligned: the titles must say so.
    runs = make_runs(
        ("sgd", "adamw"),
        alphas=tuple(2.0**k for k in range(-11, -6)),
        lambdas=tuple(0.001 * 2.0**k for k in range(-5, 2)),
        seeds=(0, 1, 2),
    )
    panels = [[("SGD+L2", runs[runs["optimizer"] == "sgd"]), ("AdamW", runs[runs["optimizer"] == "adamw"])]]
    fig, axes, _, _ = plotting.heatmap_figure(panels, slope=True)
    sgd, adamw = (float(ax.get_title().split("slope ")[1].split()[0].rstrip(",")) for ax in axes[0])
    assert sgd < -0.5 and abs(adamw) < 0.3
    plotting.plt.close(fig)


def test_lr_range_plot(tmp_path, monkeypatch):
    for opt in ("sgd", "adam"):
        lr = np.linspace(1e-4, 0.5, 50)
        acc = np.clip(np.tanh(lr * 20) * 0.6, 0, 1)
        pd.DataFrame(
            {
                "step": np.arange(50),
                "lr": lr,
                "train_loss": 2 - acc,
                "train_accuracy": acc,
                "val_accuracy": acc * 0.95,
            }
        ).to_csv(tmp_path / f"{opt}.csv", index=False)
    (tmp_path / "sgd.json").write_text(json.dumps({"optimizer": "sgd", "base_lr": 0.02, "max_lr": 0.1}))
    saved = []
    monkeypatch.setattr(plotting, "save", lambda fig, out: saved.append(fig))
    load("clr").plot_range_test([tmp_path / "sgd.csv", tmp_path / "adam.csv"], [tmp_path / "sgd.json"],
                                tmp_path / "range.png")
    ((fig,),) = [saved]
    sgd = next(ax for ax in fig.axes if ax.get_title().startswith("SGD"))
    bounds = {ln.get_label(): ln.get_xdata()[0] for ln in sgd.lines if ln.get_label().startswith(("base", "max"))}
    assert bounds == {"base_lr = 0.02": 0.02, "max_lr = 0.1": 0.1}  # the suggested bounds, where they are
    accuracy = next(ln for ln in sgd.lines if ln.get_label() == "training accuracy")
    assert np.allclose(accuracy.get_xdata(), lr) and np.allclose(accuracy.get_ydata(), 100 * acc)  # in percent
    plotting.plt.close(fig)


def test_lr_range_plot_on_the_workflows_layout(tmp_path, monkeypatch):
    """lr_range/<optimizer>/range.csv: the optimizer is the folder, not the stem `range`."""
    clr = load("clr")
    csvs, jsons = [], []
    for opt in ("sgd", "adam"):
        folder = tmp_path / "lr_range" / opt
        folder.mkdir(parents=True)
        lr = np.linspace(1e-4, 0.5, 50)
        acc = np.clip(np.tanh(lr * 20) * 0.6, 0, 1)
        pd.DataFrame({"step": np.arange(50), "lr": lr, "train_loss": 2 - acc, "train_accuracy": acc,
                      "val_accuracy": acc * 0.95}).to_csv(folder / "range.csv", index=False)
        (folder / "range.json").write_text(json.dumps({"base_lr": 0.02, "max_lr": 0.1}))  # no "optimizer" key
        csvs.append(folder / "range.csv")
        jsons.append(folder / "range.json")
    assert [clr.range_optimizer(p) for p in csvs] == ["sgd", "adam"]
    seen = {}

    def spy(fig, out):
        seen["titles"] = [ax.get_title() for ax in fig.axes]
        seen["vlines"] = [len(ax.lines) for ax in fig.axes]
        plotting.plt.close(fig)

    monkeypatch.setattr(plotting, "save", spy)
    clr.plot_range_test(csvs, jsons, tmp_path / "clr_range.png")
    assert sorted(seen["titles"]) == ["Adam: LR range test", "SGD: LR range test"]
    assert all(n >= 3 for n in seen["vlines"])  # two accuracy curves and the suggested bounds


class _Named(list):
    """The bits of snakemake's Namedlist that the adapter uses."""

    def __init__(self, **named):
        super().__init__(named.values())
        self._named = named
        for k, v in named.items():
            setattr(self, k, v)

    def get(self, key, default=None):
        return self._named.get(key, default)

    def items(self):
        return self._named.items()


def test_snakemake_adapter_reads_parquet_and_passes_params(tmp_path, monkeypatch):
    runs = make_runs(("sgd", "sgdw", "adam", "adamw"), experiment="fig2")
    runs.to_parquet(tmp_path / "runs.parquet")
    make_history(runs).to_parquet(tmp_path / "history.parquet")
    saved = []
    monkeypatch.setattr(plotting, "save", lambda fig, out: saved.append((fig, Path(out))))
    smk = types.SimpleNamespace(
        input=_Named(runs=str(tmp_path / "runs.parquet"), history=str(tmp_path / "history.parquet")),
        output=_Named(png=str(tmp_path / "fig2.png"), pdf=str(tmp_path / "fig2.pdf")),
        params=_Named(experiment="fig2", n_best=3, caption="not an option", code="0123"),
        log=_Named(log=str(tmp_path / "fig2.log")),
    )
    load("fig2_sgd_adam").main(smk)
    ((fig, out),) = saved
    assert out == tmp_path / "fig2.png"
    rings = [c for ax in fig.axes[:4] for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(r.get_offsets()) for r in rings] == [3, 3, 3, 3]  # params.n_best reached the plot
    plotting.plt.close(fig)
    smk.output = _Named(png=str(tmp_path / "fig2.png"), pdf=str(tmp_path / "elsewhere.pdf"))
    with pytest.raises(ValueError, match="beside output.png"):
        load("fig2_sgd_adam").main(smk)


def test_save_writes_png_and_pdf_beside_it_and_no_temporary_file(tmp_path):
    fig, ax = plotting.plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    plotting.save(fig, tmp_path / "sub" / "f.png")
    assert_written(tmp_path / "sub" / "f.png")


# ------------------------------------------------------------------------------------------- what a figure shows

@pytest.fixture(scope="module")
def quick():
    """The realistic synthetic quick scale (tests/analysis/synthetic.py): grids, tune stage, curves."""
    from tests.analysis.synthetic import quick_tables

    return quick_tables()


def _meshes(ax) -> list:
    return [c for c in ax.collections if isinstance(c, QuadMesh)]


def _drawn_cells(ax, grid_alphas, grid_lams) -> dict:
    """{(alpha, lambda): value} of the colours a heatmap panel drew, read back from its meshes."""
    values = {}
    lams = list(grid_lams)
    rows = [[lams[0]], lams[1:]] if lams[0] == 0 else [lams]
    for mesh, row_lams in zip(_meshes(ax), rows, strict=True):
        array = mesh.get_array().reshape(len(row_lams), len(grid_alphas))
        for i, lam in enumerate(row_lams):
            for j, alpha in enumerate(grid_alphas):
                if not np.ma.is_masked(array[i, j]):
                    values[alpha, lam] = float(array[i, j])
    return values


def test_heatmap_cells_are_the_tables_means_over_the_grid_seeds(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("fig2_sgd_adam").plot(runs, history, tmp_path / "f.png", experiment="fig2_sgd_adam")
    sgd = runs[(runs["experiment"] == "fig2_sgd_adam") & (runs["optimizer"] == "sgd")]
    grid = sgd[sgd["seed"].isin((0, 1, 2))]
    expected = 100 * grid.groupby(["alpha", "weight_decay"])["final_test_error"].mean()
    ax = fig.axes[0]
    drawn = _drawn_cells(ax, sorted(grid["alpha"].unique()), sorted(grid["weight_decay"].unique()))
    assert drawn.keys() == set(expected.index)
    assert all(drawn[k] == pytest.approx(v) for k, v in expected.items())  # tune-stage seeds 3-7 left out
    assert "each cell the mean over its 3 grid seeds" in fig.get_suptitle()
    assert ax.get_xlabel() == "initial learning rate α" and ax.get_ylabel().startswith("weight decay λ")
    assert ax.get_title().startswith("SGD+L2\nslope ")


def test_heatmap_circles_the_best_cells_on_validation(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("fig2_sgd_adam").plot(runs, history, tmp_path / "f.png", experiment="fig2_sgd_adam", n_best=3)
    sgd = runs[(runs["experiment"] == "fig2_sgd_adam") & (runs["optimizer"] == "sgd")]
    cells = plotting.cell_table(sgd)
    best = plotting.best_cells(cells, 3)
    grid = plotting.Grid(tuple(sorted(cells["alpha"].unique())), tuple(sorted(cells["lam"].unique())))
    rings = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    assert len(rings) == 1
    marked = {tuple(p) for p in np.round(rings[0].get_offsets(), 6)}
    assert marked == {(round(grid.x(a), 6), round(grid.y(lam), 6)) for a, lam in zip(best["alpha"], best["lam"],
                                                                                      strict=True)}


def test_a_best_cell_on_an_alpha_edge_is_named_in_its_panel_title(tmp_path):
    runs = make_runs(("adamw",), alphas=(2.0**-12, 2.0**-11, 2.0**-10), seeds=(0, 1, 2))  # best alpha 2^-9: off
    fig, axes, _, _ = plotting.heatmap_figure([[("AdamW", runs)]])
    assert "best on the largest α" in axes[0, 0].get_title()
    fig, axes, _, _ = plotting.heatmap_figure([[("AdamW", make_runs(("adamw",), seeds=(0, 1)))]])
    assert "best on" not in axes[0, 0].get_title()
    plotting.plt.close("all")


def test_fig3_puts_one_quantity_on_each_axis(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("fig3_curves").plot(runs, history, tmp_path / "f.png", experiment="fig3_curves")
    by_title = {ax.get_title().split(")")[0] + ")": ax for ax in fig.axes}
    assert by_title["(c)"].get_xlabel() == "L2 coefficient λ"
    assert by_title["(d)"].get_xlabel() == "normalized weight decay λ_norm"
    adamw = runs[(runs["experiment"] == "fig3_curves") & (runs["optimizer"] == "adamw")]
    expected = 100 * adamw.groupby("lambda_norm")["final_test_error"].mean()
    line = by_title["(d)"].lines[0]
    assert list(line.get_xdata()) == pytest.approx(list(expected.index))
    assert list(line.get_ydata()) == pytest.approx(list(expected.values))
    assert "mean over 5 seeds" in fig.get_suptitle()


def test_figS3_draws_a_line_per_budget_not_a_one_column_heatmap(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("figS3_budgets").plot(runs, history, tmp_path / "f.png", experiment="figS3_budgets")
    raw, norm = fig.axes[:2]
    assert not _meshes(raw) and not _meshes(norm)
    assert raw.get_xlabel() == "raw weight decay λ" and norm.get_xlabel() == "normalized weight decay λ_norm"
    labels = [t.get_text() for t in raw.get_legend().get_texts()]
    assert labels == ["4 epochs", "16 epochs", "64 epochs"]
    sel = runs[(runs["experiment"] == "figS3_budgets") & runs["lambda_norm"].isna() & (runs["epochs"] == 64)]
    expected = 100 * sel.groupby("weight_decay")["final_test_error"].mean()
    line = [c for c in raw.containers if c.get_label() == "64 epochs"][0].lines[0]  # an errorbar's data line
    assert list(line.get_ydata()) == pytest.approx(list(expected.values))
    assert "best ∝ $T^" in raw.get_title() and "α = $2^{-5}$" in fig.get_suptitle()


def test_testbed_title_counts_the_seeds_of_one_point(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("testbed").plot(runs, history, tmp_path / "f.png", experiment="testbed")
    assert "mean over 3 seeds" in fig.get_suptitle()  # 3 per point, though 3 models share each setting


def test_fig4_marks_where_the_cosine_run_reaches_the_first_restart(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("fig4_restarts").plot(runs, history, tmp_path / "f.png", experiment="fig4_restarts")
    match = re.search(r"at epoch (\d+): ([\d.]+)x", " ".join(fig.get_suptitle().split()))
    assert match and float(match.group(2)) == pytest.approx(int(match.group(1)) / 15, abs=0.05)
    rings = fig.axes[0].collections[-1].get_offsets()
    assert rings[0][0] == int(match.group(1))


def test_clr_draws_the_target_and_the_fresh_seeds(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("clr").plot(runs, history, tmp_path / "f.png", experiment="clr")
    sgd = runs[(runs["experiment"] == "clr") & (runs["optimizer"] == "sgd")]
    base = sgd[sgd["schedule"].isin(["fixed", "exponential"])]
    seeds = plotting.best_setting(base, by=["optimizer"], fresh=True)
    assert set(seeds["seed"]) == {3, 4, 5, 6, 7}
    target = [ln for ln in fig.axes[0].lines if ln.get_label().startswith("target")][0]
    assert target.get_ydata()[0] == pytest.approx(100 * (1 - seeds["final_val_error"].mean()))
    assert "mean over 5 seeds" in fig.get_suptitle()


def _grid_means(runs: pd.DataFrame, lam_col: str = "weight_decay") -> pd.Series:
    """{(alpha, lambda): mean test error (%)} over the grid seeds 0-2 (the tune stage's fresh seeds left out)."""
    grid = runs[runs["seed"].isin((0, 1, 2))]
    return 100 * grid.groupby(["alpha", lam_col])["final_test_error"].mean()


def test_fig1_draws_each_optimizer_and_schedule_in_its_panel_on_one_colour_scale(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("fig1_schedules").plot(runs, history, tmp_path / "f.png", experiment="fig1_schedules")
    panels = fig.axes[:6]
    limits = {m.get_clim() for ax in panels for m in _meshes(ax)}
    assert len(limits) == 1  # one colour scale for all six panels
    for ax, (opt, label) in zip(panels, [(o, f"{n}, {s}") for o, n in (("adam", "Adam+L2"), ("adamw", "AdamW"))
                                          for s in ("fixed", "step-drop", "cosine")], strict=True):
        assert ax.get_title().split("\n")[0] == label
        schedule = {"step-drop": "step"}.get(label.split(", ")[1], label.split(", ")[1])
        sel = runs[(runs["experiment"] == "fig1_schedules") & (runs["optimizer"] == opt)
                   & (runs["schedule"] == schedule)]
        expected = _grid_means(sel)
        drawn = _drawn_cells(ax, sorted(sel["alpha"].unique()), sorted(sel["weight_decay"].unique()))
        assert drawn.keys() == set(expected.index), label
        assert all(drawn[k] == pytest.approx(v) for k, v in expected.items()), label
        assert ax.get_xlabel() == "initial learning rate α" and ax.get_ylabel().startswith("weight decay λ")
    assert fig.get_suptitle().startswith("Test error (%) after 15 epochs; ○ 10 best (val.)")


def test_torch_adamw_puts_the_papers_lambda_and_torchs_weight_decay_on_the_y_axes(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("torch_adamw").plot(runs, history, tmp_path / "f.png", experiment="torch_adamw")
    paper, torch_form = fig.axes[:2]
    assert paper.get_ylabel().startswith("weight decay λ")
    assert torch_form.get_ylabel().startswith("torch weight_decay (= λ/α)")
    for ax, opt in ((paper, "adamw"), (torch_form, "adamw_torch")):
        sel = runs[(runs["experiment"] == "torch_adamw") & (runs["optimizer"] == opt)]
        expected = _grid_means(sel)
        drawn = _drawn_cells(ax, sorted(sel["alpha"].unique()), sorted(sel["weight_decay"].unique()))
        assert drawn.keys() == set(expected.index) and all(drawn[k] == pytest.approx(v) for k, v in expected.items())
        rings = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(rings) == 1 and len(rings[0].get_offsets()) == 3  # n_best = 3 circled per panel
    # the synthetic torch grid is coupled (its best weight_decay falls as alpha grows), the paper's form is not
    slope = {ax: float(ax.get_title().split("slope ")[1].split()[0]) for ax in (paper, torch_form)}
    assert slope[torch_form] < -0.5 and abs(slope[paper]) < 0.3


def test_blog_decays_plots_the_best_setting_per_schedule_and_the_rate_it_used(quick, tmp_path, no_files):
    runs, history = quick
    fig = load("blog_decays").plot(runs, history, tmp_path / "f.png", experiment="blog_decays")
    top, bottom = fig.axes[:2], fig.axes[2:4]
    for ax_err, ax_lr, opt in zip(top, bottom, ("adam", "adamw"), strict=True):
        chosen = plotting.best_setting(runs[(runs["experiment"] == "blog_decays") & (runs["optimizer"] == opt)],
                                       by=["optimizer", "schedule"])
        hist = history[history["run_id"].isin(chosen["run_id"])]
        for sch, label in (("cosine", "cosine"), ("exponential", "ExponentialLR"), ("plateau", "ReduceLROnPlateau")):
            h = hist[hist["schedule"] == sch]
            err = 100 * h.dropna(subset=["test_error"]).groupby("epoch")["test_error"].mean()  # tested epochs
            (line,) = [ln for ln in ax_err.lines if ln.get_label().startswith(label + " (")]
            assert list(line.get_xdata()) == list(err.index) and np.allclose(line.get_ydata(), err.to_numpy())
            assert line.get_label() == f"{label} ({err.iloc[-1]:.2f} %)"  # the legend states the final error
            lr = h.groupby("epoch")["lr"].mean()
            assert any(np.allclose(ln.get_ydata(), lr.to_numpy()) for ln in ax_lr.lines), sch
        assert ax_err.get_ylabel() == "test error (%)" and ax_lr.get_ylabel() == "learning rate"
        assert ax_lr.get_xlabel() == "epoch"
