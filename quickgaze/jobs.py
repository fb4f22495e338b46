"""The per-batch jobs of the workflow: ground truth, CAM, evaluation.

Each takes the batch's image ids and explicit paths, recomputes only stale
images (see :mod:`quickgaze.batch`) and writes one file per image. A bad image
becomes an error record with its reason; the rest of the batch is kept.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F

from quickgaze.batch import fingerprint, is_fresh, load_npz, run_stale, save_npz
from quickgaze.cam import ENGINE_VERSION, CamSettings, cam_to_image, compute_cams
from quickgaze.fixations import load_fixations, saliency_from_fixations, valid_points
from quickgaze.io import read_map, read_rgb, write_json, write_map_png
from quickgaze.metrics import saliency_metrics
from quickgaze.models import build_detector, resolve_device, weights_label
from quickgaze.smoothing import gaussian_smooth

log = logging.getLogger("quickgaze")


def image_shape(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image file, from its header when the format allows."""
    props = iio.improps(path)
    return int(props.shape[0]), int(props.shape[1])


def resize_map(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a ``(h, w)`` map to ``shape`` (half-pixel centres)."""
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape, mode="bilinear")[0, 0].numpy()


def ground_truth_job(ids: list[str], images: dict[str, Path], maps: dict[str, Path | None],
                     fixations: Path | None, fixation_format: str,
                     outputs: dict[str, Path]) -> int:
    """Write ``outputs[id]`` (``.npz``) for every stale image of the batch.

    Each record holds ``shape`` (image H, W), ``points`` ``(M, 2)`` int32 0-based
    (row, col) fixations inside the image, ``n_dropped`` (outside, dropped),
    ``map`` uint8 ground truth at image size (absent when there is neither an
    official map nor a fixation), ``map_source`` and ``warnings``.
    """
    fp = fingerprint({"fixation_format": fixation_format, "sigma": 19.0})
    parsed: dict[str, np.ndarray] | None = None

    def sources(i: str) -> list[Path]:
        return [p for p in (images[i], maps.get(i), fixations) if p is not None]

    def compute(batch: list[str]) -> None:
        nonlocal parsed
        if parsed is None and fixations is not None:
            parsed = load_fixations(fixations, fixation_format, ids)
        for i in batch:
            notes: list[str] = []
            record: dict[str, Any] = {"fingerprint": fp, "error": ""}
            try:
                shape = image_shape(images[i])
            except Exception as err:
                record.update(error=f"{images[i]}: cannot read image ({err})",
                              shape=np.zeros(2, int), points=np.zeros((0, 2), np.int32),
                              n_dropped=0, map_source="", warnings="")
                save_npz(outputs[i], **record)
                continue
            pts = parsed.get(i) if parsed is not None else None
            kept, dropped = valid_points(pts, shape) if pts is not None else (
                np.zeros((0, 2), np.int64), 0)
            if dropped:
                notes.append(f"{dropped} fixations outside the {shape[0]}x{shape[1]} image dropped")
            gt, source = None, ""
            if maps.get(i) is not None:
                gt, source = read_map(maps[i]), "official"
                if gt.shape != shape:
                    notes.append(f"map {maps[i]} is {gt.shape[0]}x{gt.shape[1]}, "
                                 f"resized to the image's {shape[0]}x{shape[1]}")
                    gt = resize_map(gt, shape)
            elif len(kept):
                gt, source = saliency_from_fixations(kept, shape), "fixations"
            for note in notes:
                log.warning("%s: %s", i, note)
            record.update(shape=np.array(shape), points=kept.astype(np.int32), n_dropped=dropped,
                          map_source=source, warnings="; ".join(notes))
            if gt is not None:
                record["map"] = np.round(np.clip(gt, 0, 1) * 255).astype(np.uint8)
            save_npz(outputs[i], **record)

    return run_stale(ids, lambda i: is_fresh(outputs[i], fp, sources(i)), compute,
                     chunk=64, what="ground truth")


def cam_params(variant: dict[str, Any], seed: int) -> dict[str, Any]:
    """The parameters a CAM depends on (its fingerprint), from a variant block."""
    keys = ("model", "weights", "input_scale", "levels", "grid", "sign_policy", "crop_padding")
    params = {k: variant[k] for k in keys}
    params["seed"] = seed
    params["engine"] = ENGINE_VERSION
    if params["weights"] not in ("coco", "none"):
        p = Path(params["weights"])
        params["weights_file"] = [p.stat().st_size, p.stat().st_mtime] if p.exists() else None
    return params


def cam_settings(variant: dict[str, Any]) -> CamSettings:
    levels = variant["levels"]
    return CamSettings(levels=("all",) if levels == "all" else tuple(str(v) for v in levels),
                       grid=str(variant["grid"]), input_scale=variant["input_scale"],
                       sign_policy=variant["sign_policy"], crop_padding=variant["crop_padding"])


def cam_job(ids: list[str], images: dict[str, Path], outputs: dict[str, Path],
            variant: dict[str, Any], device: str, seed: int, forward_batch: int) -> int:
    """Write the CAM record ``outputs[id]`` (``.npz``) of every stale image.

    The detector is built once, and only if some image needs it. Record keys:
    ``cam`` ``(h, w)`` float32, ``extent``, ``explained_variance``,
    ``sign_flipped``, ``image_shape``, ``weights_label``, ``error``.
    Returns the number of images that went through the network.
    """
    fp = fingerprint(cam_params(variant, seed))
    label = weights_label(variant["weights"])
    settings = cam_settings(variant)
    state: dict[str, Any] = {}

    def compute(batch: list[str]) -> None:
        if "model" not in state:
            state["device"] = resolve_device(device)
            state["model"] = build_detector(variant["model"], variant["weights"], seed).to(
                state["device"])
            log.info("model %s (%s) on %s", variant["model"], label, state["device"])
        good, arrays = [], []
        for i in batch:
            try:
                arrays.append(read_rgb(images[i]))
                good.append(i)
            except Exception as err:
                log.warning("%s: %s", i, err)
                save_npz(outputs[i], error=str(err), fingerprint=fp, weights_label=label)
        if not good:
            return
        results = compute_cams(state["model"], arrays, settings, state["device"])
        for i, img, res in zip(good, arrays, results):
            if res.error:
                log.warning("%s: %s", i, res.error)
            save_npz(outputs[i], cam=res.cam, extent=np.array(res.extent),
                     explained_variance=res.explained_variance, sign_flipped=res.sign_flipped,
                     image_shape=np.array(img.shape[:2]), error=res.error, fingerprint=fp,
                     weights_label=label)

    return run_stale(ids, lambda i: is_fresh(outputs[i], fp, [images[i]]), compute,
                     chunk=forward_batch, what="CAM forward")


def evaluate_job(ids: list[str], cams: dict[str, Path], truths: dict[str, Path],
                 smooth_out: dict[str, Path], metrics_out: dict[str, Path],
                 variant_name: str, sigma: float) -> int:
    """Smooth each stale image's CAM and score raw and smoothed maps.

    Writes ``smooth_out[id]`` (8-bit PNG at ground-truth size) and then
    ``metrics_out[id]`` (JSON, written last so it marks completion). An image
    whose CAM or ground truth is missing gets ``status: error`` with the
    reason and a 1x1 placeholder PNG.
    """
    fp = fingerprint({"sigma": sigma})

    def compute(batch: list[str]) -> None:
        for i in batch:
            record = evaluate_image(load_npz(cams[i]), load_npz(truths[i]), sigma)
            record.update(image=i, variant=variant_name, fingerprint=fp,
                          cam_path=str(cams[i]), smooth_path=str(smooth_out[i]))
            write_map_png(smooth_out[i], record.pop("smooth"))
            if record["status"] != "ok":
                log.warning("%s: %s", i, record["error"])
            write_json(metrics_out[i], record)

    def fresh(i: str) -> bool:
        return is_fresh(metrics_out[i], fp, [cams[i], truths[i]], extra=[smooth_out[i]])

    return run_stale(ids, fresh, compute, chunk=16, what="evaluate")


def evaluate_image(cam: dict[str, np.ndarray], truth: dict[str, np.ndarray],
                   sigma: float) -> dict[str, Any]:
    """Metrics record of one image from its CAM and ground-truth records.

    The raw CAM is mapped to ground-truth size (see :func:`cam_to_image`) and
    smoothed with a Gaussian of ``sigma`` px. Returns a dict with ``status``,
    ``error``, ``warnings``, the CAM's bookkeeping, the metrics (``<name>_raw``
    and ``<name>_smooth``) and ``smooth``, the smoothed map to save.
    """
    record: dict[str, Any] = {
        "status": "ok", "error": "", "warnings": str(truth.get("warnings", "")),
        "weights_label": str(cam.get("weights_label", "")),
        "explained_variance": float(cam.get("explained_variance", np.nan)),
        "sign_flipped": bool(cam.get("sign_flipped", False)),
        "n_fixations": int(len(truth["points"])), "n_dropped": int(truth["n_dropped"]),
        "map_source": str(truth["map_source"]),
    }
    error = str(cam.get("error", "")) or str(truth.get("error", ""))
    if not error and "map" not in truth:
        error = "no ground truth: neither a map nor a fixation for this image"
    if error:
        record.update(status="error", error=error, smooth=np.zeros((1, 1), np.float32))
        return record
    gt = truth["map"].astype(np.float32) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = cam_to_image(cam["cam"], tuple(cam["extent"]), gt.shape)
        smooth = gaussian_smooth(raw, sigma)
        for name, value in saliency_metrics(raw, gt).items():
            record[f"{name}_raw"] = value
        for name, value in saliency_metrics(smooth, gt).items():
            record[f"{name}_smooth"] = value
    record["smooth"] = smooth
    return record
