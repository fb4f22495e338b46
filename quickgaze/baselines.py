"""Baselines that every variant is compared with, and the dataset-level
fixation statistics they and the shuffled AUC need.

Baselines are pseudo-variants: a map per image that goes through the same
evaluation as a CAM. ``centre_bias`` is a Gaussian at the image centre whose
width is fitted on the dataset's fixations (or set in config); ``uniform``
is a constant map (chance level: AUC 0.5, NSS 0, CC 0).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from quickgaze.batch import save_npz
from quickgaze.metrics import unique_indices

BASELINES = ("centre_bias", "uniform")


def fit_centre_bias(samples: Iterable[tuple[np.ndarray, tuple[int, int]]]) -> tuple[float, float]:
    """Width of the centre-bias Gaussian from fixations, pooled over images.

    samples: ``((N, 2) int 0-based (row, col) points, (H, W))`` per image.
    Coordinates are normalised to the image (pixel centres, ``(r + 0.5) / H``)
    so images of different sizes pool; the Gaussian's mean is fixed at the
    centre (0.5, 0.5) and its maximum-likelihood widths are the root mean
    squared offsets ``sigma_r = sqrt(mean(((r + 0.5) / H - 0.5)^2))`` (and so
    for columns). Returns ``(sigma_r, sigma_c)`` as fractions of H and W.
    Raises ValueError when there is no fixation at all.
    """
    sums, n = np.zeros(2), 0
    for points, shape in samples:
        if len(points):
            norm = (np.asarray(points, np.float64) + 0.5) / np.asarray(shape, np.float64) - 0.5
            sums += (norm ** 2).sum(axis=0)
            n += len(points)
    if n == 0:
        raise ValueError("cannot fit the centre bias: the dataset has no fixation")
    sigma = np.sqrt(sums / n)
    return float(sigma[0]), float(sigma[1])


def fit_centre_bias_from_maps(maps: Iterable[np.ndarray]) -> tuple[float, float]:
    """Width of the centre-bias Gaussian from ground-truth maps, for datasets
    without fixations: each ``(H, W)`` map, divided by its sum, is a density
    over normalised pixel centres; the squared offsets from the centre are
    averaged over images (each image weighs the same). Note the maps' own blur
    (sigma 19 px for SALICON) widens the fit slightly. Returns
    ``(sigma_r, sigma_c)`` as fractions of H and W.
    """
    acc, n = np.zeros(2), 0
    for m in maps:
        m = np.asarray(m, np.float64)
        total = m.sum()
        if total <= 0:
            continue
        h, w = m.shape
        r = ((np.arange(h) + 0.5) / h - 0.5) ** 2
        c = ((np.arange(w) + 0.5) / w - 0.5) ** 2
        acc += [m.sum(axis=1) @ r / total, m.sum(axis=0) @ c / total]
        n += 1
    if n == 0:
        raise ValueError("cannot fit the centre bias: no fixation and no non-empty map")
    sigma = np.sqrt(acc / n)
    return float(sigma[0]), float(sigma[1])


def centre_bias_map(shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """``(H, W)`` float32 Gaussian ``exp(-(dr^2 / 2 s_r^2 + dc^2 / 2 s_c^2))`` with
    ``dr = (r + 0.5) / H - 0.5`` (so for columns) and ``sigma = (s_r, s_c)`` in
    fractions of H and W; peak 1 at the centre."""
    h, w = shape
    r = ((np.arange(h) + 0.5) / h - 0.5) / sigma[0]
    c = ((np.arange(w) + 0.5) / w - 0.5) / sigma[1]
    return np.exp(-0.5 * (r[:, None] ** 2 + c[None, :] ** 2)).astype(np.float32)


def uniform_map(shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` float32 ones: no preference for any pixel."""
    return np.ones(shape, dtype=np.float32)


