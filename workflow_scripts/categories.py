import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.categories import GROUPINGS, write_categories

log_to_file(snakemake.log[0])
params, output = snakemake.params, snakemake.output
kinds = {**{b: "baseline" for b in params.baselines}, **{c: "ceiling" for c in params.ceilings}}
write_categories(
    dict(zip(params.names, snakemake.input.tables)),
    snakemake.input.source,
    kinds=kinds,
    metric=params.metric,
    n_boot=params.n_boot,
    seed=params.seed,
    tables_csv={g: output[g] for g in GROUPINGS},
    images_csv=output.images,
    figures={g: [output[f"{g}_plot"], *(f for f in output.vector if f"categories_{g}." in f)]
             for g in GROUPINGS},
)
