import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_comparison_plots
from quickgaze.report.tables import write_comparison

log_to_file(snakemake.log[0])
out = write_comparison(
    dict(zip(snakemake.params.names, snakemake.input.tables)),
    baselines=snakemake.params.baselines,
    ceilings=snakemake.params.ceilings,
    policies=snakemake.params.policies,
    means_csv=snakemake.output.means,
    paired_csv=snakemake.output.paired,
    flips_csv=snakemake.output.flips,
    share_csv=snakemake.output.share,
    share_images_csv=snakemake.output.share_images,
    n_boot=snakemake.params.n_boot,
    seed=snakemake.params.seed,
)
write_comparison_plots(out, snakemake.params.metric, overview_png=snakemake.output.overview,
                       paired_png=snakemake.output.paired_plot)
