"""Replication of Loshchilov & Hutter (2019) and Smith (2017): train every run of every experiment, aggregate,
draw the figures and write the report.

    snakemake --cores all                              # the quick scale (MNIST-1D), reports/report.md
    snakemake --cores all --config scale=smoke         # a few tiny runs (CI)
    snakemake --cores all --config experiments=fig1_schedules,clr
    snakemake --profile profiles/slurm --config scale=paper
"""

from snakemake.utils import min_version

min_version("9.0")


include: "rules/common.smk"
include: "rules/train.smk"
include: "rules/report.smk"


rule all:
    """The report, and the run table behind it: on a fresh clone the committed quick report is present but no
    results are, so asking for the table is what makes the workflow train and redraw (an output whose inputs
    are merely missing counts as up to date in Snakemake)."""
    input:
        lambda wildcards: PIPELINE.targets(workflow.dryrun, rules.report.output[0], rules.aggregate.output.runs),
    default_target: True
