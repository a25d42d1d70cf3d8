"""The command line of adamw_repro.units: `python -m adamw_repro.units --optimizer adamw_torch --lr 0.001
--weight-decay 0.01 --batch-size 128 --train-size 50000 --epochs 100` prints the setting in every unit."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict

from adamw_repro import names
from adamw_repro.units import (
    GIVEN,
    L2_ADAPTIVE,
    L2_MOMENTUM,
    PAPER,
    SGD_MOMENTUM,
    TIMES_LR,
    Units,
    convert,
    decay_form,
    needs,
    undefined_reason,
)

# ------------------------------------------------------------------------------------------ command line
_OPTION = {"alpha": "--lr", "batch_size": "--batch-size", "train_size": "--train-size", "epochs": "--epochs"}
_WEIGHT_DECAY_IS = {PAPER: "optimizer.weight_decay, the paper's lambda",
                    TIMES_LR: "torch.optim.AdamW(weight_decay=...): lambda/alpha",
                    L2_MOMENTUM: "L2 coefficient lambda' (torch.optim.SGD)",
                    L2_ADAPTIVE: "L2 coefficient lambda' (torch.optim.Adam)"}
_LAMBDA_IS = {PAPER: "the paper's lambda: shrink per step eta_t*lambda", TIMES_LR: "the paper's lambda: alpha*wd",
              L2_MOMENTUM: "effective: alpha*lambda'/(1-m), SGDW's lambda at a constant rate"}


def format_units(u: Units) -> str:
    """The text the command line prints: one row per unit, its value and what it is."""
    form = decay_form(u.optimizer)
    rows = [("weight_decay", u.weight_decay, _WEIGHT_DECAY_IS[form]),
            ("lambda_norm", u.lambda_norm, "optimizer.lambda_norm: weight_decay = lambda_norm*sqrt(b/(B*T))"),
            ("lambda", u.lam, _LAMBDA_IS.get(form, ""))]
    if form != PAPER:
        rows.append(("lambda_norm (paper)", u.lambda_norm_paper, "lambda = lambda_norm*sqrt(b/(B*T))"))
    rows += [("decay per step", u.decay_per_step, f"eta*lambda at eta = {u.eta:g}"),
             ("tau_iter", u.tau_iter, "steps: 1/(eta*lambda)"),
             ("tau_epoch", u.tau_epoch, f"epochs: tau_iter/{u.steps_per_epoch} steps per epoch (ceil(B/b))")]
    setting = ", ".join(f"{k} = {v:g}" for k, v in (("alpha", u.alpha), ("b", u.batch_size), ("B", u.train_size),
                                                      ("T", u.epochs), ("m", u.momentum if form == L2_MOMENTUM
                                                                        else None)) if v is not None)
    lines = [f"{names.optimizer(u.optimizer).label} (--optimizer {u.optimizer})" + (f": {setting}" if setting
                                                                                    else "")]
    for label, value, meaning in rows:
        if value is None:
            budget = {"batch_size": u.batch_size, "train_size": u.train_size}
            budget |= {"epochs": u.epochs} if label.startswith("lambda_norm") else {}
            text, meaning = ("not defined", "see below") if u.undefined and label not in (
                "weight_decay", "lambda_norm") else ("-", "needs " + ", ".join(_OPTION[k] for k, v in
                                                                                budget.items() if v is None))
        else:
            text = f"{value:.6g}"
        lines.append(f"  {label:<20} {text:<12} {meaning}")
    if u.undefined:
        lines.append(f"not defined: {u.undefined}")
    return "\n".join(lines)


class _UsageError(Exception):
    """Bad command-line input: main prints it as one `error:` line and exits 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own messages name the option; one line instead of usage + line
        raise _UsageError(message)


