from quickgaze.batch import log_to_file
from quickgaze.datasets import download_archive

log_to_file(snakemake.log[0])
archive = snakemake.params.archive
download_archive(archive["url"], snakemake.output[0], archive.get("sha256"))
