"""Batch jobs that write one file per image, with exact incremental semantics.

A Snakemake job handles a batch of images in one process (the model is
loaded once), but every image keeps its own output files. Each file carries
a fingerprint of the parameters and code version that made it; a job
recomputes only the images whose output is missing, stale (older than a
source) or made with another fingerprint. The count of recomputed images is
logged, so "delete k files, rerun, exactly k forward passes" can be checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
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
    """The token a per-image ``.npz`` record got when it was written, None if unreadable."""
    try:
        with np.load(path) as z:
            return str(z["token"])
    except Exception:  # noqa: BLE001 -- a missing or corrupt record has no token
        return None


def input_tokens(inputs: Mapping[str, Path]) -> dict[str, str | None]:
    """Tokens of the per-image records a result is computed from, to store in it."""
    return {name: record_token(p) for name, p in inputs.items()}


def is_fresh(record: Path, fp: str, sources: Sequence[Path] = (), extra: Sequence[Path] = (),
             inputs: Mapping[str, Path] | None = None) -> bool:
    """True when ``record`` exists with fingerprint ``fp``, is not older than any
    existing file of ``sources``, every ``extra`` output file exists and, for a
    JSON record, the ``input_tokens`` it stored equal those of ``inputs`` now.

    Per-image records made by other jobs are compared by token, not by date:
    Snakemake touches every output of a batch job, so dates would make one
    recomputed CAM re-evaluate its whole batch.
    """
    if not record.exists() or any(not p.exists() for p in extra):
        return False
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    if record.stat().st_mtime < newest:
        return False
    if inputs is not None:
        try:
            stored = read_json(record)
        except Exception:  # noqa: BLE001 -- a corrupt record is not fresh
            return False
        return stored.get("fingerprint") == fp and stored.get("input_tokens") == input_tokens(inputs)
    return stored_fingerprint(record) == fp


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` to a temporary file, renamed into place, with a fresh
    random ``token`` that identifies this write (see :func:`is_fresh`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, token=uuid.uuid4().hex)


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
