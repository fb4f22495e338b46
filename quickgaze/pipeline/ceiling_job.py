"""The ceiling job: each human ceiling (:mod:`quickgaze.saliency.ceiling`) scored on
each stale image, written as the same per-image metrics JSON as a variant's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quickgaze.io.files import write_json
from quickgaze.io.records import NOT_AVAILABLE, input_tokens, load_npz
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import is_fresh
from quickgaze.pipeline.provenance import provenance
from quickgaze.pipeline.scoring import truth_error, truth_fields
from quickgaze.pipeline.stages import stage_fingerprint
from quickgaze.saliency.ceiling import ceiling_scores
from quickgaze.saliency.fixation_stats import FixationStats, load_fixation_stats

log = logging.getLogger("quickgaze")


def evaluate_ceiling_image(ceiling: str, truth: Mapping[str, np.ndarray], stats: FixationStats,
                           image: str, seed: int, repeats: int,
                           one_human_observers: int | None,
                           infinite_repeats: int) -> dict[str, Any]:
    """Metrics record of ``ceiling`` on one image, with the keys of
    :func:`quickgaze.pipeline.baseline_job.evaluate_baseline_image` (``weights_label``
    ``ceiling:<name>``; the scores under ``_raw`` and ``_smooth``)."""
    record = truth_fields(truth)
    record.update(weights_label=f"ceiling:{ceiling}", explained_variance=float("nan"),
                  sign_flipped=None, converged=None)
    error = truth_error(truth)
    if error:
        record.update(status="error", error=error)
        return record
    try:
        scores, extra = ceiling_scores(ceiling, truth, stats, image, seed, repeats,
                                       one_human_observers, infinite_repeats)
    except ValueError as err:
        if not str(err).startswith(NOT_AVAILABLE):
            raise
        record.update(status="error", error=str(err))
        return record
    record.update(extra)
    for name, value in scores.items():
        record[f"{name}_raw"] = value
        record[f"{name}_smooth"] = value
    return record


def ceiling_job(ids: list[str], truths: Mapping[str, Path], stats: Path,
                metrics_out: Mapping[str, Path], ceiling: str, repeats: int, seed: int,
                one_human_observers: int | None, infinite_repeats: int,
                workers: int = 1) -> int:
    """Score ceiling ``ceiling`` on each stale image of a batch, as
    :func:`quickgaze.pipeline.baseline_job.baseline_job` scores a baseline: one metrics JSON per
    image, fresh when its fingerprint (stage ``ceiling``: these parameters,
    the code, the fixation statistics' digest) and its ground truth's content
    token are unchanged. Returns the number of images computed."""
    fixation_context = load_fixation_stats(stats)
    params = {"ceiling": ceiling, "repeats": repeats, "seed": seed,
              "one_human_observers": one_human_observers, "infinite_repeats": infinite_repeats}
    fp = stage_fingerprint("ceiling", params, data={"stats": fixation_context.digest})

    def compute(batch: list[str]) -> None:
        for i in batch:
            record = evaluate_ceiling_image(ceiling, load_npz(truths[i]), fixation_context, i,
                                            seed, repeats, one_human_observers,
                                            infinite_repeats)
            record.update(image=i, variant=ceiling, fingerprint=fp, cam_path="", smooth_path="",
                          provenance=provenance("ceiling"),
                          input_tokens=input_tokens({"truth": truths[i]}))
            if record["status"] != "ok":
                log.warning("%s: %s", i, record["error"])
            write_json(metrics_out[i], record)

    def fresh(i: str) -> bool:
        return is_fresh(metrics_out[i], fp, inputs={"truth": truths[i]})

    return run_stale(ids, fresh, compute, chunk=8, what=f"ceiling {ceiling}", workers=workers)

