"""The report's tables and computed sentences: best settings per experiment (selected on validation, test error
as mean and 95 % t-interval over seeds, clipped to [0, 100] %), grid edges with their measured neighbours, the
decoupling table, the testbed's sensitivity line and table, and the LR range test beside the bounds the CLR runs
used.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from adamw_repro import names, runio

from .decoupling import decoupling_slope
from .selection import (
    LABELS,
    by_seed,
    compare,
    describe,
    grid_edges,
    grid_seeds,
    heatmap_rows,
    lambda_column,
    tune,
)
from .stats import error_rate_ci

HEATMAPS = {e.name: list(e.heatmap) for e in names.EXPERIMENTS.values() if e.heatmap}
CLR_ARMS = ("triangular", "triangular2", "exp_range", "decay_only")
BOUND_TOLERANCE = 2.0  # the LR range test's suggestion and the bounds used agree within this factor


def pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


def interval(ci) -> str:
    mean, lo, hi = ci
    if not math.isfinite(lo):
        return f"{pct(mean)}"
    return f"{pct(mean)} [{pct(lo)}, {pct(hi)}]"


def with_decay_label(runs: pd.DataFrame) -> pd.DataFrame:
    """A `decay` column: 'none' (lambda = 0), 'raw' (weight_decay) or 'normalized' (lambda_norm)."""
    runs = runs.copy()
    norm = runs["lambda_norm"].notna()
    zero = ~norm & (runs["weight_decay"].fillna(0) == 0)
    runs["decay"] = "raw"
    runs.loc[norm, "decay"] = "normalized"
    runs.loc[zero, "decay"] = "none"
    return runs


def label(value, column: str) -> str:
    """A group's value in a table: the paper's optimizer name, numbers to 4 digits, "-" for none."""
    if column == "optimizer":
        return LABELS.get(str(value), str(value))
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def edge_flag(rows: pd.DataFrame, chosen: pd.DataFrame) -> str:
    """A short table cell: on which grid edge the tuned cell lies, and how much worse (validation error, points) the
    best cell one step inward is."""
    bits = []
    for e in grid_edges(rows, chosen):
        name = "α" if e.axis == "alpha" else "λ"
        diff = "not measured" if math.isnan(e.neighbour_error) else \
            f"{100 * (e.neighbour_error - e.error):+.2f} pts"
        bits.append(f"{e.side} {name} ({e.value:.3g}); best at {e.neighbour:.3g}: {diff}")
    return "; ".join(bits) or "-"


def best_settings(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: the cell chosen on validation error, its test error over seeds and whether it sits on an edge.
    `runs` holds one experiment: its grid seeds tell the tune stage's fresh seeds, on which the test error of a
    chosen cell (or of an arm rerun there) is read, unbiased by the choice."""
    rows = []
    seeds = grid_seeds(runs)
    for key, group in runs.groupby(by, dropna=False, sort=True):
        chosen = tune(group, fresh=True, grid=seeds)
        if chosen.empty:
            continue
        first = chosen.iloc[0]
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "alpha": first["alpha"], "weight_decay": first["weight_decay"],
                     "lambda_norm": first["lambda_norm"], "epochs": first["epochs"],
                     "val_error": chosen["final_val_error"].mean(),
                     "test": error_rate_ci(chosen["final_test_error"].astype(float).to_numpy()),
                     "seeds": chosen["seed"].nunique(), "cells": group.groupby(
                         ["alpha", "weight_decay", "lambda_norm"], dropna=False).ngroups,
                     "edge": edge_flag(group, tune(group)),
                     "diverged": int((group["status"] == "diverged").sum())})
    return pd.DataFrame(rows)


