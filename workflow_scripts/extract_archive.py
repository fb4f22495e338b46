import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.data.archives import extract_archive
from quickgaze.pipeline.batches import log_to_file

log_to_file(snakemake.log[0])
extract_archive(snakemake.input[0], snakemake.params.dest, snakemake.params.get("file_name"),
                snakemake.params.get("members"))
