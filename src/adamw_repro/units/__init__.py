"""Weight decay in every unit: the paper's lambda, an optimizer's `weight_decay`, lambda_norm, the per-step decay
and the EMA timescale tau, for each optimizer of adamw_repro/names.py (docs/paper.md section 5).

Notation of the paper: alpha is the base learning rate, eta_t the schedule multiplier (the rate is alpha*eta_t),
lambda the decoupled weight decay; b the batch size, B the number of training points, T the epochs (of the current
restart period under warm restarts). The formulas:

- the paper's AdamW and SGDW shrink the weights by (1 - eta_t*lambda) per step: their `weight_decay` IS lambda;
- torch.optim.AdamW (and optax) shrink them by lr_t*wd = alpha*eta_t*wd: lambda = alpha*wd, wd = lambda/alpha;
- SGD+L2 with momentum m at a constant rate acts like lambda = alpha*lambda'/(1 - m) (see `lambda_from_weight_decay`);
- Adam+L2 has no rate-independent decoupled form (see `undefined_reason`): None, never a made-up number;
- lambda_norm: weight_decay = lambda_norm*sqrt(b/(B*T)) ([LH19] Appendix B.1), applied, as training applies
  `optimizer.lambda_norm`, to the optimizer's own `weight_decay` argument;
- per-step decay eta*lambda; EMA timescale tau_iter = 1/(eta*lambda) steps, tau_epoch = tau_iter/ceil(B/b) epochs,
  at the peak rate eta = 1 unless given.

A leaf module: plain Python and numpy, importable by every layer. `python -m adamw_repro.units --help` (units/cli.py)
converts a setting given in any unit into the others.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from adamw_repro import names

SGD_MOMENTUM = 0.9  # conf/optimizer/sgd.yaml
GIVEN = ("weight_decay", "lambda_norm", "lambda", "decay_per_step", "tau_iter", "tau_epoch")  # units one can give

# How an optimizer's `weight_decay` argument turns into the paper's lambda, read off its row of names.py.
PAPER, TIMES_LR, L2_MOMENTUM, L2_ADAPTIVE = "paper", "times_lr", "l2_momentum", "l2_adaptive"


def decay_form(optimizer: str) -> str:
    """PAPER (weight_decay = lambda), TIMES_LR (torch's decoupled form, lambda = alpha*wd), L2_MOMENTUM (SGD+L2)
    or L2_ADAPTIVE (Adam+L2): from the registry row's decay form and family (adamw_repro/names.py)."""
    row = names.optimizer(optimizer)
    if row.decay == "schedule":
        return PAPER
    if row.decay == "lr":
        return TIMES_LR
    return L2_MOMENTUM if row.family == "sgd" else L2_ADAPTIVE


def undefined_reason(optimizer: str) -> str | None:
    """Why an optimizer has no lambda / per-step decay / tau independent of the gradients, or None if it has."""
    if decay_form(optimizer) != L2_ADAPTIVE:
        return None
    return (f"{names.optimizer(optimizer).label} has no rate-independent decoupled equivalent: its L2 term "
            "lambda'*theta is added to the gradient and then divided by sqrt(v_hat) with it, so how much a weight "
            "shrinks per step depends on that weight's gradient history, not on alpha, eta and lambda' alone")


# ----------------------------------------------------------------------------------------------- the budget
def steps_per_epoch(batch_size: int, train_size: int) -> int:
    """ceil(B/b): the training loop's last batch of an epoch may be short."""
    _positive(batch_size=batch_size, train_size=train_size)
    return math.ceil(train_size / batch_size)


def normalizer(batch_size: int, train_size: int, epochs: float) -> float:
    """sqrt(b/(B*T)), the factor of normalized weight decay: weight_decay = lambda_norm * normalizer."""
    _positive(batch_size=batch_size, train_size=train_size, epochs=epochs)
    return math.sqrt(batch_size / (train_size * epochs))


def weight_decay_from_lambda_norm(lambda_norm: float, *, batch_size: int, train_size: int, epochs: float) -> float:
    """lambda_norm*sqrt(b/(B*T)): the optimizer's weight_decay, exactly as training applies optimizer.lambda_norm
    (T = epochs of the current restart period under warm restarts)."""
    return lambda_norm * normalizer(batch_size, train_size, epochs)


def lambda_norm_from_weight_decay(weight_decay: float, *, batch_size: int, train_size: int, epochs: float) -> float:
    """weight_decay/sqrt(b/(B*T)), the inverse of `weight_decay_from_lambda_norm`."""
    return weight_decay / normalizer(batch_size, train_size, epochs)


# ------------------------------------------------------------------ an optimizer's weight_decay <-> lambda
def lambda_from_weight_decay(optimizer: str, alpha: float | None, weight_decay: float, *,
                             momentum: float = SGD_MOMENTUM) -> float | None:
    """The paper's lambda (per-step shrink eta_t*lambda) that the optimizer's `weight_decay` amounts to.

    adamw, sgdw: lambda = weight_decay. adamw_torch: lambda = alpha*weight_decay, exactly, under any schedule (it
    shrinks by lr_t*wd = alpha*eta_t*wd). sgd (SGD+L2, momentum m, torch's form buf = m*buf + g; theta -= lr*buf):
    lambda = alpha*lambda'/(1 - m) with lambda' = weight_decay, because the L2 term lambda'*theta enters the
    momentum buffer with the gradient and the buffer's steady-state gain is 1 + m + m^2 + ... = 1/(1 - m), so each
    step removes alpha*eta*lambda'/(1 - m)*theta while theta changes little over the buffer's memory of about
    1/(1 - m) steps; exact for m = 0 ([LH19] Proposition 1), to first order in
    alpha*lambda' at a constant rate otherwise, approximate under a schedule. adam: None (`undefined_reason`).
    """
    form = decay_form(optimizer)
    if form == PAPER:
        return weight_decay
    if form == L2_ADAPTIVE:
        return None
    _positive(alpha=alpha)
    if form == TIMES_LR:
        return alpha * weight_decay
    _check_momentum(momentum)
    return alpha * weight_decay / (1.0 - momentum)


def weight_decay_from_lambda(optimizer: str, alpha: float | None, lam: float, *,
                             momentum: float = SGD_MOMENTUM) -> float | None:
    """The optimizer's `weight_decay` that gives the paper's lambda: the inverse of `lambda_from_weight_decay`
    (adamw_torch: lambda/alpha; sgd: lambda*(1 - m)/alpha); None for adam."""
    form = decay_form(optimizer)
    if form == PAPER:
        return lam
    if form == L2_ADAPTIVE:
        return None
    _positive(alpha=alpha)
    if form == TIMES_LR:
        return lam / alpha
    _check_momentum(momentum)
    return lam * (1.0 - momentum) / alpha


def tau_iter_from_lambda(lam: float, eta: float = 1.0) -> float:
    """1/(eta*lambda) steps: the weights are an exponential moving average of their updates with this timescale
    (to first order: the exact e-folding time -1/ln(1 - eta*lambda) is shorter by about eta*lambda/2, relative);
    infinite without decay."""
    decay = eta * lam
    return math.inf if decay == 0 else 1.0 / decay


def lambda_from_tau_iter(tau_iter: float, eta: float = 1.0) -> float:
    """The lambda whose timescale at multiplier eta is tau_iter steps: 1/(eta*tau_iter); 0 for an infinite tau."""
    return 0.0 if math.isinf(tau_iter) else 1.0 / (eta * tau_iter)


# ------------------------------------------------------ the report's helpers: scalars, arrays or pandas columns
def _is_column(value) -> bool:
    return value is not None and not isinstance(value, str | bytes) and np.ndim(value) > 0


def _elementwise(fn):
    """Let a function of scalars also take numpy arrays or pandas columns (broadcast together): element by element,
    undefined (None) becomes NaN, and a pandas input's index is kept (without importing pandas)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        values = [*args, *kwargs.values()]
        if not any(_is_column(v) for v in values):
            return fn(*args, **kwargs)
        rows = np.broadcast(*[np.asarray(v, dtype=object) if _is_column(v) else np.array(v, dtype=object)
                              for v in values])
        out = np.empty(rows.shape, dtype=float)
        for i, row in enumerate(rows):
            result = fn(*row[:len(args)], **dict(zip(kwargs, row[len(args):], strict=True)))
            out.flat[i] = np.nan if result is None else result
        series = next((v for v in values if _is_column(v) and hasattr(v, "index")), None)
        return out if series is None else type(series)(out, index=series.index)
    return wrapper


def _given(value) -> bool:
    """Set: neither None nor NaN (a runs table holds NaN in the decay column a run did not set)."""
    return value is not None and not (isinstance(value, numbers.Real) and math.isnan(value))


def _weight_decay(weight_decay, lambda_norm, batch_size, train_size, epochs, period_epochs) -> float:
    """The optimizer's weight_decay from a row that sets weight_decay or lambda_norm (the other None/NaN)."""
    if _given(weight_decay) and _given(lambda_norm):
        raise ValueError(f"weight_decay={weight_decay} and lambda_norm={lambda_norm} are both set; give one")
    if _given(lambda_norm):
        T = period_epochs if _given(period_epochs) else epochs  # noqa: N806 (the paper's T)
        if not _given(T):
            raise ValueError("lambda_norm needs epochs (or period_epochs): lambda = lambda_norm*sqrt(b/(B*T))")
        return weight_decay_from_lambda_norm(lambda_norm, batch_size=batch_size, train_size=train_size, epochs=T)
    return float(weight_decay) if _given(weight_decay) else 0.0


@_elementwise
def paper_lambda(optimizer: str, alpha: float, weight_decay: float | None = None, lambda_norm: float | None = None,
                 *, batch_size: int | None = None, train_size: int | None = None, epochs: float | None = None,
                 momentum: float = SGD_MOMENTUM, period_epochs: float | None = None) -> float | None:
    """The paper's lambda of a run (its optimizer, alpha, and weight_decay or lambda_norm as in the runs table);
    None (NaN in a column) for Adam+L2. The budget is needed only with lambda_norm."""
    wd = _weight_decay(weight_decay, lambda_norm, batch_size, train_size, epochs, period_epochs)
    return lambda_from_weight_decay(optimizer, alpha, wd, momentum=momentum)


@_elementwise
def decay_per_step(optimizer: str, alpha: float, weight_decay: float | None = None,
                   lambda_norm: float | None = None, *, batch_size: int | None = None, train_size: int | None = None,
                   epochs: float | None = None, momentum: float = SGD_MOMENTUM, period_epochs: float | None = None,
                   eta: float = 1.0) -> float | None:
    """eta*lambda, the fraction the weights shrink by per step (at the peak rate eta = 1 unless given)."""
    lam = paper_lambda(optimizer, alpha, weight_decay, lambda_norm, batch_size=batch_size, train_size=train_size,
                       epochs=epochs, momentum=momentum, period_epochs=period_epochs)
    return None if lam is None else eta * lam


@_elementwise
def tau_epoch(optimizer: str, alpha: float, weight_decay: float | None = None, lambda_norm: float | None = None,
              *, batch_size: int, train_size: int, epochs: float | None = None, momentum: float = SGD_MOMENTUM,
              period_epochs: float | None = None, eta: float = 1.0) -> float | None:
    """tau_epoch = tau_iter/ceil(B/b): the EMA timescale in epochs at the peak rate (inf without decay, None/NaN
    for Adam+L2). E.g. `runs["tau_epoch"] = tau_epoch(runs.optimizer, runs.alpha, runs.weight_decay,
    runs.lambda_norm, batch_size=runs.batch_size, train_size=runs.train_size, epochs=runs.epochs)`."""
    decay = decay_per_step(optimizer, alpha, weight_decay, lambda_norm, batch_size=batch_size, train_size=train_size,
                           epochs=epochs, momentum=momentum, period_epochs=period_epochs, eta=eta)
    return None if decay is None else tau_iter_from_lambda(decay) / steps_per_epoch(batch_size, train_size)


# ------------------------------------------------------------------------------------ every unit at once
@dataclass(frozen=True)
class Units:
    """One setting in every unit; None where a unit is undefined (see `undefined`) or its budget was not given."""
    optimizer: str
    alpha: float | None
    eta: float
    momentum: float
    batch_size: int | None
    train_size: int | None
    epochs: float | None             # T of lambda_norm: the run's epochs, or the restart period's
    steps_per_epoch: int | None
    weight_decay: float              # the optimizer's own argument (optimizer.weight_decay)
    lambda_norm: float | None        # optimizer.lambda_norm: weight_decay = lambda_norm*sqrt(b/(B*T))
    lam: float | None                # the paper's lambda
    lambda_norm_paper: float | None  # lambda = lambda_norm_paper*sqrt(b/(B*T))
    decay_per_step: float | None     # eta*lambda
    tau_iter: float | None           # 1/(eta*lambda) steps
    tau_epoch: float | None          # tau_iter/steps_per_epoch
    undefined: str | None            # why lam, decay_per_step and tau are None, if they are


def needs(optimizer: str, given: str) -> tuple[str, ...]:
    """The inputs `convert` needs besides the value: alpha where lambda depends on it, the budget where the given
    unit does."""
    if given not in GIVEN:
        raise ValueError(f"given={given!r} is unknown; allowed: {', '.join(GIVEN)}")
    alpha = ("alpha",) if decay_form(optimizer) in (TIMES_LR, L2_MOMENTUM) else ()
    budget = {"lambda_norm": ("batch_size", "train_size", "epochs"), "tau_epoch": ("batch_size", "train_size")}
    return alpha + budget.get(given, ())


def convert(optimizer: str, given: str, value: float, *, alpha: float | None = None, batch_size: int | None = None,
            train_size: int | None = None, epochs: float | None = None, eta: float = 1.0,
            momentum: float = SGD_MOMENTUM) -> Units:
    """A setting given in one unit (one of GIVEN) in all of them. ValueError when an input it `needs` is missing or
    the unit is undefined for the optimizer (Adam+L2's lambda and tau)."""
    inputs = {"alpha": alpha, "batch_size": batch_size, "train_size": train_size, "epochs": epochs}
    missing = [n for n in needs(optimizer, given) if inputs[n] is None]
    if missing:
        raise ValueError(f"{given} with optimizer={optimizer} needs {', '.join(missing)}")
    why = undefined_reason(optimizer)
    if why is not None and given not in ("weight_decay", "lambda_norm"):
        raise ValueError(f"{given} is not defined for optimizer={optimizer}: {why}")
    _positive(eta=eta)
    spe = steps_per_epoch(batch_size, train_size) if batch_size is not None and train_size is not None else None
    norm = normalizer(batch_size, train_size, epochs) if spe is not None and epochs is not None else None
    if given == "weight_decay":
        wd = value
    elif given == "lambda_norm":
        wd = value * norm
    else:
        lam = {"lambda": lambda v: v, "decay_per_step": lambda v: v / eta,
               "tau_iter": lambda v: lambda_from_tau_iter(v, eta),
               "tau_epoch": lambda v: lambda_from_tau_iter(v * spe, eta)}[given](value)
        wd = weight_decay_from_lambda(optimizer, alpha, lam, momentum=momentum)
    lam = lambda_from_weight_decay(optimizer, alpha, wd, momentum=momentum)
    tau = None if lam is None else tau_iter_from_lambda(lam, eta)
    return Units(optimizer=optimizer, alpha=alpha, eta=eta, momentum=momentum, batch_size=batch_size,
                 train_size=train_size, epochs=epochs, steps_per_epoch=spe, weight_decay=wd,
                 lambda_norm=None if norm is None else wd / norm,
                 lam=lam, lambda_norm_paper=None if norm is None or lam is None else lam / norm,
                 decay_per_step=None if lam is None else eta * lam, tau_iter=tau,
                 tau_epoch=None if tau is None or spe is None else tau / spe, undefined=why)


# --------------------------------------------------------------------------------------------- checks
def _positive(**values) -> None:
    for name, v in values.items():
        if v is None or not v > 0:
            raise ValueError(f"{name}={v} must be a number > 0")


def _check_momentum(momentum: float) -> None:
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum={momentum} must lie in [0, 1)")
