import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_comparison_plots
from quickgaze.report.tables import centre_bias_fit, write_comparison
from quickgaze.saliency.fixation_stats import load_fixation_stats

log_to_file(snakemake.log[0])
stats = load_fixation_stats(snakemake.input.stats)
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
    centre_bias_fit=centre_bias_fit(stats.sigma_source, len(stats.images), len(stats.fold_sigma)),
)
write_comparison_plots(out, snakemake.params.metric, overview_png=snakemake.output.overview,
                       paired_png=snakemake.output.paired_plot)
