from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.pipeline.fixation_stats_job import fixation_stats_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
fixation_stats_job(
    ids,
    truths=dict(zip(ids, map(Path, snakemake.input.truths))),
    output=Path(snakemake.output[0]),
    centre_bias_sigma=snakemake.params.centre_bias_sigma,
    n_others=snakemake.params.n_others,
    seed=snakemake.params.seed,
)
