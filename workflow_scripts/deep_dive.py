import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_deep_dive_outputs

log_to_file(snakemake.log[0])
write_deep_dive_outputs(
    dict(zip(snakemake.params.names, snakemake.input.tables)),
    reference=snakemake.params.reference,
    metric=snakemake.params.metric,
    n=snakemake.params.n,
    table_csv=snakemake.output.table,
    outdir=snakemake.output.figures,
    exclude_degenerate=snakemake.params.exclude_degenerate,
)
