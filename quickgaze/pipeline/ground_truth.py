"""The ground-truth job: one record per image (fixations inside the image, who
made them, the ground-truth map, why it is degenerate), from the dataset's
maps and fixation source.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from quickgaze.io.images import (
    TRANSPOSING_ORIENTATIONS,
    ImageReadError,
    image_orientation,
    image_shape,
    read_map,
)
from quickgaze.io.records import save_npz
from quickgaze.maps.resampling import bilinear_resize
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import is_fresh
from quickgaze.pipeline.provenance import provenance
from quickgaze.pipeline.stages import stage_fingerprint
from quickgaze.saliency.fixations import load_fixation_records, saliency_from_fixations, valid_mask

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
    fixation's observer, see :func:`~quickgaze.saliency.fixations.load_fixation_records`),
    ``observers_known`` (bool), ``n_dropped`` (outside, dropped),
    ``n_nonfinite`` (NaN or infinite, dropped), ``map`` uint8 ground truth at
    image size (absent when there is neither an official map nor a fixation),
    ``map_source``, ``warnings``, ``degenerate`` (see :func:`truth_degenerate`;
    ``min_fixations`` applies only when the dataset has a fixation source) and
    ``provenance`` (JSON, :func:`quickgaze.pipeline.provenance.provenance`).
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

