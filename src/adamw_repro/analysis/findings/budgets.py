"""Finding 8, read off Supp. Fig. 3's budgets (figS3_budgets): the best raw lambda falls as the budget grows, the
best lambda_norm stays put."""

from __future__ import annotations

from ..criteria import Effect, Margin
from ..decoupling import ridge_slope
from ..registry import Tables, Thresholds, finding
from ..selection import describe, edge_text, rows_of, tune
from ..stats import CI
from ..verdicts import ClaimResult, not_run, result


@finding(8, {"raw": Effect("<"), "normalized": Margin()}, differs="""
    The budgets here are short and the shortest may not converge, so its best lambda reflects under-training as
    much as regularization; the paper's budgets (25 to 400 epochs of Shake-Shake on CIFAR-10) all train to
    convergence.""")
def judge_budgets(data: Tables, t: Thresholds) -> ClaimResult:
    """Slope of log(best raw lambda) vs log(epochs) and of log(best lambda_norm) vs log(epochs), per seed."""
    exp = "figS3_budgets"
    rows = rows_of(data.runs, exp, optimizer="adamw")
    if rows.empty:
        return not_run(8, exp, f"No AdamW runs of `{exp}`.")
    parts, notes = [], []
    for name, subset, lam, thr in (("raw", rows[rows["lambda_norm"].isna()], "weight_decay", t["raw"]),
                                   ("normalized", rows[rows["lambda_norm"].notna()], "lambda_norm", t["normalized"])):
        quantity = f"slope of log(best {lam}) vs log(epochs), best over alpha x {lam} per budget"
        if subset["epochs"].nunique() < 2:
            parts.append(thr.missing(name, quantity, f"needs {lam} runs at two budgets or more"))
            continue
        s = ridge_slope(subset, x_col="epochs", lam_col=lam, other_cols=("alpha",))
        parts.append(thr.part(name, quantity, CI(s.slope, s.lo, s.hi), s.n_seeds,
                              "t over per-seed slopes (each seed's own grid)"))
        best = [f"{int(e)} epochs: {describe(tune(g))}" for e, g in subset.groupby("epochs", sort=True)]
        notes.append(f"{name}: " + "; ".join(best) + f" (slope of the seed means: {s.pooled:.3g})")
        notes += [edge_text(g, tune(g), f"{name}, {int(e)} epochs") for e, g in subset.groupby("epochs", sort=True)]
    notes.append("The paper: the best raw lambda scales about as 1/sqrt(T) (slope -0.5); lambda_norm stays put.")
    return result(8, exp, parts, notes)
