"""Baselines that every variant is compared with, and the dataset-level
fixation statistics they and the shuffled AUC need.

Baselines are pseudo-variants: a map per image that goes through the same
evaluation as a CAM. ``centre_bias`` is a Gaussian at the image centre whose
width is fitted, for each image without that image's fixations, by maximum
likelihood of the density information gain reads it as (or set in config);
``uniform`` is a constant map (chance level: AUC 0.5, NSS 0, CC 0).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from quickgaze.saliency.metrics import DENSITY_ALPHA, unique_indices

BASELINES = ("centre_bias", "uniform")


#: Datasets with at most this many images with a fixation fit each image's
#: centre bias leave-one-out; larger ones use :data:`CENTRE_BIAS_FOLDS` folds.
LEAVE_ONE_OUT_MAX = 20
#: Folds of the centre-bias fit of a large dataset (a seeded permutation).
CENTRE_BIAS_FOLDS = 10


def _offsets2(n: int) -> np.ndarray:
    """Squared offsets ``((k + 0.5) / n - 0.5)^2`` of the ``n`` pixel centres."""
    return ((np.arange(n) + 0.5) / n - 0.5) ** 2


@dataclass(frozen=True)
class _Shape:
    """The fixated pixels of one image size, as sufficient statistics of the
    centre-bias likelihood: per distinct pixel its squared normalised offsets
    ``(a, b)`` and its weight in every fold (``(n_pixels, k)``)."""

    shape: tuple[int, int]
    a: np.ndarray
    b: np.ndarray
    weights: np.ndarray


def _centre_bias_objective(log_sigma: np.ndarray, shapes: list[_Shape],
                           weights: list[np.ndarray], alpha: float) -> tuple[float, np.ndarray]:
    """Minus the weighted log-likelihood (nats) of the centre-bias density and
    its gradient in ``log sigma``; see :func:`fit_centre_bias` for the density."""
    sr2, sc2 = np.exp(2 * log_sigma)
    value, grad = 0.0, np.zeros(2)
    for s, w in zip(shapes, weights):
        h, wd = s.shape
        er = np.exp(-_offsets2(h) / (2 * sr2))
        ec = np.exp(-_offsets2(wd) / (2 * sc2))
        zr, zc = er.sum(), ec.sum()
        mr = (er @ _offsets2(h)) / zr / sr2  # d log Zr / d log sr
        mc = (ec @ _offsets2(wd)) / zc / sc2
        log_u = np.log1p(-alpha) - s.a / (2 * sr2) - s.b / (2 * sc2) - np.log(zr) - np.log(zc)
        if alpha > 0:
            log_q = np.logaddexp(log_u, np.log(alpha / (h * wd)))
            share = np.exp(log_u - log_q)  # d log q / d log u
        else:
            log_q, share = log_u, np.ones_like(log_u)
        value += float(w @ log_q)
        grad += [w @ (share * (s.a / sr2 - mr)), w @ (share * (s.b / sc2 - mc))]
    return -value, -grad


def _maximise(shapes: list[_Shape], weights: list[np.ndarray], alpha: float,
              start: tuple[float, float]) -> tuple[float, float]:
    total = sum(float(w.sum()) for w in weights)
    scaled = [w / total for w in weights]
    res = minimize(_centre_bias_objective, np.log(start), args=(shapes, scaled, alpha),
                   jac=True, method="L-BFGS-B", bounds=[(np.log(1e-3), np.log(10.0))] * 2,
                   options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 200})
    sigma = np.exp(res.x)
    return float(sigma[0]), float(sigma[1])


def _moment_sigma(shapes: list[_Shape], weights: list[np.ndarray]) -> tuple[float, float]:
    """Root mean squared offsets: the untruncated Gaussian's fit, a start value."""
    total = sum(float(w.sum()) for w in weights)
    ar = sum(float(w @ s.a) for s, w in zip(shapes, weights)) / total
    ac = sum(float(w @ s.b) for s, w in zip(shapes, weights)) / total
    return float(np.sqrt(max(ar, 1e-6))), float(np.sqrt(max(ac, 1e-6)))


