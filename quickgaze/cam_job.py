"""The CAM batch job: the detector loaded once, images decoded while it runs,
one CAM record per stale image (see :mod:`quickgaze.batch`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quickgaze.batch import Progress, is_fresh, save_npz, stale_items
from quickgaze.cam import CamSettings, compute_cams
from quickgaze.io import NATIVE_MAX_PIXELS, ImageReadError, native_size_guard, read_rgb
from quickgaze.models import build_detector, resolve_device
from quickgaze.stages import stage_fingerprint
from quickgaze.weights import local_weights, weights_label

log = logging.getLogger("quickgaze")


def weights_source(variant: dict[str, Any]) -> dict[str, Path]:
    """A local weights file as an input of every CAM record (its content identity is
    stored, see :func:`quickgaze.batch.is_fresh`); none for ``coco`` and ``none``."""
    path = local_weights(variant["weights"])
    return {} if path is None else {"weights": path}


def cam_settings(variant: dict[str, Any]) -> CamSettings:
    levels = variant["levels"]
    return CamSettings(levels=("all",) if levels == "all" else tuple(str(v) for v in levels),
                       grid=str(variant["grid"]), input_scale=variant["input_scale"],
                       sign_policy=variant["sign_policy"], crop_padding=variant["crop_padding"])


def size_guard(variant: dict[str, Any]) -> tuple[int | None, str] | None:
    """``(native_max_pixels, native_oversize)`` of a native-scale variant (see
    :func:`quickgaze.io.native_size_guard`); None at detector scale, whose
    transform resizes every image anyway."""
    if variant["input_scale"] != "native":
        return None
    return (variant.get("native_max_pixels", NATIVE_MAX_PIXELS),
            variant.get("native_oversize", "downscale"))


class DecodedImages(torch.utils.data.Dataset):
    """Images decoded in DataLoader workers: item ``k`` is ``(id, (H, W, 3) uint8
    tensor or None, error message, note)``, so decoding overlaps the network.
    ``guard``: see :func:`size_guard`; its note (a downscale) goes to the record."""

    def __init__(self, ids: list[str], paths: dict[str, Path],
                 guard: tuple[int | None, str] | None = None) -> None:
        self.ids, self.paths, self.guard = ids, paths, guard

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> tuple[str, torch.Tensor | None, str, str]:
        i = self.ids[k]
        try:
            image, note = read_rgb(self.paths[i]), ""
            if self.guard is not None:
                image, note = native_size_guard(image, self.paths[i], *self.guard)
            return i, torch.from_numpy(image), "", note
        except ImageReadError as err:
            return i, None, str(err), ""


def image_loader(ids: list[str], paths: dict[str, Path], batch: int, workers: int,
                 pin: bool, guard: tuple[int | None, str] | None = None
                 ) -> torch.utils.data.DataLoader:
    """Batches of decoded images in ``ids`` order, prefetched by ``workers`` processes."""
    return torch.utils.data.DataLoader(
        DecodedImages(ids, paths, guard), batch_size=batch, num_workers=workers, pin_memory=pin,
        collate_fn=list, prefetch_factor=2 if workers else None)


def cam_job(ids: list[str], images: dict[str, Path], outputs: dict[str, Path],
            variant: dict[str, Any], device: str, seed: int, forward_batch: int,
            loader_workers: int = 1) -> int:
    """Write the CAM record ``outputs[id]`` (``.npz``) of every stale image.

    The detector is built once, and only if some image needs it; images are
    decoded by ``loader_workers`` processes while the network runs (pinned
    memory on CUDA). Record keys: ``cam`` ``(h, w)`` float32, ``extent``, ``offset``,
    ``explained_variance``, ``sign_flipped`` (float: 1 or 0, NaN where no
    reference sign exists, see :class:`~quickgaze.cam.CamResult`),
    ``converged``, ``image_shape``, ``weights_label``, ``error``, ``warnings``
    (a native-scale downscale, see :func:`size_guard`, when ``image_shape`` is
    the downscaled size; the solver's notes). Returns the number of stale images.
    """
    fp = stage_fingerprint("cam", {"variant": variant, "seed": seed})
    label = weights_label(variant["weights"])
    settings = cam_settings(variant)

    def sources(i: str) -> dict[str, Path | None]:
        return {"image": images[i], **weights_source(variant)}

    stale = stale_items(ids, lambda i: is_fresh(outputs[i], fp, sources(i)), "CAM forward")
    progress = Progress("CAM forward", len(stale))
    if not stale:
        return progress.finish()
    dev = resolve_device(device)
    model = build_detector(variant["model"], variant["weights"], seed).to(dev)
    log.info("model %s (%s) on %s", variant["model"], label, dev)
    for batch in image_loader(stale, images, forward_batch, loader_workers, dev.type == "cuda",
                              size_guard(variant)):
        for i, _, err, _ in batch:
            if err:
                log.warning("%s: %s", i, err)
                save_npz(outputs[i], inputs=sources(i), error=err, fingerprint=fp,
                         weights_label=label)
        good = [(i, img, note) for i, img, err, note in batch if not err]
        if good:
            results = compute_cams(model, [img for _, img, _ in good], settings, dev)
            for (i, img, note), res in zip(good, results):
                notes = "; ".join(filter(None, (note, res.warnings)))
                for message in (notes, res.error):
                    if message:
                        log.warning("%s: %s", i, message)
                save_npz(outputs[i], inputs=sources(i), cam=res.cam,
                         extent=np.array(res.extent), offset=np.array(res.offset),
                         explained_variance=res.explained_variance,
                         sign_flipped=np.nan if res.sign_flipped is None else res.sign_flipped,
                         converged=res.converged, image_shape=np.array(img.shape[:2]),
                         error=res.error, fingerprint=fp, weights_label=label, warnings=notes)
        progress.advance(len(batch))
    return progress.finish()
