"""The per-batch CPU jobs of the workflow: ground truth, fixation statistics,
evaluation, baselines (the CAM job is :mod:`quickgaze.cam_job`; these do not
import torch, which would cost each job seconds).

Each takes the batch's image ids and explicit paths, recomputes only stale
images (see :mod:`quickgaze.batch`) and writes one file per image. A bad image
becomes an error record with its reason; the rest of the batch is kept.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from quickgaze.baselines import (
    FixationStats,
    baseline_map,
    centre_bias_map,
    fixation_stats,
    load_fixation_stats,
    save_fixation_stats,
)
from quickgaze.batch import (
    input_tokens,
    is_fresh,
    load_npz,
    run_stale,
    save_npz,
)
from quickgaze.fixations import (
    load_fixation_records,
    saliency_from_fixations,
    valid_mask,
)
from quickgaze.io import (
    TRANSPOSING_ORIENTATIONS,
    ImageReadError,
    image_orientation,
    image_shape,
    read_map,
    write_json,
    write_map_png,
)
from quickgaze.metrics import Truth, image_seed, prepare_truth, saliency_metrics
from quickgaze.provenance import provenance
from quickgaze.resampling import bilinear_resize, cam_resampling, cam_to_image
from quickgaze.smoothing import gaussian_smooth, gaussian_smooth_factored
from quickgaze.stages import stage_fingerprint

log = logging.getLogger("quickgaze")

# Degenerate images (issue 14): scored, but warned about in their record and
# left out of rankings by default (``degenerate`` names why; "" when fine).
# A side under 32 px is below the stride of the detector's FPN level "3" (32),
# so the network sees less than one cell of real content per side.
MIN_IMAGE_SIDE = 32
# Default of ``evaluation.min_fixations``: fewer fixations than this (inside
# the image) make the fixation metrics noise. SALICON has ~60 observers
# per image, tens of fixations each.
MIN_FIXATIONS = 10


def ground_truth_job(ids: list[str], images: dict[str, Path], maps: dict[str, Path | None],
                     fixations: Path | None, fixation_format: str,
                     outputs: dict[str, Path], workers: int = 1,
                     min_fixations: int = MIN_FIXATIONS) -> int:
    """Write ``outputs[id]`` (``.npz``) for every stale image of the batch.

    Each record holds ``shape`` (image H, W), ``points`` ``(M, 2)`` int32 0-based
    (row, col) fixations inside the image, ``observers`` ``(M,)`` str, who made
    each of ``points`` (empty strings where the source does not name every
    fixation's observer, see :func:`~quickgaze.fixations.load_fixation_records`),
    ``observers_known`` (bool), ``n_dropped`` (outside, dropped),
    ``n_nonfinite`` (NaN or infinite, dropped), ``map`` uint8 ground truth at
    image size (absent when there is neither an official map nor a fixation),
    ``map_source``, ``warnings``, ``degenerate`` (see :func:`truth_degenerate`;
    ``min_fixations`` applies only when the dataset has a fixation source) and
    ``provenance`` (JSON, :func:`quickgaze.provenance.provenance`).
    """
    fp = stage_fingerprint("ground_truth", {"fixation_format": fixation_format,
                                            "min_fixations": min_fixations})
    prov = json.dumps(provenance("ground_truth"), sort_keys=True)
    parsed: dict[str, np.ndarray] | None = None
    observers: dict[str, np.ndarray | None] = {}
    declared: dict[str, tuple[int, int]] = {}
    parsing = threading.Lock()  # chunks run on `workers` threads; parse the file once

    def sources(i: str) -> dict[str, Path | None]:
        return {"image": images[i], "map": maps.get(i), "fixations": fixations}

    def compute(batch: list[str]) -> None:
        nonlocal parsed, observers, declared
        with parsing:
            if parsed is None and fixations is not None:
                parsed, observers, declared = load_fixation_records(fixations, fixation_format,
                                                                    ids)
        for i in batch:
            notes: list[str] = []
            record: dict[str, Any] = {"fingerprint": fp, "error": "", "provenance": prov}
            try:
                shape = image_shape(images[i])
                size_error = declared_size_error(images[i], shape, declared.get(i), fixations)
            except ImageReadError as err:
                size_error = str(err)
            if size_error:
                record.update(error=size_error,
                              shape=np.zeros(2, int), points=np.zeros((0, 2), np.int32),
                              observers=np.zeros(0, dtype="<U1"), observers_known=False,
                              n_dropped=0, n_nonfinite=0, map_source="", warnings="")
                save_npz(outputs[i], inputs=sources(i), **record)
                continue
            pts = parsed.get(i) if parsed is not None else None
            who = observers.get(i)
            if pts is None:
                pts = np.zeros((0, 2))
            finite = np.isfinite(pts).all(axis=1)
            nonfinite = int((~finite).sum())
            if nonfinite:
                notes.append(f"{nonfinite} non-finite fixations (NaN or infinite) dropped")
            inside = valid_mask(pts, shape)
            kept = np.round(pts[inside]).astype(np.int64)
            dropped = int(finite.sum() - inside.sum())
            who_kept = (np.asarray(who, dtype=str)[inside] if who is not None
                        else np.full(len(kept), "", dtype="<U1"))
            if dropped:
                notes.append(f"{dropped} fixations outside the {shape[0]}x{shape[1]} image dropped")
            if fixations is not None and not len(kept):
                notes.append("no valid fixation: fixation metrics not available"
                             if i in (parsed or {})
                             else f"not in {fixations}: fixation metrics not available")
            gt, source = None, ""
            if maps.get(i) is not None:
                gt, source = read_map(maps[i]), "official"
                if gt.shape != shape:
                    notes.append(f"map {maps[i]} is {gt.shape[0]}x{gt.shape[1]}, "
                                 f"resized to the image's {shape[0]}x{shape[1]}")
                    gt = bilinear_resize(gt, shape)
            elif len(kept):
                gt, source = saliency_from_fixations(kept, shape), "fixations"
            degenerate = truth_degenerate(shape, gt, len(kept),
                                          min_fixations if fixations is not None else 0)
            notes.extend(degenerate)
            for note in notes:
                log.warning("%s: %s", i, note)
            record.update(shape=np.array(shape), points=kept.astype(np.int32),
                          observers=who_kept, observers_known=who is not None, n_dropped=dropped,
                          n_nonfinite=nonfinite, map_source=source, warnings="; ".join(notes),
                          degenerate="; ".join(degenerate))
            if gt is not None:
                record["map"] = np.round(np.clip(gt, 0, 1) * 255).astype(np.uint8)
            save_npz(outputs[i], inputs=sources(i), **record)

    return run_stale(ids, lambda i: is_fresh(outputs[i], fp, sources(i)), compute,
                     chunk=64, what="ground truth", workers=workers)


def truth_degenerate(shape: tuple[int, int], gt: np.ndarray | None, n_fixations: int,
                     min_fixations: int) -> list[str]:
    """Why an image's ground truth makes it degenerate (empty list: it does not).

    An image with a side under :data:`MIN_IMAGE_SIDE`; a ground-truth map that
    is constant (every metric of it is undefined or meaningless); fewer than
    ``min_fixations`` fixations inside the image (0 turns this check off).
    """
    why = []
    if min(shape) < MIN_IMAGE_SIDE:
        why.append(f"degenerate: image is {shape[0]}x{shape[1]}, a side under the "
                   f"{MIN_IMAGE_SIDE} px the detector needs")
    if gt is not None and float(np.max(gt)) == float(np.min(gt)):
        why.append(f"degenerate: constant ground-truth map (every pixel {float(np.max(gt)):g})")
    if n_fixations < min_fixations:
        why.append(f"degenerate: {n_fixations} fixations in the image, fewer than "
                   f"evaluation.min_fixations ({min_fixations})")
    return why


def declared_size_error(image: Path, shape: tuple[int, int], declared: tuple[int, int] | None,
                        source: Path | None) -> str:
    """"" when ``declared`` (the ``(H, W)`` the fixation source gives the image)
    is None or matches ``shape`` (the image as displayed), else the error.

    A mismatch that a transpose explains says so, and whether the image's
    EXIF orientation tag is what turns it (the fixations were then recorded
    on the stored, unrotated pixels); any other names both sizes. Either is an
    error, not a warning: fixations on a differently shaped image cannot be
    trusted to land on what was looked at.
    """
    if declared is None or tuple(declared) == tuple(shape):
        return ""
    h, w = shape
    dh, dw = declared
    if (dh, dw) == (w, h):
        orientation = image_orientation(image)
        why = (f"its EXIF orientation tag ({orientation}) turns the stored {w}x{h} pixels for "
               f"display, and the fixations fit the stored orientation"
               if orientation in TRANSPOSING_ORIENTATIONS else
               "the image is transposed (turned by 90 degrees) relative to its fixations")
        return (f"{image} is {h}x{w} (HxW, as displayed) but {source} declares {dh}x{dw}: {why}; "
                f"fix the image or the fixation file")
    return (f"{image} is {h}x{w} (HxW, as displayed) but {source} declares {dh}x{dw} for it; "
            f"the fixations belong to a differently sized image")


def fixation_stats_job(ids: list[str], truths: dict[str, Path], output: Path,
                       centre_bias_sigma: str | float | list, n_others: int, seed: int) -> None:
    """Write the dataset's :class:`~quickgaze.baselines.FixationStats` (``.npz``)
    from every image's ground-truth record. The maps are read only when no
    image has a fixation (to fit the centre bias on them). The file names the
    ground-truth records, from which the evaluation jobs read the fixations
    of each image's shuffled-AUC others; it holds a hash of every image's
    fixations, so a changed record changes its digest."""
    points: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    for i in ids:
        with np.load(truths[i]) as z:
            if not str(z["error"]):
                points[i] = (z["points"].astype(np.int64), tuple(int(v) for v in z["shape"]))

    def maps():
        for i in points:
            with np.load(truths[i]) as z:
                if "map" in z.files:
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


def evaluate_job(ids: list[str], cams: dict[str, Path], truths: dict[str, Path], stats: Path,
                 smooth_out: dict[str, Path], metrics_out: dict[str, Path],
                 variant_name: str, sigma: float, seed: int, workers: int = 1) -> int:
    """Smooth each stale image's CAM and score raw and smoothed maps.

    Writes ``smooth_out[id]`` (8-bit PNG at ground-truth size) and then
    ``metrics_out[id]`` (JSON, written last so it marks completion). ``stats``
    is the dataset's fixation-statistics file (centre bias, shuffled-AUC
    pool); its content, not its date, enters the fingerprint. An image whose
    CAM or ground truth is missing gets ``status: error`` with the reason and
    a 1x1 placeholder PNG. The record's ``provenance`` is this stage's
    (:func:`quickgaze.provenance.provenance`) with the CAM record's under ``cam``
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
            if record["status"] != "ok":
                log.warning("%s: %s", i, record["error"])
            write_json(metrics_out[i], record)

    def fresh(i: str) -> bool:
        return is_fresh(metrics_out[i], fp, extra=[smooth_out[i]],
                        inputs={"cam": cams[i], "truth": truths[i]})

    return run_stale(ids, fresh, compute, chunk=16, what="evaluate", workers=workers)


