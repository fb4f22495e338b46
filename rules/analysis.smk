# Analysis: per-image tables, rankings, deciles, summaries and galleries per
# variant (baselines get tables and summaries, no gallery: they have no CAM),
# then the comparison across variants and baselines. Report captions only on
# aggregates: per-item captions make `--report` quadratic in the item count.


rule metrics_table:
    input:
        metrics=scored_metrics,
        params=params_file("metrics_table", TABLE_PARAMS),
    output:
        parquet=analysis_path("{scored}", "metrics.parquet"),
        csv=analysis_path("{scored}", "metrics.csv"),
        errors=analysis_path("{scored}", "errors.csv"),
    log:
        f"logs/{NAME}/{{scored}}/metrics_table.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **TABLE_PARAMS,
    script:
        "../workflow_scripts/metrics_table.py"


rule analyse_variant:
    input:
        table=analysis_path("{scored}", "metrics.parquet"),
        params=params_file("analysis", ANALYSIS_PARAMS),
    output:
        ranking=report(
            analysis_path("{scored}", "ranking.csv"),
            caption="../report/ranking.rst",
            category="2. Per variant",
            subcategory="{scored}",
            labels={"variant": "{scored}", "item": "ranking (table)"},
        ),
        deciles=report(
            analysis_path("{scored}", "deciles.csv"),
            caption="../report/deciles.rst",
            category="2. Per variant",
            subcategory="{scored}",
            labels={"variant": "{scored}", "item": "deciles (table)"},
        ),
        summary=report(
            analysis_path("{scored}", "summary.csv"),
            caption="../report/summary.rst",
            category="2. Per variant",
            subcategory="{scored}",
            labels={"variant": "{scored}", "item": "summary (table)"},
        ),
        plot=report(
            analysis_path("{scored}", "deciles.png"),
            caption="../report/deciles_plot.rst",
            category="2. Per variant",
            subcategory="{scored}",
            labels={"variant": "{scored}", "item": "deciles (plot)"},
        ),
    log:
        f"logs/{NAME}/{{scored}}/analyse.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **ANALYSIS_PARAMS,
    script:
        "../workflow_scripts/analyse_variant.py"


rule gallery:
    input:
        table=analysis_path("{variant}", "metrics.parquet"),
        ranking=analysis_path("{variant}", "ranking.csv"),
        params=params_file("gallery", {}),
    output:
        report(
            directory(analysis_path("{variant}", "gallery")),
            patterns=[r"{group,top|middle|bottom}/{rank,\d+}_{image}.jpg"],
            category="3. Galleries",
            subcategory="{variant}",
            labels={"group": "{group}", "rank": "{rank}", "image": "{image}"},
        ),
    log:
        f"logs/{NAME}/{{variant}}/gallery.log",
    conda:
        "../envs/quickgaze.yaml"
    script:
        "../workflow_scripts/gallery.py"


rule compare:
    input:
        tables=scored_tables,
        stats=fixation_stats_path(),
        params=params_file("compare", COMPARE_PARAMS),
    output:
        means=report(
            comparison_path("means.csv"),
            caption="../report/means.rst",
            category="1. Comparison",
            labels={"item": "means (table)"},
        ),
        paired=report(
            comparison_path("paired.csv"),
            caption="../report/paired.rst",
            category="1. Comparison",
            labels={"item": "paired differences (table)"},
        ),
        flips=report(
            comparison_path("sign_flips.csv"),
            caption="../report/sign_flips.rst",
            category="1. Comparison",
            labels={"item": "sign flips (table)"},
        ),
        share=report(
            comparison_path("share_of_gap.csv"),
            caption="../report/share_of_gap.rst",
            category="1. Comparison",
            labels={"item": "share of the gap, centre bias to humans (table)"},
        ),
        share_images=comparison_path("share_of_gap_images.csv"),
        overview=report(
            comparison_path("overview.png"),
            caption="../report/overview.rst",
            category="1. Comparison",
            labels={"item": "overview (plot)"},
        ),
        paired_plot=report(
            comparison_path("paired.png"),
            caption="../report/paired_plot.rst",
            category="1. Comparison",
            labels={"item": "paired differences (plot)"},
        ),
    log:
        f"logs/{NAME}/comparison/compare.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **COMPARE_PARAMS,
    script:
        "../workflow_scripts/compare.py"


rule headline:
    input:
        means=comparison_path("means.csv"),
        params=params_file("headline", HEADLINE_PARAMS),
    output:
        figure=report(
            comparison_path("headline.png"),
            caption="../report/headline.rst",
            category="1. Comparison",
            labels={"item": "headline (figure)"},
        ),
        vector=headline_vector_figures(),
        markdown=report(
            comparison_path("headline.md"),
            caption="../report/headline_table.rst",
            category="1. Comparison",
            labels={"item": "headline (Markdown table)"},
        ),
        latex=comparison_path("headline.tex"),
    log:
        f"logs/{NAME}/comparison/headline.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **HEADLINE_PARAMS,
    script:
        "../workflow_scripts/headline.py"


rule deep_dive:
    input:
        tables=variant_tables,
        params=params_file("deep_dive", DEEP_DIVE_PARAMS),
    output:
        table=report(
            comparison_path("deep_dive.csv"),
            caption="../report/deep_dive.rst",
            category="1. Comparison",
            labels={"item": "deep dive (table)"},
        ),
        figures=report(
            directory(comparison_path("deep_dive")),
            patterns=[r"{rank,\d+}_{image}.jpg"],
            category="4. Deep dive",
            labels={"rank": "{rank}", "image": "{image}"},
        ),
    log:
        f"logs/{NAME}/comparison/deep_dive.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **DEEP_DIVE_PARAMS,
    script:
        "../workflow_scripts/deep_dive.py"


rule methods:
    input:
        tables=scored_tables,
        stats=fixation_stats_path(),
        params=params_file("methods", METHODS_PARAMS),
    output:
        report(
            comparison_path("methods.html"),
            caption="../report/methods.rst",
            category="0. Methods",
            labels={"item": "methods and provenance"},
        ),
    log:
        f"logs/{NAME}/comparison/methods.log",
    conda:
        "../envs/quickgaze.yaml"
    params:
        **METHODS_PARAMS,
    script:
        "../workflow_scripts/methods_page.py"
