"""The training layer: one run (entry point, loop, optimizers, schedules, data, models, LR range test).

Knows nothing of the workflow or the analysis."""
