"""Gaussian smoothing of saliency maps."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def gaussian_smooth(saliency: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a ``(H, W)`` map with an isotropic Gaussian of ``sigma`` pixels, then
    min-max to [0, 1] (constant maps stay all zero).

    Borders are reflected (scipy's default), as SALICON's ground-truth maps
    are built. ``sigma = 0`` only rescales. Returns float32.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    out = gaussian_filter(saliency.astype(np.float64), sigma) if sigma > 0 else saliency
    out = out - out.min()
    peak = out.max()
    return (out / peak if peak > 0 else out).astype(np.float32)
