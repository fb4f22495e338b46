import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.tables import write_metrics_table

log_to_file(snakemake.log[0])
write_metrics_table(
    snakemake.input.metrics,
    parquet=snakemake.output.parquet,
    csv=snakemake.output.csv,
    errors_csv=snakemake.output.errors,
    image_paths=snakemake.params.image_paths,
    truth_paths=snakemake.params.truth_paths,
    strict=snakemake.params.strict,
)
