import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_deciles_plot
from quickgaze.report.tables import write_variant_analysis

log_to_file(snakemake.log[0])
out = write_variant_analysis(
    snakemake.input.table,
    ranking_csv=snakemake.output.ranking,
    deciles_csv=snakemake.output.deciles,
    summary_csv=snakemake.output.summary,
    metric=snakemake.params.metric,
    n=snakemake.params.n,
    n_boot=snakemake.params.n_boot,
    seed=snakemake.params.seed,
    exclude_degenerate=snakemake.params.exclude_degenerate,
)
write_deciles_plot(out["deciles"], snakemake.params.metric, snakemake.wildcards.scored,
                   snakemake.output.plot)
