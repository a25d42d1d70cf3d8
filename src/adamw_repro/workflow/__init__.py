"""The workflow layer: sweeps, run ids, data preparation, SLURM pre-flight, GPU-hour estimate.

Asks Hydra for every value and starts training runs; never imports the analysis."""
