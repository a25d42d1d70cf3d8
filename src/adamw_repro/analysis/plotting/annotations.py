"""What a heatmap panel's title says beyond its name: the decoupling slope with its ridge, and whether the panel's
best cell lies on an edge of its grid (so a reader sees that the optimum may lie outside it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adamw_repro.analysis.decoupling import best_lambda_per_alpha, decoupling_slope
from adamw_repro.analysis.selection import grid_edges, tune

from .rows import _key


def edge_note(runs: pd.DataFrame) -> str:
    """"best on the largest α" (and/or λ) when the panel's best cell on validation lies on an edge of its grid."""
    positive = runs[runs[[c for c in ("weight_decay", "lambda_norm") if c in runs]].fillna(0).max(axis=1) > 0]
    edges = grid_edges(positive, tune(positive)) if len(positive) else []
    names = {"alpha": "α", "weight_decay": "λ", "lambda_norm": "λ_norm"}
    return "; ".join(f"best on the {e.side} {names.get(e.axis, e.axis)}" for e in edges)



def decoupling_annotation(runs: pd.DataFrame, lam_col: str) -> tuple[str, pd.DataFrame | None]:
    """The decoupling slope text for a panel title and the best-lambda ridge, from `adamw_repro.analysis.decoupling`.

    `runs` holds one row per run of one panel. Both are computed on validation error (selection never looks
    at test error); lambda = 0 takes no part (no place on a log axis). A best cell on the edge of the lambda
    grid is flagged in the text: the optimum may lie outside the grid.
    """
    table = pd.DataFrame(
        {
            "alpha": runs["alpha"].map(_key),
            lam_col: runs[lam_col].map(_key),
            "final_val_error": runs["final_val_error"].astype(float),
            "seed": runs["seed"],
        }
    )
    try:
        s = decoupling_slope(table, lam_col=lam_col, err_col="final_val_error")
        best = best_lambda_per_alpha(table, lam_col=lam_col, err_col="final_val_error")
    except ValueError:  # a grid the fit cannot use: say so rather than fail the figure
        return "slope n/a", None
    if "tied" in best:  # an alpha whose cells all tie (all diverged, say) has no best lambda
        best = best[~best["tied"].astype(bool)]
    ridge = pd.DataFrame({"alpha": best["alpha"], "best_lambda": best.get("best_lambda", best.get(lam_col))})
    if not np.isfinite(s.slope):
        text = "slope n/a (< 2 α with a best λ > 0)"
    elif np.isfinite(s.lo) and np.isfinite(s.hi):
        text = f"slope {s.slope:+.2f} [{s.lo:+.2f}, {s.hi:+.2f}], {s.n_alpha} α"
    else:
        text = f"slope {s.slope:+.2f}, {s.n_alpha} α"
    if getattr(s, "edge", ()):
        text += f"; {len(s.edge)} α at λ edge"
    return text, ridge
