"""One-call use outside the workflow: the CAM of an image at image size, and every
metric of a map against fixations or a ground-truth map.

The workflow and these functions share the same code (:func:`quickgaze.cam.eigencam.compute_cams`,
:func:`quickgaze.cam.gradcam_methods.method_cams`, :func:`quickgaze.maps.resampling.cam_to_image`,
:func:`quickgaze.saliency.metrics.saliency_metrics`), so a map made here equals the workflow's
map for the same variant.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from quickgaze.cam.networks import EIGENCAM, is_classifier
from quickgaze.cam.variants import METHOD_DEFAULTS, check_variant
from quickgaze.maps.smoothing import gaussian_smooth
from quickgaze.saliency.fixations import saliency_from_fixations
from quickgaze.saliency.metrics import fixated_indices, prepare_truth, saliency_metrics

# The variant keys of config.yaml's cam_defaults, and the keys of the grad-cam methods
# and classifiers (quickgaze.cam.variants.METHOD_DEFAULTS). Two defaults differ from the
# workflow's cam_defaults, which start from the notebook: weights "coco" (a trained
# network; the demo's "none" is for smoke runs) and sign_policy "mean_activation" (the
# sign whose map correlates positively with the channel-mean activation). The notebook's
# and grad-cam's "svd" keeps whatever sign numpy's SVD gives, which is arbitrary with
# respect to where the activation is: sign_policy="svd" (--sign-policy svd) asks for it.
VARIANT_DEFAULTS: dict[str, object] = {
    "model": "fasterrcnn_resnet50_fpn", "weights": "coco", "input_scale": "detector",
    "levels": "all", "grid": "coarsest", "sign_policy": "mean_activation",
    "crop_padding": True, "precision": "fp32", "channels_last": False, **METHOD_DEFAULTS}

#: Units of the metrics :func:`score` returns: the information gain in bits per fixation
#: (log2), the KL divergence in nats (natural log), every other metric unitless.
METRIC_UNITS: dict[str, str] = {"info_gain": "bits per fixation", "kld": "nats"}


class CamMapper:
    """A network loaded once, mapping images to CAMs at image size.

    ``variant``: the keys of :data:`VARIANT_DEFAULTS` (as in config.yaml; an
    unknown key is a TypeError naming it, a setting that cannot run a
    ValueError, as :func:`quickgaze.cam.variants.check_variant` says for the
    workflow). ``method``: ``eigencam`` (quickgaze's engine on a detector's
    FPN) or a grad-cam method (:data:`quickgaze.cam.networks.GRADCAM_METHODS`) on
    a detector or a classifier (:data:`quickgaze.cam.networks.CLASSIFIERS`; their
    ``weights`` default to ``imagenet``). ``seed`` seeds random weights
    (``weights="none"``); ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N``
    (an explicit CUDA device that is not there is an error, never the CPU).
    ``sigma``: Gaussian smoothing in pixels after mapping (None: the raw CAM
    mapped to the image, as the workflow's ``<metric>_raw``; 19 gives its
    smoothed map).
    """

    def __init__(self, seed: int = 0, device: str = "auto", sigma: float | None = None,
                 **variant: object) -> None:
        # torch only when a CAM is asked for
        from quickgaze.cam.models import resolve_device
        from quickgaze.pipeline.cam_job import cam_settings, load_network

        unknown = sorted(set(variant) - set(VARIANT_DEFAULTS))
        if unknown:
            raise TypeError(f"unknown variant option(s) {unknown}; "
                            f"allowed: {', '.join(VARIANT_DEFAULTS)}")
        defaults = dict(VARIANT_DEFAULTS)
        if is_classifier(str(variant.get("model", defaults["model"]))):
            defaults["weights"] = "imagenet"
        self.variant = {**defaults, **variant}
        check_variant("cam_map", self.variant, source="quickgaze.cam_map")
        self.eigencam = self.variant["method"] == EIGENCAM
        self.settings = cam_settings(self.variant) if self.eigencam else None
        self.device = resolve_device(device)
        self.sigma = sigma
        self.model = load_network(self.variant, seed, self.device)

    def __call__(self, image: str | os.PathLike | np.ndarray) -> np.ndarray:
        """``(H, W)`` float32 map in [0, 1] of an image file or ``(H, W, 3)`` uint8 RGB array."""
        return self.map_many([image], batch_size=1)[0]

    def map_many(self, images: Iterable[str | os.PathLike | np.ndarray],
                 batch_size: int | None = None) -> list[np.ndarray]:
        """The maps of many images (files or ``(H, W, 3)`` uint8 arrays, any sizes), in
        order, ``batch_size`` images per forward pass (see :meth:`iter_many`)."""
        return list(self.iter_many(images, batch_size))

    def iter_many(self, images: Iterable[str | os.PathLike | np.ndarray],
                  batch_size: int | None = None) -> Iterator[np.ndarray]:
        """:meth:`map_many` one map at a time, each batch read and run as it is reached.

        ``batch_size``: images per forward pass (None: 1 on a CPU, 16 on CUDA,
        the workflow's ``forward_batch`` advice: batches of padded detector
        inputs cost more per image on a CPU). A batch goes through
        :func:`quickgaze.cam.eigencam.compute_cams` (or grad-cam's
        :func:`~quickgaze.cam.gradcam_methods.method_cams`) as the workflow's CAM job
        sends it, so a map equals the one-image map to float rounding of the
        batched convolutions. An unreadable image or an image whose CAM fails
        is a ValueError naming it.
        """
        if batch_size is None:
            batch_size = 16 if self.device.type == "cuda" else 1
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        batch: list[tuple[str, np.ndarray]] = []
        for image in images:
            batch.append(_read_image(image))
            if len(batch) == batch_size:
                yield from self._run(batch)
                batch = []
        if batch:
            yield from self._run(batch)

    def _run(self, batch: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
        import torch

        from quickgaze.cam.eigencam import compute_cams
        from quickgaze.cam.gradcam_methods import method_cams
        from quickgaze.maps.resampling import cam_to_image

        rgbs = [rgb for _, rgb in batch]
        if self.eigencam:
            results = compute_cams(self.model, rgbs, self.settings, self.device)
        else:
            results = method_cams(self.model, str(self.variant["model"]),
                                  [torch.from_numpy(rgb).to(self.device) for rgb in rgbs],
                                  self.variant)
        maps = []
        for (name, rgb), res in zip(batch, results):
            if res.error:
                raise ValueError(f"{name}: {res.error}")
            out = cam_to_image(res.cam, res.extent, rgb.shape[:2], res.offset)
            maps.append(out if self.sigma is None else gaussian_smooth(out, self.sigma))
        return maps


def _read_image(image: str | os.PathLike | np.ndarray) -> tuple[str, np.ndarray]:
    """``(name, rgb)``: an image file read as RGB (ImageReadError naming it when it
    cannot be), or an array checked to be ``(H, W, 3)`` uint8."""
    from quickgaze.io.images import read_rgb

    if isinstance(image, (str, os.PathLike)):
        return str(image), read_rgb(image)
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB; got {rgb.shape} {rgb.dtype}")
    return "image", rgb


def cam_map(image: str | os.PathLike | np.ndarray, seed: int = 0, device: str = "auto",
            sigma: float | None = None, **variant: object) -> np.ndarray:
    """The CAM of one image at image size (see :class:`CamMapper`, which loads the
    model once for many images)."""
    return CamMapper(seed=seed, device=device, sigma=sigma, **variant)(image)


def row_col(points: np.ndarray, xy: bool = False, one_based: bool = False) -> np.ndarray:
    """``(M, 2)`` points as the 0-based ``(row, col)`` pixels :func:`score` reads.

    ``xy``: the columns are ``(x, y)`` = ``(col, row)`` (most eye trackers,
    pysaliency, a table's ``x``/``y``) and are swapped; ``one_based``: pixel
    1 is the first (MATLAB, the MIT benchmark's files) and 1 is subtracted.
    Choice: both are explicit, never guessed from the values (a 0-based point
    set that never touches row 0 looks exactly like a 1-based one). Any other
    shape than ``(M, 2)`` is a ValueError."""
    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be an (M, 2) array; got shape {pts.shape}")
    if xy:
        pts = pts[:, ::-1]
    return pts - 1.0 if one_based else pts.copy()


def _pixels(points: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """``(M, 2)`` 0-based (row, col) points rounded to pixels; a ValueError when any
    is not finite or outside ``shape`` (nothing is dropped silently)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {len(pts)} points are not finite")
    px = np.round(pts).astype(np.int64)
    outside = (px < 0).any(axis=1) | (px[:, 0] >= shape[0]) | (px[:, 1] >= shape[1])
    if outside.any():
        raise ValueError(f"{name}: {int(outside.sum())} of {len(pts)} points are outside the "
                         f"{shape[0]}x{shape[1]} map (points are 0-based (row, col))")
    return px


def score(saliency: np.ndarray, fixations: np.ndarray | None = None,
          truth_map: np.ndarray | None = None, baseline: np.ndarray | str = "uniform",
          other_fixations: np.ndarray | None = None, seed: int = 0) -> dict[str, float]:
    """Every metric of :data:`quickgaze.saliency.metrics.METRICS` for one ``(H, W)`` map.

    fixations: ``(M, 2)`` 0-based (row, col) pixels; points outside the map or
    not finite are a ValueError (the workflow drops and counts them; here the
    caller decides). truth_map: ``(H, W)`` in [0, 1]; when None, it is built
    from ``fixations`` the SALICON way
    (:func:`~quickgaze.saliency.fixations.saliency_from_fixations`). One of the two is
    needed. baseline: the reference density of the information gain, an
    ``(H, W)`` map or ``"uniform"`` (the workflow uses its held-out centre bias,
    so its ``info_gain`` differs). other_fixations: ``(K, 2)`` pixels of other
    images' fixations on this grid, the shuffled-AUC negatives (None:
    ``sauc`` is NaN, :func:`null_reasons` says why). seed: seeds the AUC
    negatives. Points in another convention (``(x, y)``, 1-based): convert
    with :func:`row_col` first. Units: :data:`METRIC_UNITS`.
    """
    saliency = np.asarray(saliency, np.float32)
    shape = (int(saliency.shape[0]), int(saliency.shape[1]))
    points = None if fixations is None else _pixels(fixations, shape, "fixations")
    if truth_map is None:
        if points is None:
            raise ValueError("score needs fixations or truth_map")
        truth_map = saliency_from_fixations(points, shape)
    truth_map = np.asarray(truth_map, np.float32)
    if truth_map.shape != shape:
        raise ValueError(f"map is {shape[0]}x{shape[1]} but truth_map is "
                         f"{truth_map.shape[0]}x{truth_map.shape[1]}")
    if isinstance(baseline, str):
        if baseline != "uniform":
            raise ValueError(f"baseline '{baseline}' unknown; give 'uniform' or an (H, W) map")
        baseline = np.ones(shape, np.float32)
    others = None
    if other_fixations is not None:
        others = fixated_indices(_pixels(other_fixations, shape, "other_fixations"), shape)
    truth = prepare_truth(truth_map, points, others, baseline, seed)
    return saliency_metrics(saliency, truth)


def null_reasons(result: dict[str, float], fixations: bool, others: bool,
                 flags: tuple[str, str] = ("fixations", "other_fixations")) -> dict[str, str]:
    """Why each NaN metric of a :func:`score` ``result`` is NaN: fixation metrics
    without ``fixations``, the shuffled AUC without other images' fixations,
    else the metric is not defined for these maps (a constant map, for one).
    ``flags``: how the caller names the two inputs (the CLI's options)."""
    from quickgaze.saliency.metrics import FIXATION_METRICS

    reasons = {}
    for name, value in result.items():
        if not np.isnan(value):
            continue
        if name in FIXATION_METRICS and not fixations:
            reasons[name] = f"needs fixations ({flags[0]})"
        elif name == "sauc" and not others:
            reasons[name] = (f"needs other images' fixations, the shuffled-AUC negatives "
                             f"({flags[1]})")
        else:
            reasons[name] = "not defined for these maps (e.g. a constant map)"
    return reasons


def __getattr__(name: str) -> type:
    # quickgaze.api.WeightsUnavailableError, the error of weights that cannot be found
    # offline (quickgaze.cam.models), imported on first use: torch only when asked for.
    if name == "WeightsUnavailableError":
        from quickgaze.cam.models import WeightsUnavailableError

        return WeightsUnavailableError
    raise AttributeError(f"module 'quickgaze.api' has no attribute '{name}'")
