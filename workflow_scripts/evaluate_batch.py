from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.pipeline.evaluate import evaluate_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
evaluate_job(
    ids,
    cams=dict(zip(ids, map(Path, snakemake.input.cams))),
    truths=dict(zip(ids, map(Path, snakemake.input.truths))),
    stats=Path(snakemake.input.stats),
    smooth_out=dict(zip(ids, map(Path, snakemake.output.smooth))),
    metrics_out=dict(zip(ids, map(Path, snakemake.output.metrics))),
    variant_name=snakemake.params.variant,
    sigma=snakemake.params.sigma,
    seed=snakemake.params.seed,
    workers=snakemake.threads,
)
