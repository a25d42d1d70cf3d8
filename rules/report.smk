# Aggregation, one rule per figure (each with its caption for `snakemake --report`), the report. All are
# light: on a cluster they run where snakemake runs, instead of waiting in the queue.

# `snakemake --report report.html --config scale=S`: this scale's figures, report.md and run table.
report: "../reports/captions/workflow.rst"


rule experiment_done:
    """All runs of one experiment are finished: lists their directories. One such job per experiment, so
    that one experiment waiting for its tune stage does not hold back the runs of the others."""
    localrule: True
    input:
        experiment_metrics,
    output:
        f"{RESULTS}/done/{{experiment}}.txt",
    log:
        f"{RESULTS}/logs/done/{{experiment}}.log",
    params:
        # a shell rule, not a `run:` block: the local executor starts a whole new Snakemake for a run: rule
        dirs=lambda wildcards, input: "\n".join(os.path.dirname(m) for m in input if m.endswith("metrics.json")),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "printf '%s\\n' {params.dirs:q} > {output}.tmp 2> {log} && mv {output}.tmp {output}"


rule aggregate:
    """Every run into runs.parquet and history.parquet (CSV copies beside them)."""
    localrule: True
    input:
        expand(f"{RESULTS}/done/{{experiment}}.txt", experiment=EXPERIMENTS),
    output:
        runs=f"{RESULTS}/runs.parquet",
        runs_csv=report(f"{RESULTS}/runs.csv", caption="../reports/captions/runs.rst", category="Tables"),
        history=f"{RESULTS}/history.parquet",
        history_csv=f"{RESULTS}/history.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.runs),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.analysis.results --out-dir {params.out_dir} --from-file {input} > {log} 2>&1"


rule figure:
    """One figure per experiment, drawn by scripts/figures/<experiment>.py."""
    localrule: True
    input:
        runs=f"{RESULTS}/runs.parquet",
        history=f"{RESULTS}/history.parquet",
    output:
        png=report(
            f"{REPORT_DIR}/figures/{{figure}}.png",
            caption="../reports/captions/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf=f"{REPORT_DIR}/figures/{{figure}}.pdf",
    log:
        f"{RESULTS}/logs/figures/{{figure}}.log",
    params:
        experiment="{figure}",
        caption=figure_caption,
        code=lambda wildcards: script_digest(f"scripts/figures/{wildcards.figure}.py"),
    wildcard_constraints:
        figure="|".join(FIGURES) or "no-figure",
    conda:
        "../envs/adamw-repro.yaml"
    script:
        "../scripts/figures/{wildcards.figure}.py"


rule figure_clr_range:
    localrule: True
    input:
        range_csv=expand(f"{RESULTS}/lr_range/{{optimizer}}/range.csv", optimizer=RANGE_OPTIMIZERS),
        range_json=expand(f"{RESULTS}/lr_range/{{optimizer}}/range.json", optimizer=RANGE_OPTIMIZERS),
    output:
        png=report(
            f"{REPORT_DIR}/figures/clr_range.png",
            caption="../reports/captions/clr_range.rst",
            category="Figures",
        ),
        pdf=f"{REPORT_DIR}/figures/clr_range.pdf",
    params:
        code=script_digest("scripts/figures/clr.py"),
    log:
        f"{RESULTS}/logs/figures/clr_range.log",
    conda:
        "../envs/adamw-repro.yaml"
    script:
        "../scripts/figures/clr.py"


rule identities:
    """The exact identities of the update rules, checked on the installed optimizers (the report reads them,
    so that analysis never imports torch)."""
    localrule: True
    output:
        f"{RESULTS}/identities.json",
    log:
        f"{RESULTS}/logs/identities.log",
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.training.identities {output} > {log} 2>&1"


rule report:
    """reports/report.md: what was run, the ten findings with verdicts, each experiment's figure and table."""
    localrule: True
    input:
        runs=f"{RESULTS}/runs.parquet",
        history=f"{RESULTS}/history.parquet",
        identities=f"{RESULTS}/identities.json",
        figures=expand(f"{REPORT_DIR}/figures/{{figure}}.png", figure=FIGURES),
        range_json=expand(f"{RESULTS}/lr_range/{{optimizer}}/range.json", optimizer=RANGE_OPTIMIZERS),
        range_figure=[f"{REPORT_DIR}/figures/clr_range.png"] if RANGE_OPTIMIZERS else [],
        thresholds=str(CLAIMS),  # a real input: a changed threshold rewrites the report
    output:
        report(f"{REPORT_DIR}/report.md", caption="../reports/captions/report.rst", category="Report"),
    log:
        f"{RESULTS}/logs/report.log",
    params:
        scale=SCALE,
        results=lambda wildcards, input: os.path.dirname(input.runs),
        report_dir=lambda wildcards, output: os.path.dirname(output[0]),
        experiments=",".join(EXPERIMENTS),
    conda:
        "../envs/adamw-repro.yaml"
    shell:
        "python -m adamw_repro.analysis.report --scale {params.scale} --results {params.results} --report-dir {params.report_dir}"
        " --experiments {params.experiments} --thresholds {input.thresholds} --out {output} > {log} 2>&1"
