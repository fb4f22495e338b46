from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.pipeline.cam_job import cam_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
variants = {name: dict(block) for name, block in snakemake.params.variants.items()}
cams = iter(map(Path, snakemake.output.cams))  # variant by variant, images in ids order
cam_job(
    ids,
    images=dict(zip(ids, map(Path, snakemake.params.image_files))),
    outputs={name: dict(zip(ids, cams)) for name in variants},
    variants=variants,
    device=snakemake.params.device,
    seed=snakemake.params.seed,
    forward_batch=snakemake.params.forward_batch,
    loader_workers=snakemake.params.loader_workers,
)
