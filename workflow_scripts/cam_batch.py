from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.batch import log_to_file
from quickgaze.cam_job import cam_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
cam_job(
    ids,
    images=dict(zip(ids, map(Path, snakemake.input.images))),
    outputs=dict(zip(ids, map(Path, snakemake.output.cams))),
    variant=dict(snakemake.params.variant),
    device=snakemake.params.device,
    seed=snakemake.params.seed,
    forward_batch=snakemake.params.forward_batch,
    loader_workers=snakemake.params.loader_workers,
)
