"""The generated report: what was run, the ten findings with verdicts, and per experiment its figure, the
best settings (selected on validation error; test error as mean and 95 % interval over seeds) and a few
sentences computed from the data.

    python -m adamw_repro.analysis.report --scale quick --results results/quick --report-dir reports \
        --experiments fig1_schedules,... --out reports/report.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from adamw_repro import names, runio
from adamw_repro.analysis.claims import (
    claim_section_markdown,
    claims_table_markdown,
    evaluate_claims,
    load_thresholds,
    sensitivity,
)
from adamw_repro.analysis.results import read_tables
from adamw_repro.analysis.selection import LABELS, compare, tune
from adamw_repro.analysis.stats import proportion_ci
from adamw_repro.runconfig import CONF_DIR

ROOT = CONF_DIR.parent

# What each experiment is, which groups its table compares, and which findings rest on it (adamw_repro/names.py).
EXPERIMENTS = {e.name: (e.title, list(e.compare), list(e.findings)) for e in names.EXPERIMENTS.values()}


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


def best_settings(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: the cell chosen on validation error and its test error over seeds."""
    rows = []
    for key, group in runs.groupby(by, dropna=False, sort=True):
        chosen = tune(group, fresh=True)  # the tune stage's seeds where there are: unbiased by the choice
        if chosen.empty:
            continue
        first = chosen.iloc[0]
        test = proportion_ci(chosen["final_test_error"].astype(float).to_numpy())
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                     "alpha": first["alpha"], "weight_decay": first["weight_decay"],
                     "lambda_norm": first["lambda_norm"], "epochs": first["epochs"],
                     "val_error": chosen["final_val_error"].mean(), "test": test,
                     "seeds": chosen["seed"].nunique(), "cells": group.groupby(
                         ["alpha", "weight_decay", "lambda_norm"], dropna=False).ngroups,
                     "diverged": int((group["status"] == "diverged").sum())})
    return pd.DataFrame(rows)


def settings_table(best: pd.DataFrame, by: list[str]) -> str:
    head = [*by, "alpha", "lambda", "val error %", "test error % (95% CI)", "seeds", "cells tried"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in best.iterrows():
        lam = (f"{r['lambda_norm']:.4g} (norm.)" if pd.notna(r["lambda_norm"]) else f"{r['weight_decay']:.4g}")
        keys = [LABELS.get(str(r[c]), str(r[c])) if c == "optimizer" else
                (f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c])) for c in by]
        lines.append("| " + " | ".join([*keys, f"{r['alpha']:.4g}", lam, pct(r["val_error"]),
                                        interval(r["test"]), str(r["seeds"]), str(r["cells"])]) + " |")
    return "\n".join(lines)


def describe_best(best: pd.DataFrame, by: list[str], runs: pd.DataFrame) -> str:
    """Sentences computed from the data: best and worst group, the spread, diverged runs."""
    if best.empty:
        return "No finished runs."
    means = best["test"].map(lambda c: c[0])
    order = means.sort_values().index
    name = lambda r: ", ".join(LABELS.get(str(r[c]), str(r[c])) for c in by)  # noqa: E731
    lo, hi = best.loc[order[0]], best.loc[order[-1]]
    text = [f"Lowest tuned test error: {name(lo)} at {interval(lo['test'])} % "
            f"(alpha {lo['alpha']:.4g}, {lo['seeds']} seeds)."]
    if len(order) > 1:
        text.append(f"Highest: {name(hi)} at {pct(hi['test'][0])} %, "
                    f"{pct(hi['test'][0] - lo['test'][0])} points above.")
    diverged = int((runs["status"] == "diverged").sum())
    text.append(f"{diverged} of {len(runs)} runs diverged (kept in the tables with error 100 %)."
                if diverged else f"None of the {len(runs)} runs diverged.")
    return " ".join(text)


# Heatmap experiments: the panels whose alpha x lambda grid gets a decoupling slope.
HEATMAPS = {e.name: list(e.heatmap) for e in names.EXPERIMENTS.values() if e.heatmap}


