"""Dataset-level fixation statistics: the centre bias fitted without each image
(its held-out fold) and each image's seeded draw of other images for the
shuffled AUC, saved once per dataset and read by every scoring job.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from quickgaze.io.records import load_npz, save_npz
from quickgaze.saliency.baselines import (
    centre_bias_folds,
    fit_centre_bias_folds,
    fit_centre_bias_from_maps,
)
from quickgaze.saliency.metrics import image_seed, unique_indices


def _normalised_fixated(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(K, 2)`` float32 normalised (row, col) centres ``(r + 0.5) / H`` of the
    distinct fixated pixels of one image."""
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(points, np.int64).reshape(-1, 2)
    flat = unique_indices(pts[:, 0] * w + pts[:, 1], h * w)
    rc = np.stack(np.divmod(flat, w), axis=1)
    return ((rc + 0.5) / np.array([h, w], np.float64)).astype(np.float32)


@dataclass(frozen=True)
class FixationStats:
    """Dataset-level inputs of the evaluation (one small file per dataset).

    centre_bias_sigma: ``(s_r, s_c)``, fractions of H and W, fitted on every
    image (used for images outside every fold: those without a fixation);
    sigma_source: ``fixations``, ``maps`` or ``config``; images: ids of the
    images with a fixation (sorted), the candidates of the shuffled AUC and
    of the held-out fit; fold: ``(len(images),)`` fold of each image;
    fold_sigma: ``(k, 2)`` widths, row ``j`` fitted without fold ``j`` (empty
    unless fitted on fixations); sources: per image its ground-truth record
    (``points``, ``shape``), read when its fixations are needed, or ``""``
    when ``points`` holds them in memory; points_digest: hash of every
    image's fixations; n_others: other images per shuffled AUC; seed: the
    study seed, with the image id the seed of each image's draw of others.
    """

    centre_bias_sigma: tuple[float, float]
    sigma_source: str
    images: tuple[str, ...]
    fold: np.ndarray
    fold_sigma: np.ndarray
    sources: tuple[str, ...]
    points_digest: str
    n_others: int
    seed: int
    points: dict[str, np.ndarray] | None = field(default=None, compare=False, repr=False)
    _cache: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """Hash of the content, for the fingerprints of the metrics it feeds."""
        h = hashlib.sha256(repr((self.centre_bias_sigma, self.sigma_source, self.images,
                                 self.n_others, self.seed, self.points_digest)).encode())
        h.update(np.ascontiguousarray(self.fold, np.int64).tobytes())
        h.update(np.ascontiguousarray(self.fold_sigma, np.float64).tobytes())
        return h.hexdigest()[:16]

    def _index(self, image: str) -> int | None:
        k = bisect.bisect_left(self.images, image)
        return k if k < len(self.images) and self.images[k] == image else None

    def centre_bias_for(self, image: str) -> tuple[float, float]:
        """The centre-bias width of ``image``: fitted without the fold that holds
        it (so without its own fixations), else :attr:`centre_bias_sigma`."""
        k = self._index(image)
        if k is None or not len(self.fold_sigma):
            return self.centre_bias_sigma
        row = self.fold_sigma[self.fold[k]]
        return float(row[0]), float(row[1])

    def other_images(self, image: str) -> tuple[str, ...]:
        """The images whose fixations are ``image``'s shuffled-AUC negatives:
        ``min(n_others, n - 1)`` of the other images with a fixation, drawn
        without replacement by ``numpy.random.default_rng(image_seed(seed,
        image) + 2)`` (MIT's protocol: every image its own random others),
        never ``image`` itself; sorted."""
        own = self._index(image)
        n = len(self.images) - (own is not None)
        rng = np.random.default_rng(image_seed(self.seed, image) + 2)
        picks = rng.choice(n, size=min(self.n_others, n), replace=False)
        if own is not None:
            picks = picks + (picks >= own)
        return tuple(self.images[k] for k in sorted(picks))

    def _fixated(self, image: str) -> np.ndarray:
        """Normalised centres of ``image``'s distinct fixated pixels."""
        if self.points is not None:
            return self.points[image]
        if image not in self._cache:
            z = load_npz(self.sources[self._index(image)], ("points", "shape"))
            self._cache[image] = _normalised_fixated(z["points"],
                                                     tuple(int(v) for v in z["shape"]))
        return self._cache[image]

    def other_fixated(self, image: str, shape: tuple[int, int]) -> np.ndarray:
        """Sorted unique flat indices, on an ``(H, W)`` grid, of the fixated pixels
        of :meth:`other_images` (each mapped by its normalised pixel centre)."""
        others = self.other_images(image)
        if not others:
            return np.zeros(0, np.int64)
        pts = np.concatenate([self._fixated(i) for i in others])
        rows = np.minimum((pts[:, 0] * shape[0]).astype(np.int64), shape[0] - 1)
        cols = np.minimum((pts[:, 1] * shape[1]).astype(np.int64), shape[1] - 1)
        return unique_indices(rows * shape[1] + cols, shape[0] * shape[1])


