# Aggregation, one rule per figure (each with its caption for `snakemake --report`), the report. All are
# light: on a cluster they run where snakemake runs, instead of waiting in the queue.


# `snakemake --report report.html --config scale=S`: this scale's figures, report.md and run table.
report: "../reports/captions/workflow.rst"


# The report and figures are drawn under results/ (untracked), with the run's date, code version and compute in
# a sidecar there; a run of every experiment then publishes them into reports/ (tracked) where their bytes changed
# (analysis/report_files.py): a rerun of unchanged code leaves `git status` clean, a failed job deletes only the
# staged copy, and a run of some experiments writes a partial report that never replaces the full one.
REPORT_PARTIAL = report_files.is_partial(PIPELINE.experiments, experiment_names(PIPELINE.conf))
REPORT_STAGE = report_files.staging_dir(PIPELINE.results, REPORT_PARTIAL)


rule experiment_done:
    """All runs of one experiment are finished: lists their directories. One such job per experiment, so
    that one experiment waiting for its tune stage does not hold back the runs of the others."""
    localrule: True
    input:
        experiment_runs,
    output:
        f"{PIPELINE.results}/done/{{experiment}}.txt",
    log:
        f"{PIPELINE.results}/logs/done/{{experiment}}.log",
    params:
        # a shell rule, not a `run:` block: the local executor starts a whole new Snakemake for a run: rule
        dirs=lambda wildcards, input: "\n".join(os.path.dirname(m) for m in input if m.endswith("metrics.json")),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "printf '%s\\n' {params.dirs:q} > {output}.tmp 2> {log} && mv {output}.tmp {output}"


rule aggregate:
    """Every run into runs.parquet, history.parquet and telemetry.parquet (CSV copies beside them)."""
    localrule: True
    input:
        expand(rules.experiment_done.output[0], experiment=PIPELINE.experiments),
    output:
        runs=f"{PIPELINE.results}/runs.parquet",
        runs_csv=report(f"{PIPELINE.results}/runs.csv", caption="../reports/captions/runs.rst", category="Tables"),
        history=f"{PIPELINE.results}/history.parquet",
        history_csv=f"{PIPELINE.results}/history.csv",
        telemetry=f"{PIPELINE.results}/telemetry.parquet",
        telemetry_csv=f"{PIPELINE.results}/telemetry.csv",
    log:
        f"{PIPELINE.results}/logs/aggregate.log",
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.runs),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.analysis.results --out-dir {params.out_dir:q} --from-file {input:q} > {log:q} 2>&1"


rule figure:
    """One figure per experiment, drawn by scripts/figures/<experiment>.py."""
    localrule: True
    input:
        runs=rules.aggregate.output.runs,
        history=rules.aggregate.output.history,
        telemetry=rules.aggregate.output.telemetry,
    output:
        png=report(
            f"{REPORT_STAGE}/figures/{{figure}}.png",
            caption="../reports/captions/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf=f"{REPORT_STAGE}/figures/{{figure}}.pdf",
    log:
        f"{PIPELINE.results}/logs/figures/{{figure}}.log",
    params:
        experiment="{figure}",
        caption=lambda wildcards: PIPELINE.figure_caption(wildcards.figure),
        code=lambda wildcards: PIPELINE.script_digest(f"scripts/figures/{wildcards.figure}.py"),
    wildcard_constraints:
        figure="|".join(PIPELINE.figures) or "no-figure",
    conda:
        "../envs/adamw-repro.yaml"
    script:
        "../scripts/figures/{wildcards.figure}.py"


rule figure_clr_range:
    localrule: True
    input:
        range_csv=expand(rules.lr_range.output.csv, optimizer=PIPELINE.range_optimizers),
        range_json=expand(rules.lr_range.output.json, optimizer=PIPELINE.range_optimizers),
    output:
        png=report(
            f"{REPORT_STAGE}/figures/clr_range.png",
            caption="../reports/captions/clr_range.rst",
            category="Figures",
        ),
        pdf=f"{REPORT_STAGE}/figures/clr_range.pdf",
    params:
        code=PIPELINE.script_digest("scripts/figures/clr.py"),
    log:
        f"{PIPELINE.results}/logs/figures/clr_range.log",
    conda:
        "../envs/adamw-repro.yaml"
    script:
        "../scripts/figures/clr.py"


rule identities:
    """The exact identities of the update rules, checked on the installed optimizers (the report reads them,
    so that analysis never imports torch)."""
    localrule: True
    output:
        f"{PIPELINE.results}/identities.json",
    log:
        f"{PIPELINE.results}/logs/identities.log",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.identities {output} > {log} 2>&1"


rule report:
    """reports/report.md: what was run, every finding with its verdict, each experiment's figure and table
    (results/<scale>/partial/report.md for a subset of the experiments)."""
    localrule: True
    input:
        runs=rules.aggregate.output.runs,
        history=rules.aggregate.output.history,
        telemetry=rules.aggregate.output.telemetry,
        identities=rules.identities.output[0],
        figures=expand(rules.figure.output.png, figure=PIPELINE.figures),
        range_json=rules.figure_clr_range.input.range_json,
        range_figure=rules.figure_clr_range.output.png if PIPELINE.range_optimizers else [],
        thresholds=str(PIPELINE.claims),  # a real input: a changed threshold rewrites the report
    output:
        md=report(f"{REPORT_STAGE}/report.md", caption="../reports/captions/report.rst", category="Report"),
        record=f"{REPORT_STAGE}/{report_files.RUN_SIDECAR}",
    log:
        f"{PIPELINE.results}/logs/report.log",
    params:
        scale=PIPELINE.scale,
        results=lambda wildcards, input: os.path.dirname(input.runs),
        report_dir=lambda wildcards, output: os.path.dirname(output[0]),
        experiments=",".join(PIPELINE.experiments),
        publish=(
            f"--partial-of {PIPELINE.report_dir}/report.md" if REPORT_PARTIAL else f"--publish {PIPELINE.report_dir}"
        ),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.analysis.report --scale {params.scale:q} --results {params.results:q} --report-dir {params.report_dir:q}"
        " --experiments {params.experiments:q} --thresholds {input.thresholds:q} --out {output.md:q} {params.publish} > {log:q} 2>&1"