def decoupling_table(runs: pd.DataFrame) -> str:
    """Slope of log(best lambda) against log(alpha), per heatmap panel, with its bootstrap interval over seeds
    (near -1: coupled, the basin runs along the diagonal; near 0: decoupled, axis-aligned)."""
    from adamw_repro.analysis.decoupling import decoupling_slope

    lines = ["| experiment | panel | slope [95% CI] | alphas used | best cell on the lambda grid's edge at alpha |",
             "|---|---|---|---|---|"]
    for name, by in HEATMAPS.items():
        rows = with_decay_label(runs[runs["experiment"] == name])
        for key, panel in rows.groupby(by, sort=True):
            lam_col = "lambda_norm" if "decay" in by and key[-1] == "normalized" else "weight_decay"
            if (panel[lam_col].fillna(0) > 0).sum() == 0:
                continue
            s = decoupling_slope(panel, lam_col=lam_col)
            ci = f"{s.slope:.2f} [{s.lo:.2f}, {s.hi:.2f}]" if math.isfinite(s.lo) else (
                f"{s.slope:.2f}" if math.isfinite(s.slope) else "n/a")
            label = ", ".join(LABELS.get(str(k), str(k)) for k in (key if isinstance(key, tuple) else (key,)))
            edge = ", ".join(f"{x:.3g}" for x in s.edge) or "none"
            lines.append(f"| {name} | {label} ({lam_col}) | {ci} | {s.n_alpha} | {edge} |")
    return "\n".join(lines) if len(lines) > 2 else ""


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
        by_seed = lambda d: d.set_index("seed")["final_test_error"].astype(float)  # noqa: E731
        ci, _, _ = compare(by_seed(pos), by_seed(zero))
        base = by_seed(zero)
        spread = float(base.std(ddof=1) / base.mean()) if len(base) > 1 else math.nan
        rel = f"{100 * ci.value:+.0f} %"
        rel += f" [{100 * ci.lo:+.0f}, {100 * ci.hi:+.0f}]" if math.isfinite(ci.lo) else ""
        ratio = abs(ci.value) / spread if spread > 0 else math.nan
        lines.append(f"| {model} | {LABELS.get(opt, opt)} | {group['alpha'].iloc[0]:.3g} | "
                     f"{pos['weight_decay'].iloc[0]:.3g} | {interval(proportion_ci(base))} | "
                     f"{interval(proportion_ci(by_seed(pos)))} | {rel} | {100 * spread:.1f} % | "
                     f"{ratio:.1f}x | {group['steps'].median():.0f} |")
        seconds.append(f"{model} {LABELS.get(opt, opt)} {group['wall_seconds'].mean():.1f} s")
    # Wall-clock time varies from run to run of the same commit: its own line, which report comparisons skip.
    lines += ["", "- Compute: cost per run of the pilot (wall clock, one thread): " + ", ".join(seconds) + "."]
    return "\n".join(lines)


def provenance(results: Path, runs: pd.DataFrame) -> dict:
    """Provenance of the first run (code version, libraries, device) and totals over all runs."""
    provs = [json.loads(path.read_text())["provenance"] for path in
             (results / "runs" / run_id / "metrics.json" for run_id in runs["run_id"]) if path.exists()]
    info = dict(provs[0]) if provs else {}
    info["commits"] = sorted({p.get("git_commit", "unknown") for p in provs})
    return info


def short_commit(commit: str) -> str:
    head, _, dirty = commit.partition("+")
    return head[:12] + (f"+{dirty}" if dirty else "")


