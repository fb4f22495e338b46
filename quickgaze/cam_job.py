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
from quickgaze.io import ImageReadError, read_rgb
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


class DecodedImages(torch.utils.data.Dataset):
    """Images decoded in DataLoader workers: item ``k`` is ``(id, (H, W, 3) uint8
    tensor or None, error message)``, so decoding overlaps the network."""

    def __init__(self, ids: list[str], paths: dict[str, Path]) -> None:
        self.ids, self.paths = ids, paths

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> tuple[str, torch.Tensor | None, str]:
        i = self.ids[k]
        try:
            return i, torch.from_numpy(read_rgb(self.paths[i])), ""
        except ImageReadError as err:
            return i, None, str(err)


def image_loader(ids: list[str], paths: dict[str, Path], batch: int, workers: int,
                 pin: bool) -> torch.utils.data.DataLoader:
    """Batches of decoded images in ``ids`` order, prefetched by ``workers`` processes."""
    return torch.utils.data.DataLoader(
        DecodedImages(ids, paths), batch_size=batch, num_workers=workers, pin_memory=pin,
        collate_fn=list, prefetch_factor=2 if workers else None)


def cam_job(ids: list[str], images: dict[str, Path], outputs: dict[str, Path],
            variant: dict[str, Any], device: str, seed: int, forward_batch: int,
            loader_workers: int = 1) -> int:
    """Write the CAM record ``outputs[id]`` (``.npz``) of every stale image.

    The detector is built once, and only if some image needs it; images are
    decoded by ``loader_workers`` processes while the network runs (pinned
    memory on CUDA). Record keys: ``cam`` ``(h, w)`` float32, ``extent``,
    ``explained_variance``, ``sign_flipped``, ``image_shape``,
    ``weights_label``, ``error``. Returns the number of stale images.
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
    for batch in image_loader(stale, images, forward_batch, loader_workers, dev.type == "cuda"):
        for i, _, err in batch:
            if err:
                log.warning("%s: %s", i, err)
                save_npz(outputs[i], inputs=sources(i), error=err, fingerprint=fp,
                         weights_label=label)
        good = [(i, img) for i, img, err in batch if not err]
        if good:
            results = compute_cams(model, [img for _, img in good], settings, dev)
            for (i, img), res in zip(good, results):
                if res.error:
                    log.warning("%s: %s", i, res.error)
                save_npz(outputs[i], inputs=sources(i), cam=res.cam,
                         extent=np.array(res.extent), explained_variance=res.explained_variance,
                         sign_flipped=res.sign_flipped, image_shape=np.array(img.shape[:2]),
                         error=res.error, fingerprint=fp, weights_label=label)
        progress.advance(len(batch))
    return progress.finish()
