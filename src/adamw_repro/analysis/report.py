"""The generated report: what was run, every registered finding with its verdict, and per experiment its figure, the
best settings (selected on validation error; test error as mean and 95 % interval over seeds) and a few
sentences computed from the data.

    python -m adamw_repro.analysis.report --scale quick --results results/quick --report-dir reports \
        --experiments fig1_schedules,... --out reports/report.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from adamw_repro import names, runio
from adamw_repro.analysis import report_files
from adamw_repro.analysis.claims import (
    REGISTRY,
    claim_section_markdown,
    claims_table_markdown,
    evaluate_claims,
    load_thresholds,
)
from adamw_repro.analysis.report_tables import (  # noqa: F401  (tests read them from here)
    best_settings,
    decoupling_table,
    describe_best,
    interval,
    lr_range_section,
    pct,
    sensitivity_line,
    settings_table,
    testbed_table,
    with_decay_label,
)
from adamw_repro.analysis.results import read_tables, read_telemetry
from adamw_repro.analysis.since_paper import tau_paragraph
from adamw_repro.runconfig import CONF_DIR, experiment_names

ROOT = CONF_DIR.parent

# What each experiment is, which groups its table compares, and which findings rest on it (adamw_repro/names.py).
EXPERIMENTS = {e.name: (e.title, list(e.compare), list(e.findings)) for e in names.EXPERIMENTS.values()}

LEGEND = """How to read a verdict (criteria in conf/claims.yaml, fixed before the runs from the papers' own numbers):

- A direction the paper claims comes with the smallest effect that would count as the paper's ("< 0, reaching -0.1":
  lower, by at least 10 %; "direction only" where the paper gives no size). **reproduced**: the 95 % interval
  excludes no effect (0, or a ratio of 1) in the paper's direction and reaches the smallest effect; **not
  reproduced**: it excludes the smallest effect (it lies wholly between it and no effect, or beyond no effect: the
  data rule out an effect as large as the paper's); **inconclusive**: it holds both no effect and the smallest
  effect.
- An equivalence ("|x| < m"): reproduced when the interval lies inside the margin, not reproduced when wholly
  outside, else inconclusive. A one-sided bound ("< b", "> b"): decided when the interval lies wholly on one side.
- A finding of several parts is not reproduced if any part is, and reproduced only if every part is; its row below
  shows the part that decided it. *not run*: its experiment was not part of this run.
- Intervals: t-intervals over seeds from scipy.stats (error rates clipped to [0, 100] %; slopes fitted on each
  seed's own grid); a censored time to a target (finding 10): the sign-test interval of the median, inf where runs
  never reached it. tests/analysis/test_coverage.py simulates each at 3 and 5 seeds."""
PAPER_SETTING = ("the paper trains Shake-Shake 26 2x64d (2x96d for Figs. 3-4) on CIFAR-10 (50,000 images) for 100 "
                 "epochs or more")


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


def what_was_run(scale: str, runs: pd.DataFrame, prov: dict, sidecar: str = "") -> str:
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
        evaluation_line(runs),
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
        f"- Source: the code and configuration of commit {short_commit(runio.source_commit())} (the last commit "
        f"that changed {', '.join(runio.REPORT_SOURCES)}); a fresh clone of it writes this report.",
    ]
    if sidecar:  # the lines above that differ from run to run leave the report (split_volatile); say where
        lines.append(f"- Compute, code version and date: in {sidecar} (not tracked: they differ from run to run).")
    return "\n".join(lines)


# Lines that differ between two runs of the same code (the date, commits, wall-clock and CPU time; training is
# bitwise repeatable, its duration is not): written to the untracked sidecar, so an unchanged report is unchanged.
VOLATILE_PREFIXES = ("- Generated ", "- Code: ", "- Compute: ")


def split_volatile(text: str) -> tuple[str, list[str]]:
    """(the report without its volatile lines, those lines)."""
    lines = text.splitlines(keepends=True)
    volatile = [line.rstrip("\n") for line in lines if line.startswith(VOLATILE_PREFIXES)]
    return "".join(line for line in lines if not line.startswith(VOLATILE_PREFIXES)), volatile


EVAL_BN_WORDS = {
    "recomputed": "BatchNorm statistics re-estimated from training data before every evaluation",
    "running": "BatchNorm's running averages (which lag the weights at a high learning rate)",
    "none": "no BatchNorm in the model",
}


def evaluation_line(runs: pd.DataFrame) -> str:
    """Which BatchNorm statistics the evaluations used (the history's and metrics' `eval_bn`), per run."""
    if "eval_bn" in runs and runs["eval_bn"].notna().any():
        counts = runs["eval_bn"].fillna("not recorded").value_counts()
    else:
        counts = pd.Series({"not recorded": len(runs)})
    bits = [f"{EVAL_BN_WORDS.get(str(k), str(k))} ({n} of {len(runs)} runs)" for k, n in counts.items()]
    return "- Evaluation: " + "; ".join(bits) + "."


def with_eval_bn(runs: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """runs with an `eval_bn` column: the run's own, else the one its history rows agree on (or 'mixed')."""
    if "eval_bn" in runs and runs["eval_bn"].notna().all():
        return runs
    if "eval_bn" not in history:
        return runs
    per_run = history.dropna(subset=["eval_bn"]).groupby("run_id")["eval_bn"].agg(
        lambda v: v.iloc[0] if v.nunique() == 1 else "mixed")
    return runs.assign(eval_bn=runs["run_id"].map(per_run))


def changes_section(thresholds: dict) -> list[str]:
    """Every `changed:` line of conf/claims.yaml, with its finding's reason."""
    lines = [f"- Finding {n}: {line} (Reason: {t['reason']})" for n, t in thresholds.items() for line in t["changed"]]
    if not lines:
        return ["No threshold in conf/claims.yaml has changed from its first version."]
    return ["Thresholds and rules changed from earlier versions of conf/claims.yaml (each with the paper's reason):",
            "", *lines]


def testbed_words(runs: pd.DataFrame, experiment: str) -> str:
    """This scale's setting in a few words, for the sentence on what differs from the paper's."""
    rows = runs[runs["experiment"] == experiment]
    rows = rows if not rows.empty else runs
    if rows.empty:
        return ""
    first = rows.iloc[0]
    epochs = sorted({int(e) for e in rows["epochs"]})
    span = f"{epochs[0]}" if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"
    return (f"This scale trains {first['model']} on {first['dataset']} ({int(first['train_size'])} training "
            f"samples) for {span} epochs; {PAPER_SETTING}.")


def identities_section(identities) -> str:
    lines = ["## The identities of docs/paper.md section 1, checked on the installed code at report time", ""]
    lines += [f"- {'holds' if r.holds else '**FAILS**'}: {r.name} ({r.detail})" for r in identities]
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
        lines += ["", lr_range_section(results, runs)]
        if range_figure.exists():
            lines += ["", f"![clr_range]({os.path.relpath(range_figure, report_dir)})"]
    return "\n".join(lines)


def read_identities(path: Path) -> list[SimpleNamespace]:
    """The identities as checked by `python -m adamw_repro.training.identities OUT` (name, holds, detail)."""
    return [SimpleNamespace(**r) for r in json.loads(Path(path).read_text())]


def build_report(scale: str, results: Path, report_dir: Path, experiments: list[str],
                 thresholds_path: Path, note: str = "", sidecar: str = "") -> str:
    runs, history = read_tables(results)
    telemetry = read_telemetry(results)
    runs = with_eval_bn(runs, history)
    identities = read_identities(results / "identities.json")
    thresholds = load_thresholds(thresholds_path)
    claims = evaluate_claims(runs, history, thresholds, identities=identities, telemetry=telemetry)
    prov = provenance(results, runs)
    figures_dir = report_dir / "figures"
    n_rep = sum(c.verdict == "reproduced" for c in claims)
    n_not = sum(c.verdict == "not reproduced" for c in claims)
    parts = [
        "# Replication report: Decoupled Weight Decay Regularization (AdamW) and cyclical learning rates",
        "",
        *([note, ""] if note else []),
        f"Generated by `snakemake --cores all{'' if scale == 'quick' else f' --config scale={scale}'}` "
        "from the aggregated tables; do not edit by hand.",
        "",
        "## Findings at this scale",
        "",
        sensitivity_line(runs),
        "",
        f"{n_rep} of {len(claims)} findings reproduced at the {scale} scale, {n_not} not reproduced.",
        "",
        LEGEND,
        "",
        claims_table_markdown(claims),
        "",
        *changes_section(thresholds),
        "",
        what_was_run(scale, runs, prov, sidecar),
        "",
        identities_section(identities),
    ]
    table = decoupling_table(runs)
    if table:
        parts += ["", "## Decoupling: does the best lambda move with alpha?", "",
                  "Slope of log(best lambda) against log(alpha) over each heatmap (best on validation error over the "
                  "grid seeds; lambda = 0 left out), fitted on each seed's own grid: the mean of the per-seed slopes "
                  "with its t-interval over seeds (n/a with one seed). About -1 means coupled (the good region runs "
                  "along the diagonal), about 0 decoupled (axis-aligned). The last column flags a panel whose tuned "
                  "cell lies on the smallest or largest alpha or lambda of its grid, with the best measured cell one "
                  "step inward on that axis (its validation error minus the tuned cell's): a cell only a little worse "
                  "there means the optimum may continue beyond the edge, so extending the grid could matter.", "",
                  table]
    tau = tau_paragraph(runs, history, telemetry=telemetry)
    if tau:
        parts += ["", "## Weight decay as a timescale: the paper's findings and the later ones side by side", "", tau]
    order = list(EXPERIMENTS)
    for name in sorted(experiments, key=lambda e: order.index(e) if e in order else len(order)):
        rows = runs[runs["experiment"] == name]
        if rows.empty:
            parts += ["", f"## {EXPERIMENTS.get(name, (name,))[0]}", "", f"Experiment `{name}` was not run."]
            continue
        parts += ["", experiment_section(name, rows, figures_dir, report_dir, claims, results)]
    parts += ["", "## The findings, one by one", ""]
    for c in claims:
        spec = REGISTRY[c.number]
        differs = f"{testbed_words(runs, spec.experiment)} {spec.differs}".strip() if spec.differs else ""
        parts.append(claim_section_markdown(c, differs) + "\n")
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
    parser.add_argument("--partial-of", default="", help="a subset's report: the full report it is not, named in "
                        "its first line (its experiments are compared with conf/experiment/)")
    parser.add_argument("--publish", type=Path, help="copy report.md and figures/ here (reports/...) if changed")
    args = parser.parse_args(argv)
    selected = args.experiments.split(",")
    note = ""
    if args.partial_of:
        available = experiment_names(ROOT / "conf")
        note = report_files.partial_note(selected, available, args.scale, args.partial_of)
    sidecar = args.out.parent / report_files.RUN_SIDECAR
    text = build_report(args.scale, args.results, args.report_dir, selected, args.thresholds, note, str(sidecar))
    stable, volatile = split_volatile(text)
    runio.write_text(sidecar, f"# Run record of {args.out}\n\n" + "\n".join(volatile) + "\n")
    runio.write_text(args.out, stable)
    print(f"wrote {args.out} and {sidecar}")
    if args.publish:
        for path in report_files.publish(args.out.parent, args.publish):
            print(f"updated {path}")


if __name__ == "__main__":
    main()