def what_was_run(scale: str, runs: pd.DataFrame, prov: dict) -> str:
    seconds = runs["wall_seconds"].sum()
    compute = f"{seconds / 3600:.2f} hours" if seconds >= 3600 else f"{seconds / 60:.1f} minutes"
    first = runs.iloc[0]
    versions = ", ".join(f"{k} {prov.get(k, '?')}" for k in ("python", "torch", "numpy", "hydra"))
    report_commit = runio.git_commit()
    dirty = any("+dirty" in c for c in [*prov.get("commits", []), report_commit])
    dirty_note = " (+dirty: the work tree had uncommitted changes, so no commit holds this code)" if dirty else ""
    lines = [
        "## What was run",
        "",
        f"- Scale: **{scale}**; data {first['dataset']} ({int(first['train_size'])} training samples, "
        "validation split carved from the training pool, test split used for reporting only); "
        f"model {first['model']}; batch size {int(first['batch_size'])}.",
        f"- Runs: {len(runs)} in {runs['experiment'].nunique()} experiments "
        f"({', '.join(f'{e}: {n}' for e, n in runs['experiment'].value_counts().sort_index().items())}); "
        f"budgets {', '.join(str(int(e)) for e in sorted(runs['epochs'].unique()))} epochs; "
        f"seeds {', '.join(str(int(s)) for s in sorted(runs['seed'].unique()))}.",
        "- Selection: every choice of hyperparameters uses validation error; test error is reported. "
        "Where an experiment has a tune stage, the best grid cell (on the grid's seeds) was rerun with fresh "
        "seeds, so the reported interval is not biased by the selection.",
        f"- Compute: {compute} of training in total (summed over runs, start-up excluded); "
        f"device {prov.get('device', '?')} "
        f"({prov.get('gpu') or prov.get('cpu', '?')}, {prov.get('threads', '?')} thread(s) per run), "
        f"host {prov.get('host', '?')}, {prov.get('platform', '?')}.",
        f"- Code: runs trained at git commit(s) "
        f"{', '.join(short_commit(c) for c in prov.get('commits', [])) or 'unknown'}, this report written at "
        f"{short_commit(report_commit)}{dirty_note}; {versions}.",
        f"- Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
    ]
    return "\n".join(lines)


def identities_section(identities) -> str:
    lines = ["## The identities of docs/paper.md section 1, checked on the installed code at report time", ""]
    lines += [f"- {'holds' if r.holds else '**FAILS**'}: {r.name} ({r.detail})" for r in identities]
    return "\n".join(lines)


def lr_range_section(results: Path) -> str:
    lines = []
    for path in sorted((results / "lr_range").glob("*/range.json")):
        r = json.loads(path.read_text())
        lines.append(f"- LR range test, {LABELS.get(r['optimizer'], r['optimizer'])}: linear ramp "
                     f"{r['min']:.3g} to {r['max']:.3g} over {r['steps']} steps; suggested base_lr "
                     f"{r['base_lr']:.3g}, max_lr {r['max_lr']:.3g} (conf/experiment/clr.yaml holds the bounds used).")
    return "\n".join(lines)


def experiment_section(name: str, runs: pd.DataFrame, figures_dir: Path, report_dir: Path, claims,
                       results: Path) -> str:
    title, by, claim_numbers = EXPERIMENTS.get(name, (name, ["optimizer", "schedule"], []))
    runs = with_decay_label(runs)
    best = best_settings(runs, by)
    lines = [f"## {title}", "", f"Experiment `{name}` (conf/experiment/{name}.yaml), {len(runs)} runs.", ""]
    figure = figures_dir / f"{name}.png"
    if figure.exists():
        lines += [f"![{name}]({os.path.relpath(figure, report_dir)})", ""]
    lines += [settings_table(best, by), "", describe_best(best, by, runs)]
    linked = [c for c in claims if c.number in claim_numbers]
    if linked:
        lines.append(" ".join(f"Finding {c.number} ([details](#claim-{c.number})): **{c.verdict}** "
                              f"({c.quantity} = {c.value:.3g})." for c in linked))
    if name == "testbed":
        lines += ["", "Candidate testbeds: the best lambda > 0 (chosen on validation over three values) against "
                  "lambda = 0 on the same seeds; seed spread: standard deviation over seeds of the lambda = 0 test "
                  "error relative to its mean. The quick and smoke scales use the winner (conf/scale/).", "",
                  testbed_table(runs)]
    if name == "clr":
        range_figure = figures_dir / "clr_range.png"
        lines += ["", lr_range_section(results)]
        if range_figure.exists():
            lines += ["", f"![clr_range]({os.path.relpath(range_figure, report_dir)})"]
    return "\n".join(lines)


