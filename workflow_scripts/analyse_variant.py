from quickgaze.batch import log_to_file
from quickgaze.tables import write_variant_tables

log_to_file(snakemake.log[0])
write_variant_tables(
    snakemake.input.metrics,
    parquet=snakemake.output.parquet,
    csv=snakemake.output.csv,
    ranking_csv=snakemake.output.ranking,
    errors_csv=snakemake.output.errors,
    metric=snakemake.params.metric,
    n=snakemake.params.n,
    strict=snakemake.params.strict,
)
