"""The evaluation job: each stale image's CAM mapped to ground-truth size,
smoothed, and scored raw and smoothed; a PNG and a metrics JSON per image.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from quickgaze.io.files import write_json
from quickgaze.io.images import (
    write_map_png,
)
from quickgaze.io.records import input_tokens, load_npz, output_tokens
from quickgaze.maps.resampling import cam_resampling, cam_to_image
from quickgaze.maps.smoothing import gaussian_smooth_factored
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import is_fresh
from quickgaze.pipeline.provenance import provenance
from quickgaze.pipeline.scoring import record_provenance, score_maps, truth_error, truth_fields
from quickgaze.pipeline.stages import stage_fingerprint
from quickgaze.saliency.fixation_stats import (
    FixationStats,
    load_fixation_stats,
)

log = logging.getLogger("quickgaze")


def evaluate_job(ids: list[str], cams: dict[str, Path], truths: dict[str, Path], stats: Path,
                 smooth_out: dict[str, Path], metrics_out: dict[str, Path],
                 variant_name: str, sigma: float, seed: int, workers: int = 1) -> int:
    """Smooth each stale image's CAM and score raw and smoothed maps.

    Writes ``smooth_out[id]`` (8-bit PNG at ground-truth size) and then
    ``metrics_out[id]`` (JSON, written last so it marks completion, with the
    PNG's identity as ``output_tokens``: a damaged or replaced PNG makes the
    image stale). ``stats``
    is the dataset's fixation-statistics file (centre bias, shuffled-AUC
    pool); its content, not its date, enters the fingerprint. An image whose
    CAM or ground truth is missing gets ``status: error`` with the reason and
    a 1x1 placeholder PNG. The record's ``provenance`` is this stage's
    (:func:`quickgaze.pipeline.provenance.provenance`) with the CAM record's under ``cam``
    (its device, weights, code and versions).
    """
    fixation_context = load_fixation_stats(stats)
    fp = stage_fingerprint("evaluation", {"sigma": sigma, "seed": seed},
                           data={"stats": fixation_context.digest})

    def compute(batch: list[str]) -> None:
        for i in batch:
            cam = load_npz(cams[i])
            record = evaluate_image(cam, load_npz(truths[i]), sigma, fixation_context, i, seed)
            record.update(image=i, variant=variant_name, fingerprint=fp,
                          provenance=provenance("evaluation", cam=record_provenance(cam)),
                          cam_path=str(cams[i]), smooth_path=str(smooth_out[i]),
                          input_tokens=input_tokens({"cam": cams[i], "truth": truths[i]}))
            write_map_png(smooth_out[i], record.pop("smooth"))
            record["output_tokens"] = output_tokens({"smooth": smooth_out[i]})
            if record["status"] != "ok":
                log.warning("%s: %s", i, record["error"])
            write_json(metrics_out[i], record)

    def fresh(i: str) -> bool:
        return is_fresh(metrics_out[i], fp, inputs={"cam": cams[i], "truth": truths[i]},
                        outputs={"smooth": smooth_out[i]})

    return run_stale(ids, fresh, compute, chunk=16, what="evaluate", workers=workers)


def evaluate_image(cam: dict[str, np.ndarray], truth: dict[str, np.ndarray], sigma: float,
                   stats: FixationStats, image: str, seed: int) -> dict[str, Any]:
    """Metrics record of one image from its CAM and ground-truth records.

    The raw CAM is mapped to ground-truth size (see
    :func:`~quickgaze.maps.resampling.cam_resampling`) and smoothed with a Gaussian
    of ``sigma`` px (:func:`~quickgaze.maps.smoothing.gaussian_smooth_factored`).
    Returns a dict with ``status``, ``error``, ``warnings``, the CAM's
    bookkeeping, the metrics (``<name>_raw`` and ``<name>_smooth``, see
    :data:`quickgaze.saliency.metrics.METRICS`; fixation metrics NaN when the image has
    no fixation) and ``smooth``, the smoothed map to save. AUC negatives are seeded from ``seed`` and ``image``.
    """
    record = truth_fields(truth)
    flipped = float(cam.get("sign_flipped", np.nan))
    notes = "; ".join(filter(None, (record["warnings"], str(cam.get("warnings", "")))))
    record.update(weights_label=str(cam.get("weights_label", "")),
                  explained_variance=float(cam.get("explained_variance", np.nan)),
                  sign_flipped=None if np.isnan(flipped) else bool(flipped),
                  converged=bool(cam.get("converged", True)), warnings=notes)
    error = str(cam.get("error", "")) or truth_error(truth)
    if error:
        record.update(status="error", error=error, smooth=np.zeros((1, 1), np.float32))
        return record
    _add_cam_degenerate(record, cam)
    shape = tuple(truth["map"].shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        extent, offset = tuple(cam["extent"]), tuple(cam.get("offset", (0.0, 0.0)))
        raw = cam_to_image(cam["cam"], extent, shape, offset)
        rows, cols = cam_resampling(cam["cam"].shape, extent, shape, offset)
        smooth = gaussian_smooth_factored(rows, cam["cam"], cols, sigma)
        return score_maps(record, raw, smooth, truth, stats, image, seed)


def _add_cam_degenerate(record: dict[str, Any], cam: dict[str, np.ndarray]) -> None:
    """For a CAM with fewer than 2 cells along a side (no spatial structure
    there), add a ``degenerate`` reason to ``record``'s ``degenerate`` and
    ``warnings`` (the CAM's own warnings are already in ``warnings``, once)."""
    h, w = cam["cam"].shape[:2]
    if min(h, w) < 2:
        reason = f"degenerate: CAM of {h}x{w} cells, no spatial structure"
        record["degenerate"] = "; ".join(r for r in (record["degenerate"], reason) if r)
        record["warnings"] = "; ".join(n for n in (record["warnings"], reason) if n)

