from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.baseline_job import baseline_job
from quickgaze.pipeline.batches import log_to_file

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
baseline_job(
    ids,
    truths=dict(zip(ids, map(Path, snakemake.input.truths))),
    stats=Path(snakemake.input.stats),
    metrics_out=dict(zip(ids, map(Path, snakemake.output.metrics))),
    baseline=snakemake.params.baseline,
    sigma=snakemake.params.sigma,
    seed=snakemake.params.seed,
    workers=snakemake.threads,
)