def _sufficient_statistics(samples: Iterable[tuple[np.ndarray, tuple[int, int]]],
                           folds: Iterable[int], k: int) -> list[_Shape]:
    """Per image size, the distinct fixated pixels and their weight per fold:
    each image's fixated pixels (once each, as information gain counts them)
    weigh ``1 / |F|``, so every image weighs the same. Memory is bounded by the
    distinct pixels per size and fold, not by the number of fixations."""
    # Per (size, fold): flat indices and weights, merged into distinct pixels
    # whenever they outgrow the image (so memory stays below 2 H W per fold).
    acc: dict[tuple[int, int], dict[int, tuple[list[np.ndarray], list[np.ndarray]]]] = {}

    def merged(flats: list[np.ndarray], ws: list[np.ndarray], n: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
        dense = np.bincount(np.concatenate(flats), np.concatenate(ws), minlength=n)
        keep = np.flatnonzero(dense)
        return keep, dense[keep]

    for (points, shape), fold in zip(samples, folds):
        h, w = int(shape[0]), int(shape[1])
        pts = np.asarray(points, np.int64).reshape(-1, 2)
        flat = unique_indices(pts[:, 0] * w + pts[:, 1], h * w)
        if not len(flat):
            continue
        flats, ws = acc.setdefault((h, w), {}).setdefault(int(fold), ([], []))
        flats.append(flat)
        ws.append(np.full(len(flat), 1.0 / len(flat)))
        if sum(len(f) for f in flats) > h * w:
            keep, wk = merged(flats, ws, h * w)
            flats[:], ws[:] = [keep], [wk]
    shapes = []
    for (h, w), per_fold in acc.items():
        parts = {j: merged(f, ws, h * w) for j, (f, ws) in per_fold.items()}
        keep = np.unique(np.concatenate([kp for kp, _ in parts.values()]))
        weights = np.zeros((len(keep), k))
        for j, (kp, wk) in parts.items():
            weights[np.searchsorted(keep, kp), j] = wk
        rows, cols = np.divmod(keep, w)
        shapes.append(_Shape((h, w), _offsets2(h)[rows], _offsets2(w)[cols], weights))
    return shapes


def fit_centre_bias(samples: Iterable[tuple[np.ndarray, tuple[int, int]]],
                    alpha: float = DENSITY_ALPHA) -> tuple[float, float]:
    """Width of the centre-bias Gaussian by maximum likelihood of the density
    that information gain scores it as.

    samples: ``((N, 2) int 0-based (row, col) points, (H, W))`` per image.
    The density on an ``(H, W)`` image is that of
    :func:`quickgaze.saliency.metrics.density` applied to :func:`centre_bias_map`:
    ``Q(r, c) = (1 - alpha) g_r(r) g_c(c) / (Z_r Z_c) + alpha / (H W)`` with
    ``g_r(r) = exp(-dr^2 / (2 s_r^2))``, ``dr = (r + 0.5) / H - 0.5`` (so for
    columns) and ``Z_r = sum_r g_r(r)``: the Gaussian truncated to the image and
    normalised on its pixel grid, mixed with the same uniform share as every
    map. ``(s_r, s_c)`` maximise ``sum_images mean_{i in F} log Q(i)`` over the
    fixated pixels ``F`` of each image (once each, as IG counts them; every
    image weighs the same, as the dataset mean of IG does), found with L-BFGS
    on ``log sigma`` with the exact gradient, started at the root mean squared
    offsets, within ``[1e-3, 10]`` (a handful of fixated pixels can make the
    optimum degenerate: 10 is a flat map, 1e-3 a point). Returns ``(s_r, s_c)``
    as fractions of H and W. Raises ValueError when there is no fixation at all.
    """
    shapes = _sufficient_statistics(samples, itertools.repeat(0), 1)
    if not shapes:
        raise ValueError("cannot fit the centre bias: the dataset has no fixation")
    weights = [s.weights[:, 0] for s in shapes]
    return _maximise(shapes, weights, alpha, _moment_sigma(shapes, weights))


def centre_bias_folds(n: int, seed: int) -> tuple[np.ndarray, int]:
    """Fold of each of ``n`` images and the number of folds ``k`` for the
    held-out centre-bias fit: leave-one-out (``k = n``, fold ``j`` is image
    ``j``) for ``n <= LEAVE_ONE_OUT_MAX`` (20), else ``CENTRE_BIAS_FOLDS`` (10)
    folds of a ``numpy.random.default_rng(seed)`` permutation."""
    if n <= LEAVE_ONE_OUT_MAX:
        return np.arange(n), n
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % CENTRE_BIAS_FOLDS
    return fold, CENTRE_BIAS_FOLDS


def fit_centre_bias_folds(samples: list[tuple[np.ndarray, tuple[int, int]]], fold: np.ndarray,
                          k: int, alpha: float = DENSITY_ALPHA
                          ) -> tuple[tuple[float, float], np.ndarray]:
    """:func:`fit_centre_bias` on all samples, and ``(k, 2)`` widths, row ``j``
    fitted without the images of fold ``j`` (``fold``: one int per sample).
    One pass builds the sufficient statistics; each held-out fit starts at the
    full fit. A fold that leaves no fixation gets the full fit."""
    shapes = _sufficient_statistics(samples, fold, k)
    if not shapes:
        raise ValueError("cannot fit the centre bias: the dataset has no fixation")
    total = [s.weights.sum(axis=1) for s in shapes]
    full = _maximise(shapes, total, alpha, _moment_sigma(shapes, total))
    out = np.empty((k, 2))
    for j in range(k):
        train = [t - s.weights[:, j] for s, t in zip(shapes, total)]
        train = [np.maximum(t, 0.0) for t in train]  # rounding of the subtraction
        out[j] = _maximise(shapes, train, alpha, full) if sum(t.sum() for t in train) > 1e-9 \
            else full
    return full, out


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
