"""Running a batch job: the stale images of a batch in chunks (on threads),
progress lines and counts in the job log (``<what>: computed N images``,
which tests and benchmarks read), the job log itself, and the tests' kill hook.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("quickgaze")


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
