"""Per-image scoring shared by the evaluation, baseline and ceiling jobs: the
prepared truth of an image, the truth fields every metrics record starts
with, and the metrics of a raw and a smoothed map.

These jobs do not import torch, which would cost each job seconds. Each takes
the batch's image ids and explicit paths, recomputes only stale images (see
:mod:`quickgaze.pipeline.freshness`) and writes one file per image. A bad image
becomes an error record with its reason; the rest of the batch is kept.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from quickgaze.saliency.baselines import centre_bias_map
from quickgaze.saliency.fixation_stats import (
    FixationStats,
)
from quickgaze.saliency.metrics import Truth, image_seed, prepare_truth, saliency_metrics

log = logging.getLogger("quickgaze")


def record_provenance(record: dict[str, np.ndarray]) -> dict[str, Any]:
    """The provenance a ``.npz`` record stored; ``{"missing": ...}`` for a record that
    holds none (it says so rather than guessing)."""
    if "provenance" not in record:
        return {"missing": "the record holds no provenance"}
    return json.loads(str(record["provenance"]))


def image_truth(truth: dict[str, np.ndarray], stats: FixationStats, image: str,
                seed: int) -> Truth:
    """The prepared ground truth of one image (see :func:`prepare_truth`): its map,
    its fixations (none: fixation metrics NaN), the fixations of its own
    seeded draw of other images for the shuffled AUC
    (:meth:`~quickgaze.saliency.fixation_stats.FixationStats.other_fixated`) and the centre
    bias of the information gain, fitted without this image
    (:meth:`~quickgaze.saliency.fixation_stats.FixationStats.centre_bias_for`)."""
    gt = truth["map"].astype(np.float32) / 255.0
    shape = (gt.shape[0], gt.shape[1])
    points = truth["points"] if len(truth["points"]) else None
    return prepare_truth(gt, points, stats.other_fixated(image, shape),
                         centre_bias_map(shape, stats.centre_bias_for(image)),
                         image_seed(seed, image))


def truth_fields(truth: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"status": "ok", "error": "", "warnings": str(truth.get("warnings", "")),
            "n_fixations": len(truth["points"]), "n_dropped": int(truth["n_dropped"]),
            "n_nonfinite": int(truth.get("n_nonfinite", 0)),
            "degenerate": str(truth.get("degenerate", "")),
            "map_source": str(truth["map_source"])}


def score_maps(record: dict[str, Any], raw: np.ndarray, smooth: np.ndarray,
           truth: dict[str, np.ndarray], stats: FixationStats, image: str,
           seed: int) -> dict[str, Any]:
    """Add ``<metric>_raw`` / ``<metric>_smooth`` and ``smooth`` to ``record``."""
    prepared = image_truth(truth, stats, image, seed)
    for name, value in saliency_metrics(raw, prepared).items():
        record[f"{name}_raw"] = value
    for name, value in saliency_metrics(smooth, prepared).items():
        record[f"{name}_smooth"] = value
    record["smooth"] = smooth
    return record


def truth_error(truth: dict[str, np.ndarray]) -> str:
    error = str(truth.get("error", ""))
    if not error and "map" not in truth:
        error = "no ground truth: neither a map nor a fixation for this image"
    return error