def read_identities(path: Path) -> list[SimpleNamespace]:
    """The identities as checked by `python -m adamw_repro.training.identities OUT` (name, holds, detail)."""
    return [SimpleNamespace(**r) for r in json.loads(Path(path).read_text())]


def build_report(scale: str, results: Path, report_dir: Path, experiments: list[str],
                 thresholds_path: Path) -> str:
    runs, history = read_tables(results)
    identities = read_identities(results / "identities.json")
    thresholds = load_thresholds(thresholds_path)
    claims = evaluate_claims(runs, history, thresholds, identities=identities)
    changes = [f"- Finding {n}: {t['changed']} Reason: {t['reason']}"
               for n, t in thresholds.items() if t.get("changed")]
    prov = provenance(results, runs)
    figures_dir = report_dir / "figures"
    n_rep = sum(c.verdict == "reproduced" for c in claims)
    parts = [
        "# Replication report: Decoupled Weight Decay Regularization (AdamW) and cyclical learning rates",
        "",
        f"Generated by `snakemake --cores all{'' if scale == 'quick' else f' --config scale={scale}'}` "
        "from the aggregated tables; do not edit by hand.",
        "",
        "## Findings at this scale",
        "",
        sensitivity_line(runs),
        "",
        f"{n_rep} of {len(claims)} findings reproduced at the {scale} scale. Verdicts compare a 95 % interval with "
        "the threshold in conf/claims.yaml: *inconclusive* means the interval is too wide to decide; "
        "*not run* means the experiment was not part of this run.",
        "",
        claims_table_markdown(claims),
        "",
        "Thresholds changed from the first version of conf/claims.yaml:" if changes else
        "No threshold in conf/claims.yaml has changed from its first version.",
        *([""] + changes if changes else []),
        "",
        what_was_run(scale, runs, prov),
        "",
        identities_section(identities),
    ]
    table = decoupling_table(runs)
    if table:
        parts += ["", "## Decoupling: does the best lambda move with alpha?", "",
                  "Slope of log(best lambda) against log(alpha) over each heatmap (best on validation error; "
                  "lambda = 0 left out; interval: bootstrap over seeds, n/a with one seed). About -1 means "
                  "coupled (the good region runs along the diagonal), about 0 decoupled (axis-aligned).", "",
                  table]
    order = list(EXPERIMENTS)
    for name in sorted(experiments, key=lambda e: order.index(e) if e in order else len(order)):
        rows = runs[runs["experiment"] == name]
        if rows.empty:
            parts += ["", f"## {EXPERIMENTS.get(name, (name,))[0]}", "", f"Experiment `{name}` was not run."]
            continue
        parts += ["", experiment_section(name, rows, figures_dir, report_dir, claims, results)]
    parts += ["", "## The findings, one by one", ""]
    parts += [claim_section_markdown(c) + "\n" for c in claims]
    parts += ["## How to regenerate", "",
              "```",
              "pip install -e '.[dev]'",
              f"snakemake --cores all{'' if scale == 'quick' else f' --config scale={scale}'}",
              "snakemake --report reports/report.html   # the figures with their captions",
              "```",
              "Runs that exist are not retrained; editing a value in conf/ retrains exactly the runs that use it."]
    return "\n".join(parts) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--report-dir", type=Path, required=True)
    parser.add_argument("--experiments", required=True)
    parser.add_argument("--thresholds", type=Path, default=ROOT / "conf" / "claims.yaml")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    text = build_report(args.scale, args.results, args.report_dir, args.experiments.split(","), args.thresholds)
    runio.write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
