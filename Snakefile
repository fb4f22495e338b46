# quickgaze: EigenCAM of an FPN detector versus human saliency, per image and at scale.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/cam.smk"
include: "rules/evaluate.smk"
include: "rules/baselines.smk"
include: "rules/ceiling.smk"
include: "rules/analysis.smk"
include: "rules/categories.smk"


# Cheap steps run where Snakemake runs, not as cluster jobs (the demo generator
# and downloads too: rules/data.smk).
localrules:
    all,
    analyse_variant,
    methods,


rule all:
    input:
        all_targets(),