def _number(low: float, *, inclusive: bool, what: str, integer: bool = False, below_one: bool = False,
            infinite: bool = False):
    """An argparse type: a number above `low` (or at it when inclusive), below 1 if asked, inf only if allowed
    (an infinite timescale is no decay)."""
    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        ok = (value >= low if inclusive else value > low) and (value < 1 or not below_one) \
            and (math.isfinite(value) or infinite)
        if not ok:  # NaN fails every comparison
            bound = f"in [{low:g}, 1)" if below_one else f"{'>=' if inclusive else '>'} {low:g}"
            kind = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: {kind} {bound} ({what})")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m adamw_repro.units",
                description="Convert a weight decay setting given in one unit into all the others (docs/paper.md "
                            "section 5). Example: --optimizer adamw_torch --lr 0.001 --weight-decay 0.01 "
                            "--batch-size 128 --train-size 50000 --epochs 100")
    p.add_argument("--optimizer", required=True, choices=list(names.OPTIMIZERS))
    p.add_argument("--lr", dest="alpha", metavar="ALPHA", type=_number(0, inclusive=False, what="alpha"),
                   help="alpha, the base learning rate (needed by adamw_torch and sgd)")
    given = p.add_mutually_exclusive_group(required=True)
    decay = _number(0, inclusive=True, what="a decay coefficient")
    tau = {"inclusive": False, "infinite": True}  # inf: no decay
    for unit, kind, text in (
            ("weight_decay", decay, "the optimizer's own weight_decay argument (optimizer.weight_decay)"),
            ("lambda_norm", decay, "optimizer.lambda_norm: weight_decay = lambda_norm*sqrt(b/(B*T))"),
            ("lambda", decay, "the paper's lambda: the weights shrink by eta_t*lambda per step"),
            ("decay_per_step", _number(0, inclusive=True, below_one=True, what="eta*lambda"), "eta*lambda"),
            ("tau_iter", _number(1, **tau, what="steps"), "EMA timescale in steps: 1/(eta*lambda)"),
            ("tau_epoch", _number(0, **tau, what="epochs"), "EMA timescale in epochs: tau_iter/ceil(B/b)")):
        given.add_argument("--" + unit.replace("_", "-"), dest=unit, metavar="X", type=kind, help=text)
    size = {"inclusive": True, "integer": True}
    p.add_argument("--batch-size", metavar="b", type=_number(1, **size, what="b"), help="b, the batch size")
    p.add_argument("--train-size", metavar="B", type=_number(1, **size, what="B"), help="B, training points")
    p.add_argument("--epochs", metavar="T", type=_number(0, inclusive=False, what="T"),
                   help="T of lambda_norm: the run's epochs, or its restart period's under warm restarts")
    p.add_argument("--eta", type=_number(0, inclusive=False, what="eta"), default=1.0,
                   help="schedule multiplier eta (default 1, the peak rate)")
    p.add_argument("--momentum", metavar="m", type=_number(0, inclusive=True, below_one=True, what="m"),
                   default=SGD_MOMENTUM, help=f"SGD's momentum m (default {SGD_MOMENTUM}, conf/optimizer/sgd.yaml)")
    p.add_argument("--json", action="store_true", help="print the units as one JSON object")
    return p


def _units_from_args(args: argparse.Namespace) -> Units:
    given = next(g for g in GIVEN if getattr(args, g) is not None)
    value = getattr(args, given)
    option = f"--{given.replace('_', '-')}={value:g}"
    missing = [_OPTION[n] for n in needs(args.optimizer, given) if getattr(args, n) is None]
    if missing:
        raise _UsageError(f"{option} with --optimizer {args.optimizer} needs {', '.join(missing)}; allowed: add "
                          f"{', '.join(missing)}")
    why = undefined_reason(args.optimizer)
    if why is not None and given not in ("weight_decay", "lambda_norm"):
        raise _UsageError(f"{option} is not defined for --optimizer {args.optimizer}: {why}; allowed with "
                          f"{args.optimizer}: --weight-decay or --lambda-norm")
    u = convert(args.optimizer, given, value, alpha=args.alpha, batch_size=args.batch_size,
                train_size=args.train_size, epochs=args.epochs, eta=args.eta, momentum=args.momentum)
    if u.decay_per_step is not None and u.decay_per_step >= 1:
        raise _UsageError(f"{option} with --optimizer {args.optimizer} gives a per-step decay eta*lambda = "
                          f"{u.decay_per_step:g}: each step would zero or flip the weights; allowed: a setting "
                          "whose per-step decay is below 1")
    return u


def main(argv: list[str] | None = None) -> int:
    """`python -m adamw_repro.units ...`: print a setting in every unit; bad input: one `error:` line, exit 2."""
    try:
        args = _parser().parse_args(argv)
        u = _units_from_args(args)
    except _UsageError as err:
        print(f"error: {err} (python -m adamw_repro.units --help)", file=sys.stderr)
        return 2
    print(json.dumps(asdict(u)) if args.json else format_units(u))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
