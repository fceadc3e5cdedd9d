# attn-ablate: what each part of attention is worth.
# Thin on purpose: the stages live in workflow/rules, the work in workflow/scripts/attnablate.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile on the command line is a whole experiment: it replaces config.yaml instead of
# being merged into it (a merge would add the default's sizes, seeds and variants to it).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# The HTML report's front page (snakemake --report).
report: "workflow/report/workflow.rst"


# Cheap table and figure jobs run where Snakemake runs, not as cluster jobs.
localrules:
    all,
    model_table,
    aggregate,
    claims,
    report,


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
