"""Batch jobs that write one file per image, with exact incremental semantics.

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

import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import quickgaze
from quickgaze.io import atomic_path, read_json

log = logging.getLogger("quickgaze")


def fingerprint(params: dict[str, Any]) -> str:
    """Short hash of ``params`` (JSON-able) and the quickgaze version."""
    blob = json.dumps({"params": params, "version": quickgaze.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint stored in a per-image ``.npz`` or ``.json`` file, None if unreadable."""
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                return str(z["fingerprint"])
        return read_json(path).get("fingerprint")
    except Exception:  # noqa: BLE001 -- a corrupt or foreign file is simply not fresh
        return None


def record_token(path: Path) -> str | None:
    """The content token of a per-image ``.npz`` record (see :func:`save_npz`), None if
    unreadable."""
    try:
        with np.load(path) as z:
            return str(z["token"])
    except Exception:  # noqa: BLE001 -- a missing or corrupt record has no token
        return None


@functools.cache
def file_identity(path: str) -> str | None:
    """``<size>:<sha1>`` of a file's bytes (of a folder: of its files' names and
    identities), None when missing. Cached for the life of the process, that is
    one job: a job's inputs do not change while it runs, and a 5000-image job
    hashes each source once."""
    p = Path(path)
    if p.is_dir():
        parts = [f"{q.relative_to(p)}={file_identity(str(q))}"
                 for q in sorted(p.rglob("*")) if q.is_file()]
        return "dir:" + hashlib.sha1("\n".join(parts).encode()).hexdigest()
    try:
        digest = hashlib.sha1()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return f"{p.stat().st_size}:{digest.hexdigest()}"
    except OSError:
        return None


def input_identity(path: Path | None) -> str | None:
    """Identity of one input of a record: a quickgaze ``.npz`` record by the content
    token it stores (no need to hash it), any other file by :func:`file_identity`."""
    if path is None:
        return None
    if path.suffix == ".npz":
        return record_token(path)
    return file_identity(str(path))


def input_tokens(inputs: Mapping[str, Path | None]) -> dict[str, str | None]:
    """Identities of the inputs a record is made from, to store in it (see :func:`is_fresh`)."""
    return {name: input_identity(p) for name, p in sorted(inputs.items())}


def stored_inputs(path: Path) -> dict[str, str | None] | None:
    """The ``input_tokens`` a per-image record stored, None if unreadable."""
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                return json.loads(str(z["input_tokens"]))
        return read_json(path).get("input_tokens")
    except Exception:  # noqa: BLE001 -- a corrupt, foreign or old record is not fresh
        return None


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


def content_token(arrays: Mapping[str, Any]) -> str:
    """Hash of a record's arrays (names, dtypes, shapes, bytes): its identity for the
    records made from it. Equal contents give equal tokens, so a restored or
    recomputed-equal record does not make its consumers recompute."""
    digest = hashlib.sha1()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return digest.hexdigest()[:20]


def save_npz(path: str | os.PathLike, inputs: Mapping[str, Path | None] | None = None,
             **arrays: Any) -> None:
    """``np.savez_compressed`` to a temporary file, renamed into place, with the
    :func:`input_tokens` of ``inputs`` and the record's :func:`content_token`
    as ``token`` (see :func:`is_fresh`)."""
    arrays["input_tokens"] = json.dumps(input_tokens(inputs or {}), sort_keys=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, token=content_token(arrays))


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def stale_items(items: Sequence[str], is_item_fresh: Callable[[str], bool],
                what: str) -> list[str]:
    """The items that need computing, in order; logs how many."""
    stale = [i for i in items if not is_item_fresh(i)]
    log.info("%s: %d of %d images to compute (%d up to date)",
             what, len(stale), len(items), len(items) - len(stale))
    return stale


# Tests set this to "<what>:<n>" to kill -9 a job once it has finished n images.
KILL_AFTER = "QUICKGAZE_TEST_KILL_AFTER"


class Progress:
    """Per-image progress lines in the job log, then the count computed (which
    tests and benchmarks read: ``<what>: computed N images``)."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.start = time.perf_counter()

    def advance(self, n: int) -> None:
        self.done += n
        rate = (time.perf_counter() - self.start) / max(self.done, 1)
        log.info("%s: %d/%d done (%.2f s per image)", self.what, self.done, self.total, rate)
        what, _, after = os.environ.get(KILL_AFTER, "").rpartition(":")
        if what == self.what and self.done >= int(after):
            os.kill(os.getpid(), signal.SIGKILL)  # a test's kill -9 at a known point

    def finish(self) -> int:
        log.info("%s: computed %d images", self.what, self.done)
        return self.done


def run_stale(items: Sequence[str], is_item_fresh: Callable[[str], bool],
              compute: Callable[[list[str]], None], chunk: int, what: str,
              workers: int = 1) -> int:
    """Call ``compute`` on the stale items of ``items``, at most ``chunk`` at a time.

    With ``workers > 1`` the chunks run on that many threads: numpy and scipy
    release the GIL in their array loops (evaluation: 1.7x on 2 cores), so
    ``compute`` must only share read-only state. Logs progress and the number
    computed; returns that number.
    """
    stale = stale_items(items, is_item_fresh, what)
    progress = Progress(what, len(stale))
    if workers > 1:  # several chunks per thread, so the threads finish together
        chunk = max(1, min(chunk, len(stale) // (4 * workers)))
    chunks = [stale[k:k + chunk] for k in range(0, len(stale), chunk)]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for part, _ in zip(chunks, pool.map(compute, chunks)):
            progress.advance(len(part))
    return progress.finish()


def log_to_file(path: str | os.PathLike) -> None:
    """Send logging, warnings and stderr of a job to its log file."""
    import sys

    handle = open(path, "w", buffering=1)  # noqa: SIM115 -- lives as long as the job
    sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
