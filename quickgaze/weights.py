"""Human labels of the weights settings, written into every output they touch.

Kept apart from :mod:`quickgaze.models` so that tables and figures name the
weights without importing torch.
"""

from __future__ import annotations

from pathlib import Path

UNTRAINED_LABEL = "untrained: smoke run"


def weights_label(weights: str) -> str:
    """``none`` -> untrained (smoke runs only), ``coco`` -> COCO_V1, a path -> its file name."""
    if weights == "none":
        return UNTRAINED_LABEL
    if weights == "coco":
        return "COCO_V1"
    return f"local: {Path(weights).name}"
