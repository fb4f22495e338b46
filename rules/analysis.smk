# Per-variant analysis: the metrics table and the ranking.


rule analyse_variant:
    input:
        metrics=variant_metrics,
    output:
        parquet=analysis_path("{variant}", "metrics.parquet"),
        csv=analysis_path("{variant}", "metrics.csv"),
        ranking=analysis_path("{variant}", "ranking.csv"),
        errors=analysis_path("{variant}", "errors.csv"),
    params:
        metric=config["ranking"]["metric"],
        n=config["ranking"]["n"],
        strict=config["strict"],
    conda:
        "../envs/quickgaze.yaml"
    log:
        f"logs/{NAME}/{{variant}}/analyse.log",
    script:
        "../workflow_scripts/analyse_variant.py"
