import sys

import quickgaze_path  # noqa: F401 -- first: the quickgaze of this repository

from quickgaze.data.archives import DownloadError, download_archive
from quickgaze.pipeline.batches import log_to_file

log_to_file(snakemake.log[0])
archive = snakemake.params.archive
try:
    download_archive(archive["url"], snakemake.output[0], archive.get("sha256"))
except DownloadError as err:  # say what to download and where on the terminal, not only the log
    print(f"\n{err}\n", file=sys.__stderr__)
    raise
