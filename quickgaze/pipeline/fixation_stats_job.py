"""The fixation-statistics job: one :class:`~quickgaze.saliency.fixation_stats.FixationStats`
file per dataset from every image's ground-truth record.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from quickgaze.io.records import load_npz
from quickgaze.saliency.fixation_stats import (
    fixation_stats,
    save_fixation_stats,
)

log = logging.getLogger("quickgaze")


def fixation_stats_job(ids: list[str], truths: dict[str, Path], output: Path,
                       centre_bias_sigma: str | float | list, n_others: int, seed: int) -> None:
    """Write the dataset's :class:`~quickgaze.saliency.fixation_stats.FixationStats` (``.npz``)
    from every image's ground-truth record. The maps are read only when no
    image has a fixation (to fit the centre bias on them). The file names the
    ground-truth records, from which the evaluation jobs read the fixations
    of each image's shuffled-AUC others; it holds a hash of every image's
    fixations, so a changed record changes its digest."""
    points: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    for i in ids:
        z = load_npz(truths[i], ("error", "points", "shape"))
        if not str(z["error"]):
            points[i] = (z["points"].astype(np.int64), tuple(int(v) for v in z["shape"]))

    def maps():
        for i in points:
            z = load_npz(truths[i])
            if "map" in z:
                yield z["map"]

    stats = fixation_stats(points, maps(), centre_bias_sigma, n_others, seed,
                           sources={i: str(truths[i]) for i in points})
    log.info("centre bias sigma (%.4f, %.4f) of (H, W) from %s", *stats.centre_bias_sigma,
             stats.sigma_source)
    if len(stats.fold_sigma):
        log.info("held-out centre-bias fits: %d folds, sigma_r %.4f-%.4f, sigma_c %.4f-%.4f",
                 len(stats.fold_sigma), stats.fold_sigma[:, 0].min(), stats.fold_sigma[:, 0].max(),
                 stats.fold_sigma[:, 1].min(), stats.fold_sigma[:, 1].max())
    log.info("shuffled AUC: %d other images per image, drawn per image from %d",
             min(n_others, max(len(stats.images) - 1, 0)), len(stats.images))
    save_fixation_stats(output, stats)