def fixation_stats(points: dict[str, tuple[np.ndarray, tuple[int, int]]],
                   maps: Iterable[np.ndarray] | None, centre_bias_sigma: str | float | list,
                   n_others: int, seed: int,
                   sources: dict[str, str] | None = None) -> FixationStats:
    """Fit the centre bias (on all images and held out) and list the images
    of the shuffled AUC.

    points: per image id, its valid ``(N, 2)`` (row, col) fixations and
    ``(H, W)``; maps: the ground-truth maps, used only to fit the centre bias
    when no image has a fixation (:func:`fit_centre_bias_from_maps`, one
    width for all, no held-out fit: without fixations there is no IG);
    centre_bias_sigma: ``fit``, or a fraction of H and W (one number, or
    ``[row, col]``: every image gets it); n_others: other images per shuffled
    AUC (the MIT benchmark uses 10); sources: per image its ground-truth
    record, from which :meth:`FixationStats.other_fixated` reads the
    fixations (None: they are kept in memory). With ``fit``, each image's
    width is fitted without its own fixations (:func:`centre_bias_folds`:
    leave-one-out up to 20 images, else 10 seeded folds); with a single
    image with fixations there is nothing to hold out and it gets the full fit.
    """
    with_fix = sorted(i for i, (p, _) in points.items() if len(p))
    fold, k = centre_bias_folds(len(with_fix), seed)
    fold_sigma = np.zeros((0, 2))
    if centre_bias_sigma == "fit":
        if with_fix:
            sigma, fold_sigma = fit_centre_bias_folds([points[i] for i in with_fix], fold, k)
            sigma, source = (float(sigma[0]), float(sigma[1])), "fixations"
            if len(with_fix) < 2:
                fold_sigma = np.zeros((0, 2))
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
    h = hashlib.sha256()
    for i in with_fix:
        pts, shape = points[i]
        h.update(f"{i}:{shape[0]}x{shape[1]}:".encode())
        h.update(np.ascontiguousarray(pts, np.int64).tobytes())
    return FixationStats(
        centre_bias_sigma=sigma, sigma_source=source, images=tuple(with_fix),
        fold=np.asarray(fold, np.int64), fold_sigma=fold_sigma,
        sources=tuple(str(sources[i]) for i in with_fix) if sources is not None
        else ("",) * len(with_fix),
        points_digest=h.hexdigest()[:16], n_others=int(n_others), seed=int(seed),
        points=None if sources is not None
        else {i: _normalised_fixated(*points[i]) for i in with_fix})


def save_fixation_stats(path: str | os.PathLike, stats: FixationStats) -> None:
    """Write ``stats`` (without in-memory points: give ``sources`` to
    :func:`fixation_stats` for a file that other processes read)."""
    if stats.points is not None and len(stats.images):
        raise ValueError("fixation statistics with in-memory points cannot be saved: "
                         "build them with the ground-truth sources")
    save_npz(path, centre_bias_sigma=np.array(stats.centre_bias_sigma),
             sigma_source=stats.sigma_source, images=np.array(stats.images, dtype=str),
             fold=stats.fold, fold_sigma=stats.fold_sigma,
             sources=np.array(stats.sources, dtype=str), points_digest=stats.points_digest,
             n_others=stats.n_others, seed=stats.seed)


def load_fixation_stats(path: str | os.PathLike) -> FixationStats:
    """The statistics :func:`save_fixation_stats` wrote (a damaged file:
    :class:`~quickgaze.io.files.DamagedFileError` naming it)."""
    z = load_npz(path)
    return FixationStats(
        centre_bias_sigma=(float(z["centre_bias_sigma"][0]), float(z["centre_bias_sigma"][1])),
        sigma_source=str(z["sigma_source"]),
        images=tuple(str(i) for i in z["images"]), fold=z["fold"],
        fold_sigma=z["fold_sigma"].reshape(-1, 2),
        sources=tuple(str(i) for i in z["sources"]), points_digest=str(z["points_digest"]),
        n_others=int(z["n_others"]), seed=int(z["seed"]))

