"""Human labels of the weights settings, written into every output they touch.

Kept apart from :mod:`quickgaze.cam.models` so that tables and figures name the
weights without importing torch.
"""

from __future__ import annotations

from pathlib import Path

from quickgaze.io.records import UNTRAINED_LABEL


def local_weights(weights: str) -> Path | None:
    """The local state_dict file of a ``weights`` setting, None for ``coco``, ``imagenet``
    and ``none``:
    an input of the CAM rules and of every CAM record (quickgaze.pipeline.freshness.is_fresh)."""
    return None if weights in ("coco", "imagenet", "none") else Path(weights)


def weights_label(weights: str) -> str:
    """``none`` -> untrained (smoke runs only), ``coco`` -> COCO_V1, ``imagenet`` ->
    ImageNet (the classifier's weights enum, see quickgaze.cam.networks), a path -> its file name."""
    if weights == "none":
        return UNTRAINED_LABEL
    if weights == "coco":
        return "COCO_V1"
    if weights == "imagenet":
        return "ImageNet"
    return f"local: {Path(weights).name}"
