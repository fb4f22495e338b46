import pandas as pd
import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_gallery

log_to_file(snakemake.log[0])
write_gallery(
    pd.read_csv(snakemake.input.ranking, dtype={"image": str}),
    pd.read_parquet(snakemake.input.table),
    snakemake.output[0],
    variant=snakemake.wildcards.variant,
)
