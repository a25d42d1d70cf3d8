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


# -- training: packs of runs (formed in common.smk) --------------------------------------------------------
# One rule per pack: a rule's outputs are fixed patterns, and a pack's are a list of run directories.
for _pack, _members in PACKS.items():

    rule:
        name:
            f"train_pack_{_pack}"
        input:
            data=ancient(f"{RESULTS}/data.json"),
            conf=sorted({ancient(str(f)) for run in _members for f in conf_files_of(run)}),
        output:
            runs_file=f"{RESULTS}/packs/{_pack}.json",
            metrics=[f"{RESULTS}/runs/{run.run_id}/metrics.json" for run in _members],
            history=[f"{RESULTS}/runs/{run.run_id}/history.csv" for run in _members],
            done=[pack_member(run)["done_file"] for run in _members],
        params:
            members=packs.runs_file([pack_member(run) for run in _members]),
            # stamps of older configs: a run edited back to one of them must not look finished
            stale=" ".join(f"{RESULTS}/runs/{run.run_id}/conf-*.done" for run in _members),
            mode=PACK_MODE,
        log:
            f"{RESULTS}/logs/train/pack-{_pack}.log",
        threads: CPUS
        resources:
            **pack_resources(_members),  # time limit from the members' epochs (rules/common.smk, job_plan)
        retries: TRAIN_RETRIES  # a run longer than the site's limit continues over this many jobs
        conda:
            "../envs/adamw-repro.yaml"
        shell:
            "rm -f {params.stale} && printf '%s' {params.members:q} > {output.runs_file}.tmp && mv {output.runs_file}.tmp {output.runs_file}"
            # SIGTERM (SLURM's time limit) is for the pack, which checkpoints and exits 75; the shell ignores it
            " && trap '' TERM && python -m adamw_repro.training.pack --runs-file {output.runs_file}"
            " --mode {params.mode} > {log} 2>&1 && {{ grep -E ': (ok|diverged), test error' {log} || true; }}"


rule train_tuned:
    """The tune stage's new runs, trained in packs (one per tune seed, side by side) once the tune stage has
    named them; the checkpoint below then updates the DAG."""
    input:
        data=ancient(f"{RESULTS}/data.json"),
        tuned=f"{RESULTS}/tuned/{{experiment}}.json",
    output:
        f"{RESULTS}/packs/tuned-{{experiment}}-{{chunk}}.json",
    params:
        members=tuned_pack_members,
        mode=PACK_MODE,
    log:
        f"{RESULTS}/logs/train/tuned-{{experiment}}-{{chunk}}.log",
    wildcard_constraints:
        chunk=r"\d+",
    threads: CPUS
    resources:
        **pack_resources(PACK_SIZE * [max(known_runs(), key=lambda r: run_seconds(r) or 0)] if known_runs() else []),
    retries: TRAIN_RETRIES
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "printf '%s' {params.members:q} > {output}.tmp && trap '' TERM"
        " && python -m adamw_repro.training.pack --runs-file {output}.tmp --mode {params.mode} > {log} 2>&1"
        " && mv {output}.tmp {output}"


checkpoint tuned_trained:
    """All packs of an experiment's tune stage are done. A checkpoint, so that the DAG is updated and reads
    the tuned runs' outputs as existing files (a rule cannot declare outputs unknown when it is parsed); on
    the next invocation they are known, and a changed config retrains them in the packs above. (One
    checkpoint over all packs: a checkpoint per pack would be discovered, and run, one after another.)"""
    localrule: True
    input:
        lambda wildcards: expand(f"{RESULTS}/packs/tuned-{wildcards.experiment}-{{chunk}}.json",
                                 chunk=range(tuned_chunks(wildcards.experiment))),
    output:
        f"{RESULTS}/tuned/{{experiment}}.trained",
    log:
        f"{RESULTS}/logs/train/tuned-{{experiment}}.log",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "touch {output} 2> {log}"


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
        **pack_resources(),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.lr_range experiment=clr scale={params.scale} optimizer={wildcards.optimizer}"
        " hydra.run.dir={params.run_dir} > {log} 2>&1"
