import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.data.demo import write_demo_dataset
from quickgaze.pipeline.batches import log_to_file

log_to_file(snakemake.log[0])
write_demo_dataset(snakemake.params.root, snakemake.params.n_images, snakemake.params.seed)
