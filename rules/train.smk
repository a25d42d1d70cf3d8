# Data, training runs, the tuned stage and the LR range test.


localrules:
    download_data,
    prepare_data,


rule download_data:
    """Fetch downloadable data sets (CIFAR) on the login node; compute nodes never download."""
    output:
        f"{RESULTS}/download.json",
    log:
        f"{RESULTS}/logs/download_data.log",
    params:
        overrides=f"scale={SCALE}",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.workflow.prepare --download {params.overrides} {output} > {log} 2>&1"


rule prepare_data:
    """Generate MNIST-1D once (or check that downloaded data are in place) before any run starts."""
    input:
        ancient(str(CONF / "scale" / f"{SCALE}.yaml")),
    output:
        f"{RESULTS}/data.json",
    log:
        f"{RESULTS}/logs/prepare_data.log",
    params:
        overrides=f"scale={SCALE}",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.workflow.prepare {params.overrides} {output} > {log} 2>&1"


rule train:
    """One run: Hydra gets a fixed run directory; a killed run resumes from its checkpoint, which lies
    outside the declared outputs so Snakemake never deletes it."""
    input:
        data=ancient(f"{RESULTS}/data.json"),
        conf=run_config_files,
    output:
        metrics=f"{RESULTS}/runs/{{run}}/metrics.json",
        history=f"{RESULTS}/runs/{{run}}/history.csv",
    params:
        overrides=run_overrides,
        conf_digest=run_conf_digest,
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
    log:
        f"{RESULTS}/logs/train/{{run}}.log",
    threads: int(RESOURCES.get("cpus_per_task", 1))
    resources:
        mem_mb=int(RESOURCES.get("mem_mb", 2000)),
        cpus_per_task=int(RESOURCES.get("cpus_per_task", 1)),
        gpu=int(RESOURCES.get("gpu", 0)),
        # SLURM time limit and continuation (rules/common.smk): a run longer than the site allows is stopped
        # by SIGTERM at the limit, checkpoints, exits 75, and the retry continues it.
        runtime=train_runtime,
        slurm_extra=train_slurm_extra,
    group:
        train_group
    retries: TRAIN_RETRIES
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        # SIGTERM (SLURM's time limit) is for the training process, which checkpoints and exits 75: the shell
        # ignores it and waits. The log's last line, the run's one-line summary, goes to Snakemake's output.
        "trap '' TERM; python -m adamw_repro.training.train {params.overrides} threads={threads}"
        " hydra.run.dir={params.run_dir} > {log} 2>&1 && tail -n 1 {log}"


checkpoint tune:
    """Second stage: the best grid cell of each group (validation error) gets fresh seeds."""
    localrule: True
    input:
        grid_metrics,
    output:
        f"{RESULTS}/tuned/{{experiment}}.json",
    log:
        f"{RESULTS}/logs/tune/{{experiment}}.log",
    params:
        runs_dir=f"{RESULTS}/runs",
        scale=SCALE,
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.workflow.sweeps reseed --experiment {wildcards.experiment} --scale {params.scale}"
        " --runs-dir {params.runs_dir} --out {output} > {log} 2>&1"


rule lr_range:
    """Smith's LR range test that chose the CLR bounds."""
    input:
        data=ancient(f"{RESULTS}/data.json"),
    output:
        csv=f"{RESULTS}/lr_range/{{optimizer}}/range.csv",
        json=f"{RESULTS}/lr_range/{{optimizer}}/range.json",
    log:
        f"{RESULTS}/logs/lr_range/{{optimizer}}.log",
    params:
        run_dir=lambda wildcards, output: os.path.dirname(output.csv),
        scale=SCALE,
    resources:
        runtime=int(RESOURCES.get("runtime", 60)),
        mem_mb=int(RESOURCES.get("mem_mb", 2000)),
        cpus_per_task=int(RESOURCES.get("cpus_per_task", 1)),
        gpu=int(RESOURCES.get("gpu", 0)),
    group:
        train_group
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.lr_range experiment=clr scale={params.scale} optimizer={wildcards.optimizer}"
        " hydra.run.dir={params.run_dir} > {log} 2>&1"
