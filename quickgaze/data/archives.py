"""Downloaded dataset archives: fetched with a checksum, extracted atomically;
an offline machine gets an error naming the file to place by hand.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


class DownloadError(RuntimeError):
    """An archive could not be fetched or failed its checksum; the message says what to do."""


def sha256_of(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_archive(url: str, dest: str | os.PathLike, sha256: str | None) -> None:
    """Fetch ``url`` to ``dest`` (through a temporary name) and check its sha256.

    A file already at ``dest`` (placed by hand) is only checked. Offline, the
    error names the URL and the exact path to put the file at.
    """
    import urllib.request

    from quickgaze.io.files import atomic_path

    dest = Path(dest)
    if not dest.exists():
        try:
            with (atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=60) as resp,
                  open(tmp, "wb") as fh):
                while block := resp.read(1 << 20):
                    fh.write(block)
        except Exception as err:
            raise DownloadError(
                f"could not download {url} ({type(err).__name__}: {err}). Download it on a "
                f"machine with internet access and place it at '{dest.resolve()}', then rerun."
            ) from err
    actual = sha256_of(dest)
    logging.getLogger("quickgaze").info("%s: sha256 %s", dest, actual)
    if sha256 and actual != sha256.lower():
        raise DownloadError(f"'{dest}' has sha256 {actual}, expected {sha256}; "
                            f"delete it and download {url} again")


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike,
                    file_name: str | None = None, members: list[str] | None = None) -> None:
    """Unzip ``archive`` into the folder ``dest``, only its ``members`` when given
    (paths inside the archive, kept below ``dest``; a missing one is a
    DownloadError naming the archive, the member and what it holds); a file
    that is not a zip (a fixation JSON, say) is copied there as ``file_name``
    (default: its own name)."""
    import shutil
    import zipfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            if members is None:
                zf.extractall(dest)
                return
            names = zf.namelist()
            for member in members:
                if member not in names:
                    raise DownloadError(f"'{archive}' has no member '{member}'; it holds "
                                        f"{', '.join(names[:20])}"
                                        f"{' ...' if len(names) > 20 else ''}")
                zf.extract(member, dest)
    elif members is not None:
        raise DownloadError(f"'{archive}' is not a zip archive, so it has no member "
                            f"{', '.join(members)}; delete it and download it again")
    else:
        shutil.copy2(archive, dest / (file_name or Path(archive).name))