def baseline_job(ids: list[str], truths: dict[str, Path], stats: Path,
                 metrics_out: dict[str, Path], baseline: str, sigma: float, seed: int,
                 workers: int = 1) -> int:
    """Score baseline ``baseline`` (see :mod:`quickgaze.baselines`) on each stale
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
    (:meth:`~quickgaze.baselines.FixationStats.other_fixated`) and the centre
    bias of the information gain, fitted without this image
    (:meth:`~quickgaze.baselines.FixationStats.centre_bias_for`)."""
    gt = truth["map"].astype(np.float32) / 255.0
    shape = (gt.shape[0], gt.shape[1])
    points = truth["points"] if len(truth["points"]) else None
    return prepare_truth(gt, points, stats.other_fixated(image, shape),
                         centre_bias_map(shape, stats.centre_bias_for(image)),
                         image_seed(seed, image))


def _truth_fields(truth: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"status": "ok", "error": "", "warnings": str(truth.get("warnings", "")),
            "n_fixations": len(truth["points"]), "n_dropped": int(truth["n_dropped"]),
            "n_nonfinite": int(truth.get("n_nonfinite", 0)),
            "degenerate": str(truth.get("degenerate", "")),
            "map_source": str(truth["map_source"])}


def _score(record: dict[str, Any], raw: np.ndarray, smooth: np.ndarray,
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


def _truth_error(truth: dict[str, np.ndarray]) -> str:
    error = str(truth.get("error", ""))
    if not error and "map" not in truth:
        error = "no ground truth: neither a map nor a fixation for this image"
    return error


def evaluate_image(cam: dict[str, np.ndarray], truth: dict[str, np.ndarray], sigma: float,
                   stats: FixationStats, image: str, seed: int) -> dict[str, Any]:
    """Metrics record of one image from its CAM and ground-truth records.

    The raw CAM is mapped to ground-truth size (see
    :func:`~quickgaze.resampling.cam_resampling`) and smoothed with a Gaussian
    of ``sigma`` px (:func:`~quickgaze.smoothing.gaussian_smooth_factored`).
    Returns a dict with ``status``, ``error``, ``warnings``, the CAM's
    bookkeeping, the metrics (``<name>_raw`` and ``<name>_smooth``, see
    :data:`quickgaze.metrics.METRICS`; fixation metrics NaN when the image has
    no fixation) and ``smooth``, the smoothed map to save. AUC negatives are seeded from ``seed`` and ``image``.
    """
    record = _truth_fields(truth)
    flipped = float(cam.get("sign_flipped", np.nan))
    notes = "; ".join(filter(None, (record["warnings"], str(cam.get("warnings", "")))))
    record.update(weights_label=str(cam.get("weights_label", "")),
                  explained_variance=float(cam.get("explained_variance", np.nan)),
                  sign_flipped=None if np.isnan(flipped) else bool(flipped),
                  converged=bool(cam.get("converged", True)), warnings=notes)
    error = str(cam.get("error", "")) or _truth_error(truth)
    if error:
        record.update(status="error", error=error, smooth=np.zeros((1, 1), np.float32))
        return record
    _add_cam_notes(record, cam)
    shape = tuple(truth["map"].shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        extent, offset = tuple(cam["extent"]), tuple(cam.get("offset", (0.0, 0.0)))
        raw = cam_to_image(cam["cam"], extent, shape, offset)
        rows, cols = cam_resampling(cam["cam"].shape, extent, shape, offset)
        smooth = gaussian_smooth_factored(rows, cam["cam"], cols, sigma)
        return _score(record, raw, smooth, truth, stats, image, seed)


def _add_cam_notes(record: dict[str, Any], cam: dict[str, np.ndarray]) -> None:
    """Add the CAM's own warnings (a downscale, say) and, for a CAM with fewer
    than 2 cells along a side (no spatial structure there), a ``degenerate``
    reason to ``record``'s ``warnings`` and ``degenerate``."""
    notes = [str(cam.get("warnings", ""))]
    h, w = cam["cam"].shape[:2]
    if min(h, w) < 2:
        reason = f"degenerate: CAM of {h}x{w} cells, no spatial structure"
        record["degenerate"] = "; ".join(r for r in (record["degenerate"], reason) if r)
        notes.append(reason)
    record["warnings"] = "; ".join(n for n in (record["warnings"], *notes) if n)


def evaluate_baseline_image(baseline: str, truth: dict[str, np.ndarray], sigma: float,
                            stats: FixationStats, image: str, seed: int) -> dict[str, Any]:
    """Metrics record of baseline ``baseline`` on one image: as
    :func:`evaluate_image`, with the baseline map at ground-truth size as the
    raw map (``weights_label`` names the baseline)."""
    record = _truth_fields(truth)
    # A baseline has no principal component, so no sign to flip: null, not False.
    record.update(weights_label=f"baseline:{baseline}", explained_variance=float("nan"),
                  sign_flipped=None, converged=None)
    error = _truth_error(truth)
    if error:
        record.update(status="error", error=error, smooth=np.zeros((1, 1), np.float32))
        return record
    raw = baseline_map(baseline, tuple(truth["map"].shape), stats.centre_bias_for(image))
    return _score(record, raw, gaussian_smooth(raw, sigma), truth, stats, image, seed)