def baseline_map(name: str, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """The map of baseline ``name`` (one of :data:`BASELINES`) at ``shape``."""
    if name == "centre_bias":
        return centre_bias_map(shape, sigma)
    if name == "uniform":
        return uniform_map(shape)
    raise ValueError(f"baseline '{name}' unknown; allowed: {', '.join(BASELINES)}")


@dataclass(frozen=True)
class FixationStats:
    """Dataset-level inputs of the evaluation (one small file per dataset).

    centre_bias_sigma: ``(s_r, s_c)``, fractions of H and W; sigma_source:
    ``fixations``, ``maps`` or ``config``; pool_images: ids of the images
    whose fixations form the shuffled-AUC pool (seeded choice); pool_points:
    ``(K, 2)`` float32 normalised (row, col) pixel centres of their fixated
    pixels, pool_owner: ``(K,)`` index into pool_images; n_others: how many
    other images' fixations each image's shuffled AUC draws from.
    """

    centre_bias_sigma: tuple[float, float]
    sigma_source: str
    pool_images: tuple[str, ...]
    pool_points: np.ndarray
    pool_owner: np.ndarray
    n_others: int

    @property
    def digest(self) -> str:
        """Hash of the content, for the fingerprints of the metrics it feeds."""
        h = hashlib.sha256(repr((self.centre_bias_sigma, self.pool_images, self.n_others))
                           .encode())
        h.update(np.ascontiguousarray(self.pool_points).tobytes())
        return h.hexdigest()[:16]

    def other_fixated(self, image: str, shape: tuple[int, int]) -> np.ndarray:
        """Sorted unique flat indices, on an ``(H, W)`` grid, of the fixated pixels
        of the first ``n_others`` pool images other than ``image``."""
        others = [k for k, i in enumerate(self.pool_images) if i != image][:self.n_others]
        pts = self.pool_points[np.isin(self.pool_owner, others)]
        rows = np.minimum((pts[:, 0] * shape[0]).astype(np.int64), shape[0] - 1)
        cols = np.minimum((pts[:, 1] * shape[1]).astype(np.int64), shape[1] - 1)
        return unique_indices(rows * shape[1] + cols, shape[0] * shape[1])


def fixation_stats(points: dict[str, tuple[np.ndarray, tuple[int, int]]],
                   maps: Iterable[np.ndarray] | None, centre_bias_sigma: str | float | list,
                   n_others: int, seed: int) -> FixationStats:
    """Fit the centre bias and draw the shuffled-AUC pool.

    points: per image id, its valid ``(N, 2)`` (row, col) fixations and
    ``(H, W)``; maps: the ground-truth maps, used only to fit the centre bias
    when no image has a fixation; centre_bias_sigma: ``fit``, or a fraction of
    H and W (one number, or ``[row, col]``); n_others: other images per
    shuffled AUC (the MIT benchmark uses 10). The pool holds ``n_others + 1``
    images drawn with ``numpy.random.default_rng(seed)`` from those with a
    fixation, so each image has ``n_others`` others, itself excluded.
    """
    with_fix = sorted(i for i, (p, _) in points.items() if len(p))
    if centre_bias_sigma == "fit":
        if with_fix:
            sigma, source = fit_centre_bias(points[i] for i in with_fix), "fixations"
        else:
            if maps is None:
                raise ValueError("cannot fit the centre bias: no fixation and no maps given")
            sigma, source = fit_centre_bias_from_maps(maps), "maps"
    else:
        values = np.broadcast_to(np.asarray(centre_bias_sigma, np.float64), (2,))
        if not np.all(values > 0):
            raise ValueError(f"evaluation.centre_bias_sigma must be 'fit' or positive "
                             f"fractions of the image size, got {centre_bias_sigma!r}")
        sigma, source = (float(values[0]), float(values[1])), "config"
    rng = np.random.default_rng(seed)
    chosen = [with_fix[k] for k in rng.permutation(len(with_fix))[:n_others + 1]]
    pool, owner = [], []
    for k, image in enumerate(chosen):
        pts, shape = points[image]
        flat = unique_indices(pts[:, 0] * shape[1] + pts[:, 1], shape[0] * shape[1])
        rc = np.stack(np.divmod(flat, shape[1]), axis=1)
        pool.append(((rc + 0.5) / np.asarray(shape)).astype(np.float32))
        owner.append(np.full(len(flat), k, dtype=np.int32))
    return FixationStats(
        centre_bias_sigma=sigma, sigma_source=source, pool_images=tuple(chosen),
        pool_points=np.concatenate(pool) if pool else np.zeros((0, 2), np.float32),
        pool_owner=np.concatenate(owner) if owner else np.zeros(0, np.int32),
        n_others=int(n_others))


def save_fixation_stats(path: str | os.PathLike, stats: FixationStats) -> None:
    save_npz(path, centre_bias_sigma=np.array(stats.centre_bias_sigma),
             sigma_source=stats.sigma_source, pool_images=np.array(stats.pool_images, dtype=str),
             pool_points=stats.pool_points, pool_owner=stats.pool_owner,
             n_others=stats.n_others)


def load_fixation_stats(path: str | os.PathLike) -> FixationStats:
    with np.load(path) as z:
        return FixationStats(
            centre_bias_sigma=(float(z["centre_bias_sigma"][0]), float(z["centre_bias_sigma"][1])),
            sigma_source=str(z["sigma_source"]),
            pool_images=tuple(str(i) for i in z["pool_images"]),
            pool_points=z["pool_points"], pool_owner=z["pool_owner"],
            n_others=int(z["n_others"]))
