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
from collections.abc import Callable, Sequence
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


def is_fresh(record: Path, fp: str, sources: Sequence[Path], extra: Sequence[Path] = ()) -> bool:
    """True when ``record`` exists with fingerprint ``fp``, is not older than any
    existing source, and every ``extra`` output file exists."""
    if not record.exists() or any(not p.exists() for p in extra):
        return False
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    if record.stat().st_mtime < newest:
        return False
    return stored_fingerprint(record) == fp


def save_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` to a temporary file, renamed into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


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
              compute: Callable[[list[str]], None], chunk: int, what: str) -> int:
    """Call ``compute`` on the stale items of ``items``, ``chunk`` at a time.

    Logs progress and the number computed; returns that number.
    """
    stale = stale_items(items, is_item_fresh, what)
    progress = Progress(what, len(stale))
    for k in range(0, len(stale), chunk):
        compute(stale[k:k + chunk])
        progress.advance(len(stale[k:k + chunk]))
    return progress.finish()


def log_to_file(path: str | os.PathLike) -> None:
    """Send logging, warnings and stderr of a job to its log file."""
    import sys

    handle = open(path, "w", buffering=1)  # noqa: SIM115 -- lives as long as the job
    sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)
