import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.methods_page import write_methods_page
from quickgaze.report.tables import centre_bias_fit
from quickgaze.saliency.fixation_stats import load_fixation_stats

log_to_file(snakemake.log[0])
stats = load_fixation_stats(snakemake.input.stats)
write_methods_page(
    snakemake.output[0],
    dict(zip(snakemake.params.names, snakemake.input.tables)),
    dataset=snakemake.params.dataset,
    variants=snakemake.params.variants,
    evaluation=snakemake.params.evaluation,
    ranking=snakemake.params.ranking,
    categories=snakemake.params.categories,
    centre_bias=centre_bias_fit(stats.sigma_source, len(stats.images), len(stats.fold_sigma)),
)
