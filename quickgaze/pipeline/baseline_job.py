"""The baseline job: each baseline map (:mod:`quickgaze.saliency.baselines`) scored on
each stale image exactly as a variant's CAM is scored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from quickgaze.io.files import write_json
from quickgaze.io.records import input_tokens, load_npz
from quickgaze.maps.smoothing import gaussian_smooth
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import is_fresh
from quickgaze.pipeline.provenance import provenance
from quickgaze.pipeline.scoring import score_maps, truth_error, truth_fields
from quickgaze.pipeline.stages import stage_fingerprint
from quickgaze.saliency.baselines import baseline_map
from quickgaze.saliency.fixation_stats import (
    FixationStats,
    load_fixation_stats,
)

log = logging.getLogger("quickgaze")


def baseline_job(ids: list[str], truths: dict[str, Path], stats: Path,
                 metrics_out: dict[str, Path], baseline: str, sigma: float, seed: int,
                 workers: int = 1) -> int:
    """Score baseline ``baseline`` (see :mod:`quickgaze.saliency.baselines`) on each stale
    image, as :func:`evaluate_job` scores a variant: the same JSON keys, with
    the baseline map as the raw map. No PNG is written (the map is the same
    for every image of a size)."""
    fixation_context = load_fixation_stats(stats)
    fp = stage_fingerprint("baseline", {"sigma": sigma, "seed": seed, "baseline": baseline},
                           data={"stats": fixation_context.digest})

    def compute(batch: list[str]) -> None:
        for i in batch:
            record = evaluate_baseline_image(baseline, load_npz(truths[i]), sigma,
                                             fixation_context, i, seed)
            record.pop("smooth")
            record.update(image=i, variant=baseline, fingerprint=fp, cam_path="", smooth_path="",
                          provenance=provenance("baseline"),
                          input_tokens=input_tokens({"truth": truths[i]}))
            if record["status"] != "ok":
                log.warning("%s: %s", i, record["error"])
            write_json(metrics_out[i], record)

    return run_stale(ids, lambda i: is_fresh(metrics_out[i], fp, inputs={"truth": truths[i]}),
                     compute, chunk=64, what=f"baseline {baseline}", workers=workers)


def evaluate_baseline_image(baseline: str, truth: dict[str, np.ndarray], sigma: float,
                            stats: FixationStats, image: str, seed: int) -> dict[str, Any]:
    """Metrics record of baseline ``baseline`` on one image: as
    :func:`evaluate_image`, with the baseline map at ground-truth size as the
    raw map (``weights_label`` names the baseline)."""
    record = truth_fields(truth)
    # A baseline has no principal component, so no sign to flip: null, not False.
    record.update(weights_label=f"baseline:{baseline}", explained_variance=float("nan"),
                  sign_flipped=None, converged=None)
    error = truth_error(truth)
    if error:
        record.update(status="error", error=error, smooth=np.zeros((1, 1), np.float32))
        return record
    raw = baseline_map(baseline, tuple(truth["map"].shape), stats.centre_bias_for(image))
    return score_maps(record, raw, gaussian_smooth(raw, sigma), truth, stats, image, seed)

