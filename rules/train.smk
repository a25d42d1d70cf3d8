# Data, training runs in packs, the tune stage and the LR range test. Packs, outputs, resources and retries
# come from adamw_repro.workflow.dag (rules/common.smk builds PIPELINE).


localrules:
    download_data,
    prepare_data,


rule download_data:
    """Fetch downloadable data sets (CIFAR) on the login node; compute nodes never download."""
    output:
        f"{PIPELINE.results}/download.json",
    log:
        f"{PIPELINE.results}/logs/download_data.log",
    params:
        overrides=f"scale={PIPELINE.scale}",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.prepare --download {params.overrides:q} {output:q} > {log:q} 2>&1"


rule prepare_data:
    """Generate MNIST-1D once (or check that downloaded data are in place) before any run starts."""
    input:
        ancient(str(PIPELINE.conf / "scale" / f"{PIPELINE.scale}.yaml")),
    output:
        f"{PIPELINE.results}/data.json",
    log:
        f"{PIPELINE.results}/logs/prepare_data.log",
    params:
        overrides=f"scale={PIPELINE.scale}",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.prepare {params.overrides:q} {output:q} > {log:q} 2>&1"


# One rule per pack: a rule's outputs are fixed patterns, and a pack's are a list of run directories. Every
# unfinished run's metrics.json and history.csv is a declared output of exactly one pack.
for _pack, _runs in PIPELINE.packs.items():

    rule:
        name:
            f"train_pack_{_pack}"
        input:
            data=ancient(rules.prepare_data.output[0]),
            conf=[ancient(f) for f in PIPELINE.conf_files(_runs)],
        output:
            runs_file=f"{PIPELINE.results}/packs/{_pack}.json",
            metrics=PIPELINE.outputs(_runs, "metrics.json"),
            history=PIPELINE.outputs(_runs, "history.csv"),
            done=PIPELINE.done_files(_runs),
        params:
            members=PIPELINE.runs_file(_runs),
            stale=PIPELINE.stale_stamps(_runs),
            mode=PIPELINE.pack_mode,
        log:
            f"{PIPELINE.results}/logs/train/pack-{_pack}.log",
        threads: PIPELINE.cpus
        resources:
            **PIPELINE.pack_resources(_runs),
        retries: PIPELINE.train_retries  # a run longer than the site's limit continues over this many jobs
        conda:
            "../envs/adamw-repro.yaml"
        shell:
            "rm -f {params.stale} && printf '%s' {params.members:q} > {output.runs_file:q}.tmp && mv {output.runs_file:q}.tmp {output.runs_file:q}"
            # SIGTERM (SLURM's time limit) is for the pack, which checkpoints and exits 75; the shell ignores it.
            # Its result lines: workflow/console.py prints them from the log, for local and SLURM jobs alike.
            " && trap '' TERM && python -m adamw_repro.training.pack --runs-file {output.runs_file:q}"
            " --mode {params.mode:q} > {log:q} 2>&1"


checkpoint tune:
    """Second stage: the best grid cell of each group (validation error) gets fresh seeds."""
    localrule: True
    input:
        lambda wildcards: PIPELINE.grid_outputs(wildcards.experiment),
    output:
        f"{PIPELINE.results}/tuned/{{experiment}}.json",
    log:
        f"{PIPELINE.results}/logs/tune/{{experiment}}.log",
    params:
        runs_dir=f"{PIPELINE.results}/runs",
        scale=PIPELINE.scale,
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.workflow.cli reseed --experiment {wildcards.experiment:q} --scale {params.scale:q}"
        " --runs-dir {params.runs_dir:q} --out {output:q} > {log:q} 2>&1"


rule train_tuned:
    """The tune stage's new runs, trained in packs (one per tune seed, side by side) once the tune stage has
    named them; the checkpoint below then updates the DAG."""
    input:
        data=ancient(rules.prepare_data.output[0]),
        tuned=rules.tune.output[0],
    output:
        f"{PIPELINE.results}/packs/tuned-{{experiment}}-{{chunk}}.json",
    params:
        members=lambda wildcards: PIPELINE.tuned_pack(wildcards.experiment, wildcards.chunk),
        mode=PIPELINE.pack_mode,
    log:
        f"{PIPELINE.results}/logs/train/tuned-{{experiment}}-{{chunk}}.log",
    wildcard_constraints:
        chunk=r"\d+",
    threads: PIPELINE.cpus
    resources:
        **PIPELINE.tuned_pack_resources(),
    retries: PIPELINE.train_retries
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "printf '%s' {params.members:q} > {output:q}.tmp && trap '' TERM"
        " && python -m adamw_repro.training.pack --runs-file {output:q}.tmp --mode {params.mode:q} > {log:q} 2>&1"
        " && mv {output:q}.tmp {output:q}"


checkpoint tuned_trained:
    """All packs of an experiment's tune stage are done. A checkpoint, so that the DAG is updated and reads
    the tuned runs' outputs as existing files (a rule cannot declare outputs unknown when it is parsed); on
    the next invocation they are known, and a changed config retrains them in the packs above. (One
    checkpoint over all packs: a checkpoint per pack would be discovered, and run, one after another.)"""
    localrule: True
    input:
        lambda wildcards: expand(
            rules.train_tuned.output[0],
            experiment=wildcards.experiment,
            chunk=range(PIPELINE.tuned_chunks(wildcards.experiment)),
        ),
    output:
        f"{PIPELINE.results}/tuned/{{experiment}}.trained",
    log:
        f"{PIPELINE.results}/logs/train/tuned-{{experiment}}.log",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "touch {output:q} 2> {log:q}"


rule lr_range:
    """Smith's LR range test that chose the CLR bounds."""
    input:
        data=ancient(rules.prepare_data.output[0]),
    output:
        csv=f"{PIPELINE.results}/lr_range/{{optimizer}}/range.csv",
        json=f"{PIPELINE.results}/lr_range/{{optimizer}}/range.json",
    log:
        f"{PIPELINE.results}/logs/lr_range/{{optimizer}}.log",
    params:
        run_dir=lambda wildcards, output: os.path.dirname(output.csv),
        scale=PIPELINE.scale,
    resources:
        **PIPELINE.pack_resources(),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.lr_range experiment=clr scale={params.scale:q} optimizer={wildcards.optimizer:q}"
        " hydra.run.dir={params.run_dir:q} > {log:q} 2>&1"
