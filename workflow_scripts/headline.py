import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.pipeline.batches import log_to_file
from quickgaze.report.figures import write_headline

log_to_file(snakemake.log[0])
write_headline(
    snakemake.input.means,
    form=snakemake.params.form,
    figures=[snakemake.output.figure, *snakemake.output.vector],
    markdown=snakemake.output.markdown,
    latex=snakemake.output.latex,
)
