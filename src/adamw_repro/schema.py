"""Column names of the aggregated tables: the contract between training, aggregation, figures and claims.

Errors are fractions in [0, 1] (figures show percent). A diverged run keeps its row with errors 1.0 and
status "diverged". Labels come from each run's saved config, never from its path.
"""

from adamw_repro import names

# Names of the optimizers (`optimizer=`) and schedules (`schedule=`): the rows of adamw_repro/names.py.
OPTIMIZERS = tuple(names.OPTIMIZERS)
SCHEDULES = tuple(names.SCHEDULES)

# One row per run (results/<scale>/runs.parquet).
RUN_LABELS = (
    "run_id",          # "<experiment>-<hash8 of the run's overrides>"
    "experiment",      # conf/experiment/<name>.yaml
    "scale",           # smoke | quick | budget | paper
    "seed",
    "optimizer",       # one of OPTIMIZERS
    "schedule",        # one of SCHEDULES
    "alpha",           # base learning rate (optimizer.lr)
    "weight_decay",    # as configured: L2 coefficient (adam, sgd), paper lambda (adamw, sgdw), torch wd (adamw_torch)
    "lambda_norm",     # normalized weight decay, NaN when weight_decay was given directly
    "lambda_effective",  # the decay coefficient actually used in the first period
    "epochs",          # the budget
    "batch_size",
    "train_size",
    "model",
    "dataset",
    "T0",              # warm restarts (NaN otherwise)
    "T_mult",
    "stepsize_epochs", # CLR half cycle (NaN otherwise)
)
RUN_METRICS = (
    "status",          # ok | diverged
    "final_train_loss", "final_train_error",
    "final_val_loss", "final_val_error",
    "final_test_loss", "final_test_error",
    "best_val_error", "best_epoch", "test_error_at_best_val",
    "epochs_run", "steps", "wall_seconds", "steps_per_second",
)
RUN_COLUMNS = RUN_LABELS + RUN_METRICS

# One row per run and epoch (results/<scale>/history.parquet): the run's labels plus these.
HISTORY_METRICS = (
    "epoch", "step", "lr",
    "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error",
    "seconds",
)
HISTORY_COLUMNS = RUN_LABELS + HISTORY_METRICS
