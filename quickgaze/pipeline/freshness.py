"""Which per-image records a batch job must recompute: exact incremental semantics.

A Snakemake job handles a batch of images in one process (the model is
loaded once), but every image keeps its own output files. Each record stores
the fingerprint of the parameters and code that made it and the identities
of the inputs it was made from (:func:`input_tokens`: contents, never
dates); a job recomputes only the images whose record is missing or whose
fingerprint or input identities differ from now. Dates cannot decide this:
Snakemake touches every output of a batch job, and after a failed job it
restores the ``update()`` outputs from backups with new dates, so restored
old records look newer than the parameters and images they no longer match.
The count of recomputed images is logged, so "delete k files, rerun, exactly
k forward passes" can be checked.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from quickgaze.io.files import atomic_path
from quickgaze.io.records import input_tokens, stored_fingerprint, stored_inputs

log = logging.getLogger("quickgaze")


def is_fresh(record: Path, fp: str, inputs: Mapping[str, Path | None] | None = None,
             extra: Sequence[Path] = ()) -> bool:
    """True when ``record`` exists with fingerprint ``fp``, the ``input_tokens`` it
    stored equal those of ``inputs`` now and every ``extra`` output file exists.

    Never a date: a record restored from a backup, copied or touched is fresh
    exactly when what it was made from is unchanged.
    """
    if not record.exists() or any(not p.exists() for p in extra):
        return False
    if stored_fingerprint(record) != fp:
        return False
    return stored_inputs(record) == input_tokens(inputs or {})


def kept_path(record: Path) -> Path:
    """Where a job keeps a copy of a record it wrote until the job succeeds:
    ``<folder>.kept/<name>`` beside the record's folder. A failed job's
    ``update()`` outputs are restored from Snakemake's backups, which throws
    away the images it finished; these copies are outside Snakemake's outputs,
    so the next run gets them back (:func:`recover_kept`)."""
    return record.parent.with_name(record.parent.name + ".kept") / record.name


def keep_copy(record: Path) -> None:
    """Copy ``record`` to its :func:`kept_path` (a copy, not a link: Snakemake restores a
    backup by writing into the record's own file)."""
    with atomic_path(kept_path(record)) as tmp:
        shutil.copyfile(record, tmp)


def recover_kept(record: Path, fp: str, inputs: Mapping[str, Path | None]) -> bool:
    """Move the kept copy of ``record`` into place when it is fresh by
    :func:`is_fresh` (fingerprint and input identities, as any record), so an
    image a failed job finished is not computed again; True when it did."""
    kept = kept_path(record)
    if kept.exists() and is_fresh(kept, fp, inputs):
        os.replace(kept, record)
        return True
    return False


def drop_kept(records: Sequence[Path]) -> None:
    """Remove the kept copies of ``records`` (their job succeeded) and emptied folders."""
    folders = set()
    for record in records:
        kept_path(record).unlink(missing_ok=True)
        folders.add(kept_path(record).parent)
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (another batch's copies) or never made
            pass

