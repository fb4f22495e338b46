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

Which batch jobs Snakemake schedules is the workflow's side
(:func:`changed_since_done`): a job whose files changed after it last
succeeded loses its done stamp, so that it runs and decides per image here.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from quickgaze.io.files import atomic_path
from quickgaze.io.records import (
    input_tokens,
    output_tokens,
    stored_fingerprint,
    stored_inputs,
    stored_outputs,
)

log = logging.getLogger("quickgaze")


def is_fresh(record: Path, fp: str, inputs: Mapping[str, Path | None] | None = None,
             outputs: Mapping[str, Path] | None = None) -> bool:
    """True when ``record`` can be read, holds fingerprint ``fp``, the
    ``input_tokens`` it stored equal those of ``inputs`` now and the
    ``output_tokens`` it stored equal the identities of the files of
    ``outputs`` now (the other files its job wrote with it, such as a
    smoothed map: a damaged or replaced one makes the record stale).

    Never a date: a record restored from a backup, copied or touched is fresh
    exactly when what it was made from is unchanged; a damaged record (one
    that cannot be read) is never fresh.
    """
    if not record.exists() or stored_fingerprint(record) != fp:
        return False
    if outputs and stored_outputs(record) != output_tokens(outputs):
        return False
    return stored_inputs(record) == input_tokens(inputs or {})


def _status_change_ns(path: str) -> int | None:
    """When the file at ``path`` last changed in any way (its ``st_ctime_ns``, which
    the kernel sets to now on every write, truncation, rename, link or ``utime``
    and which no copy tool can set back); for a symbolic link the later of the
    link's and its target's; for a folder the latest of it and every file under
    it. None when it does not exist."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    latest = st.st_ctime_ns
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except OSError:  # a dangling link: the link itself is what changed
            return latest
        latest = max(latest, st.st_ctime_ns)
    if stat.S_ISDIR(st.st_mode):
        for root, _, files in os.walk(path):
            for name in files:
                change = _status_change_ns(os.path.join(root, name))
                latest = max(latest, change or latest)
    return latest


def changed_since_done(done: Mapping[str, str], files: Mapping[str, Iterable[str]]
                       ) -> dict[str, list[str]]:
    """The batch jobs (by rule name) whose files changed after the job last succeeded,
    each with those files, in ``files`` order.

    ``done``: each job's done stamp (absent: the job has not succeeded and runs
    anyway, so it is not checked); ``files``: the files whose change must make
    the job run again, that is its per-image outputs (a damaged or replaced
    record) and its source inputs (images, maps, fixation and weights files,
    replaced under an old date by ``cp -p``, ``rsync -a`` or ``tar``). A file
    changed when its status-change time (:func:`_status_change_ns`, the one
    date nobody can set back) is later than the stamp's: Snakemake touches a
    job's outputs and then its stamp when it succeeds, so a job's own files are
    never later. This only says which jobs run; each decides per image by
    content (:func:`is_fresh`), so a file changed to equal bytes (a touch, a
    ``chmod``, a copy of itself) runs the job once and recomputes nothing. A
    file changed while its job was running, after the job had read it, is not
    seen (as with Snakemake's own dates). Each file is looked at once, however
    many jobs share it (a weights or fixation file).
    """
    seen: dict[str, int | None] = {}

    def change(path: str) -> int | None:
        if path not in seen:
            seen[path] = _status_change_ns(path)
        return seen[path]

    changed = {}
    for rule, stamp in done.items():
        stamp_change = change(stamp)
        if stamp_change is None:
            continue
        later = [f for f in files.get(rule, ()) if (change(f) or 0) > stamp_change]
        if later:
            changed[rule] = later
    return changed


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

