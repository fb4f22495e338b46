from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.pipeline.ceiling_job import ceiling_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
ceiling_job(
    ids,
    truths=dict(zip(ids, map(Path, snakemake.input.truths))),
    stats=Path(snakemake.input.stats),
    metrics_out=dict(zip(ids, map(Path, snakemake.output.metrics))),
    ceiling=snakemake.params.ceiling,
    repeats=snakemake.params.repeats,
    seed=snakemake.params.seed,
    one_human_observers=snakemake.params.one_human_observers,
    infinite_repeats=snakemake.params.infinite_repeats,
    workers=snakemake.threads,
)
