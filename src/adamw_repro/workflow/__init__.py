"""The workflow layer: everything the Snakefile asks (dag), sweeps and run ids, each run's config and digest
(resolver), packs, SLURM pre-flight and time estimates.

Asks Hydra for every value (through adamw_repro.compose) and starts training as processes: never imports the
training layer or the analysis."""
