"""Maps resampled to image size, in numpy.

The CPU jobs (ground truth, evaluation, figures) use these instead of torch:
importing torch and torchvision costs each job seconds, more than a batch's
resizing (see benchmarks/RESULTS.md, issue 6).
"""

from __future__ import annotations

import numpy as np


def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``i0``, ``i1`` and weight of ``i1`` for each of ``n_out`` outputs.

    Half-pixel centres: ``src = (dst + 0.5) * n_in / n_out - 0.5``, clamped at 0,
    as torch's ``interpolate(mode="bilinear", align_corners=False)`` and OpenCV's
    ``INTER_LINEAR`` (no antialiasing when shrinking).
    """
    # float32 coordinates, as torch computes them (float64 moves a tap by 1e-5)
    src = (np.arange(n_out, dtype=np.float32) + 0.5) * np.float32(n_in / n_out) - 0.5
    src = np.maximum(src, np.float32(0))
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` float64 matrix of 1-D bilinear resampling (rows sum to 1)."""
    i0, i1, w = _bilinear_taps(n_in, n_out)
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1 - w)
    np.add.at(m, (rows, i1), w)
    return m


def bilinear_resize(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a ``(h, w)`` map to ``shape`` ``(H, W)``; returns float32.

    Separable: ``R_H @ m @ R_W.T`` with the matrices of :func:`bilinear_matrix`.
    Agrees with torch's bilinear interpolation to float32 rounding.
    """
    rows, cols = bilinear_matrix(m.shape[0], shape[0]), bilinear_matrix(m.shape[1], shape[1])
    return (rows @ np.asarray(m, np.float64) @ cols.T).astype(np.float32)


def minmax(x: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min + 1e-7)``, grad-cam's ``scale_cam_image`` normalisation
    (the absolute 1e-7 keeps the maximum below 1 when ``x`` is tiny, e.g. random weights)."""
    x = x - x.min()
    return x / (x.max() + np.float32(1e-7))


def grid_sampling_matrix(n_grid: int, n_out: int, extent: float,
                         offset: float = 0.0) -> np.ndarray:
    """``(n_out, n_grid)`` bilinear weights that sample a grid whose first
    ``extent`` cells span the ``n_out`` output pixels.

    Output pixel ``y`` (centre ``y + 0.5``) reads grid coordinate
    ``u = (y + 0.5) * extent / n_out - 0.5 - offset`` (cell ``j``'s centre at
    ``u = j``), clamped to ``[0, n_grid - 1]``; ``offset`` shifts cell centres
    by a fraction of a cell (see :func:`quickgaze.cam.fused_levels.level_geometry`). At
    ``extent == n_grid`` and ``offset == 0`` this is :func:`bilinear_matrix`
    (torch's and OpenCV's half-pixel bilinear), in the same float32 coordinates.
    """
    src = ((np.arange(n_out, dtype=np.float32) + 0.5) * np.float32(extent / n_out)
           - np.float32(0.5) - np.float32(offset))
    src = np.clip(src, np.float32(0), np.float32(n_grid - 1))
    i0 = np.minimum(src.astype(np.int64), n_grid - 1)
    i1 = np.minimum(i0 + 1, n_grid - 1)
    w = (src - i0).astype(np.float32)
    m = np.zeros((n_out, n_grid))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1 - w)
    np.add.at(m, (rows, i1), w)
    return m


def cam_resampling(grid: tuple[int, int], extent: tuple[float, float],
                   image_shape: tuple[int, int],
                   offset: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Row and column matrices ``(H, h)`` and ``(W, w)`` that map a ``(h, w)`` grid
    CAM onto the ``(H, W)`` image: ``rows @ cam @ cols.T``.

    extent: grid cells covered by the image, offset: shift of the cell centres
    in cells (see :class:`quickgaze.cam.eigencam.CamResult`); the cells beyond
    ``extent`` (padding) fall outside the image. Half-pixel centres, as
    OpenCV's ``INTER_LINEAR`` used by grad-cam (:func:`grid_sampling_matrix`).
    """
    return tuple(grid_sampling_matrix(n, size, e, o)
                 for n, size, e, o in zip(grid, image_shape, extent, offset))


def cam_to_image(cam: np.ndarray, extent: tuple[float, float],
                 image_shape: tuple[int, int],
                 offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Map a ``(h, w)`` grid CAM onto the ``(H, W)`` image (see :func:`cam_resampling`),
    then min-max to [0, 1]. Returns ``(H, W)`` float32."""
    rows, cols = cam_resampling(cam.shape, extent, image_shape, offset)
    return minmax((rows @ np.asarray(cam, np.float64) @ cols.T).astype(np.float32))
