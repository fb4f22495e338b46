from pathlib import Path

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.pipeline.ground_truth import ground_truth_job

log_to_file(snakemake.log[0])
ids = snakemake.params.ids
ground_truth_job(
    ids,
    images=dict(zip(ids, map(Path, snakemake.params.image_files))),
    maps={i: Path(p) if p else None for i, p in snakemake.params.maps.items()},
    fixations=Path(snakemake.input.fixations[0]) if snakemake.input.fixations else None,
    fixation_format=snakemake.params.fixation_format,
    outputs=dict(zip(ids, map(Path, snakemake.output.truths))),
    workers=snakemake.threads,
    min_fixations=snakemake.params.min_fixations,
)
