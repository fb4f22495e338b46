"""Gaussian smoothing of saliency maps."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d


def gaussian_smooth(saliency: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a ``(H, W)`` map with an isotropic Gaussian of ``sigma`` pixels, then
    min-max to [0, 1] (constant maps stay all zero).

    Borders are reflected (scipy's default), as SALICON's ground-truth maps
    are built. ``sigma = 0`` only rescales. Returns float32.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    out = gaussian_filter(saliency.astype(np.float64), sigma) if sigma > 0 else saliency
    return _unit_range(out)


def gaussian_smooth_factored(rows: np.ndarray, grid: np.ndarray, cols: np.ndarray,
                             sigma: float) -> np.ndarray:
    """:func:`gaussian_smooth` of the map ``rows @ grid @ cols.T`` without blurring it.

    rows ``(H, h)``, grid ``(h, w)``, cols ``(W, w)``: e.g. a CAM grid and its
    resampling to the image (:func:`quickgaze.maps.resampling.cam_resampling`). The
    Gaussian is separable and linear, ``G_H (R M C^T) G_W^T = (G_H R) M (G_W C)^T``,
    so it blurs the thin factors instead of the ``(H, W)`` map: ~1 ms instead
    of ~20 ms at 480x640, the same map to float64 rounding. A positive affine
    rescaling of the map (the CAM's own min-max) does not change the result.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma > 0:
        rows, cols = gaussian_filter1d(rows, sigma, axis=0), gaussian_filter1d(cols, sigma, axis=0)
    return _unit_range(rows @ np.asarray(grid, np.float64) @ cols.T)


def _unit_range(out: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] as float32; a constant map becomes all zeros."""
    out = out - out.min()
    peak = out.max()
    return (out / peak if peak > 0 else out).astype(np.float32)