def settings_table(best: pd.DataFrame, by: list[str]) -> str:
    head = [*by, "alpha", "lambda", "val error %", "test error % (95% CI)", "seeds", "cells tried", "grid edge"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in best.iterrows():
        lam = (f"{r['lambda_norm']:.4g} (norm.)" if pd.notna(r["lambda_norm"]) else f"{r['weight_decay']:.4g}")
        keys = [label(r[c], c) for c in by]
        lines.append("| " + " | ".join([*keys, f"{r['alpha']:.4g}", lam, pct(r["val_error"]), interval(r["test"]),
                                        str(r["seeds"]), str(r["cells"]), r["edge"]]) + " |")
    return "\n".join(lines)


def describe_best(best: pd.DataFrame, by: list[str], runs: pd.DataFrame) -> str:
    """Sentences computed from the data: best and worst group, the spread, diverged runs."""
    if best.empty:
        return "No finished runs."
    means = best["test"].map(lambda c: c[0])
    order = means.sort_values().index
    name = lambda r: ", ".join(label(r[c], c) for c in by if pd.notna(r[c]))  # noqa: E731
    lo, hi = best.loc[order[0]], best.loc[order[-1]]
    text = [f"Lowest tuned test error: {name(lo)} at {interval(lo['test'])} % "
            f"(alpha {lo['alpha']:.4g}, {lo['seeds']} seeds)."]
    if len(order) > 1:
        text.append(f"Highest: {name(hi)} at {pct(hi['test'][0])} %, "
                    f"{pct(hi['test'][0] - lo['test'][0])} points above.")
    diverged = int((runs["status"] == "diverged").sum())
    text.append(f"{diverged} of {len(runs)} runs diverged (kept in the tables with error 100 %)."
                if diverged else f"None of the {len(runs)} runs diverged.")
    edges = (best["edge"] != "-").sum()
    if edges:
        text.append(f"{edges} tuned cell(s) lie on an edge of their grid (column 'grid edge': the edge and the "
                    "measured neighbour's validation error against the tuned cell's).")
    return " ".join(text)


def decoupling_table(runs: pd.DataFrame) -> str:
    """Slope of log(best lambda) against log(alpha), per heatmap panel (mean of per-seed slopes, t-interval over
    seeds), where the best lambda sits on the lambda grid's edge, and whether the panel's tuned cell sits on an
    edge of its alpha or lambda axis, with the measured neighbour."""
    lines = ["| experiment | panel | slope [95% CI] | seeds | alphas used | best λ on the λ grid's edge at α "
             "| tuned cell on a grid edge (best cell one step inward: val. error vs the tuned cell's) |",
             "|---|---|---|---|---|---|---|"]
    for name, by in HEATMAPS.items():
        rows = with_decay_label(runs[runs["experiment"] == name])
        for key, panel in rows.groupby(by, sort=True):
            lam_col = "lambda_norm" if "decay" in by and key[-1] == "normalized" else "weight_decay"
            positive = panel[panel[lam_col].fillna(0) > 0]
            if positive.empty:
                continue
            s = decoupling_slope(positive, lam_col=lam_col)
            ci = f"{s.slope:.2f} [{s.lo:.2f}, {s.hi:.2f}]" if math.isfinite(s.lo) else (
                f"{s.slope:.2f}" if math.isfinite(s.slope) else "n/a (one α)" if s.n_alpha < 2 else "n/a")
            label = ", ".join(LABELS.get(str(k), str(k)) for k in (key if isinstance(key, tuple) else (key,)))
            edge = ", ".join(f"{x:.3g}" for x in s.edge) or "none"
            lines.append(f"| {name} | {label} ({lam_col}) | {ci} | {s.n_seeds or '-'} | {s.n_alpha} | {edge} | "
                         f"{edge_flag(positive, tune(positive))} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def sensitivity(runs: pd.DataFrame) -> list[tuple[str, tuple, float, int, str]]:
    """How much tuned decay beats no decay on this testbed, for SGD+L2 and AdamW (cosine grids, fresh seeds):
    (label, relative difference err(decay)/err(none) - 1 with its interval, the seed spread (standard
    deviation over seeds of the no-decay test error relative to its mean), seeds, cells chosen)."""
    out = []
    for opt in ("sgd", "adamw"):
        _, rows = heatmap_rows(runs, opt)
        if rows.empty:
            continue
        lam = rows[lambda_column(rows)].fillna(0)
        pos, zero = tune(rows[lam > 0], fresh=True), tune(rows[lam == 0], fresh=True)
        if pos.empty or zero.empty:
            continue
        ci, n, _ = compare(by_seed(pos), by_seed(zero))
        base = by_seed(zero)
        spread = float(base.std(ddof=1) / base.mean()) if len(base) > 1 else math.nan
        out.append((LABELS[opt], ci, spread, n, f"{describe(pos)} vs {describe(zero)}"))
    return out


def sensitivity_line(runs: pd.DataFrame) -> str:
    """The report's first finding: how much tuned decay beats no decay on this testbed, against the seed spread;
    without it a reader cannot tell whether the verdicts below can mean anything."""
    found = sensitivity(runs)
    if not found:
        return ("**Testbed sensitivity:** not measured (needs the cosine grids with lambda = 0 of "
                "`fig2_sgd_adam` / `fig1_schedules`).")
    bits = []
    for label, ci, spread, n, _ in found:
        rel = f"{100 * ci.value:+.0f} %"
        if math.isfinite(ci.lo):
            rel += f" [{100 * ci.lo:+.0f}, {100 * ci.hi:+.0f}]"
        if math.isfinite(spread) and spread > 0:
            bits.append(f"{label} {rel} test error ({n} fresh seeds; seed spread {100 * spread:.1f} % of the "
                        f"error, so {abs(ci.value) / spread:.1f}x the spread)")
        else:
            bits.append(f"{label} {rel} test error ({n} fresh seed(s); no seed spread with fewer than two)")
    return ("**Testbed sensitivity:** tuned weight decay against none (each tuned on validation, relative test "
            "error): " + "; ".join(bits) + ". A gain many times the seed spread means this testbed can decide "
            "the findings below; a gain within it means it cannot.")


def testbed_table(runs: pd.DataFrame) -> str:
    """The testbed pilot: per model and optimizer, the best lambda > 0 (on validation) against lambda = 0, paired
    by seed, the seed spread and the cost of a run."""
    rows = runs[runs["experiment"] == "testbed"]
    if rows.empty:
        return ""
    lines = ["| testbed | optimizer | alpha | best lambda | test error % lambda = 0 | test error % best lambda "
             "| tuned decay vs none [95% CI] | seed spread | gain / spread | steps per run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    seconds = []
    for (model, opt), group in rows.groupby(["model", "optimizer"], sort=True):
        zero, pos = group[group["weight_decay"] == 0], tune(group[group["weight_decay"] > 0])
        if zero.empty or pos.empty:
            continue
        ci, _, _ = compare(by_seed(pos), by_seed(zero))
        base = by_seed(zero)
        spread = float(base.std(ddof=1) / base.mean()) if len(base) > 1 else math.nan
        rel = f"{100 * ci.value:+.0f} %"
        rel += f" [{100 * ci.lo:+.0f}, {100 * ci.hi:+.0f}]" if math.isfinite(ci.lo) else ""
        ratio = abs(ci.value) / spread if spread > 0 else math.nan
        lines.append(f"| {model} | {LABELS.get(opt, opt)} | {group['alpha'].iloc[0]:.3g} | "
                     f"{pos['weight_decay'].iloc[0]:.3g} | {interval(error_rate_ci(base))} | "
                     f"{interval(error_rate_ci(by_seed(pos)))} | {rel} | {100 * spread:.1f} % | "
                     f"{ratio:.1f}x | {group['steps'].median():.0f} |")
        seconds.append(f"{model} {LABELS.get(opt, opt)} {group['wall_seconds'].mean():.1f} s")
    # Wall-clock time varies from run to run of the same commit: its own line, which report comparisons skip.
    lines += ["", "- Compute: cost per run of the pilot (wall clock, one thread): " + ", ".join(seconds) + "."]
    return "\n".join(lines)


def clr_bounds(results: Path, runs: pd.DataFrame, optimizer: str) -> dict[str, tuple[float, float]]:
    """(base_lr, max_lr) each cyclic arm of `optimizer` trained with, read from a run's saved config.yaml
    (schedule.base_lr / max_lr where set, else base_fraction x optimizer.lr and optimizer.lr)."""
    out = {}
    arms = runs[(runs["experiment"] == "clr") & (runs["optimizer"] == optimizer) & runs["schedule"].isin(CLR_ARMS)]
    for sched, group in arms.groupby("schedule", sort=True):
        path = Path(results) / "runs" / group["run_id"].iloc[0] / "config.yaml"
        try:
            config = runio.load_yaml(path.read_text())
            sched_cfg, lr = config["schedule"], float(config["optimizer"]["lr"])
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            continue  # a run without its config: its bounds are not shown rather than guessed
        high = float(sched_cfg.get("max_lr") or lr)
        low = sched_cfg.get("base_lr")
        low = float(low) if low is not None else float(sched_cfg.get("base_fraction", math.nan)) * high
        out[sched] = (low, high)
    return out


def lr_range_section(results: Path, runs: pd.DataFrame) -> str:
    """The LR range test's current suggestion beside the bounds the CLR runs used, flagged beyond a factor 2."""
    lines = []
    for path in sorted((Path(results) / "lr_range").glob("*/range.json")):
        r = json.loads(path.read_text())
        opt = r.get("optimizer", path.parent.name)
        line = (f"- LR range test, {LABELS.get(opt, opt)}: linear ramp {r['min']:.3g} to {r['max']:.3g} over "
                f"{r['steps']} steps; suggested base_lr {r['base_lr']:.3g}, max_lr {r['max_lr']:.3g}.")
        used = clr_bounds(results, runs, opt)
        by_pair: dict[tuple[float, float], list[str]] = {}
        for sched, pair in used.items():
            by_pair.setdefault(pair, []).append(sched)
        for (low, high), scheds in by_pair.items():
            off = [f"{name} {mine / theirs:.2f}x the suggestion" for name, mine, theirs in
                   (("base_lr", low, r["base_lr"]), ("max_lr", high, r["max_lr"]))
                   if theirs > 0 and math.isfinite(mine)
                   and not 1 / BOUND_TOLERANCE <= mine / theirs <= BOUND_TOLERANCE]
            verdict = (f"**disagree beyond a factor {BOUND_TOLERANCE:g}: {', '.join(off)}**" if off else
                       f"within a factor {BOUND_TOLERANCE:g} of the suggestion")
            line += f" {', '.join(scheds)} used base_lr {low:.3g}, max_lr {high:.3g}: {verdict}."
        if not used:
            line += " (The bounds the CLR runs used could not be read from their config.yaml.)"
        lines.append(line)
    return "\n".join(lines)
