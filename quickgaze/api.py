"""One-call use outside the workflow: the CAM of an image at image size, and every
metric of a map against fixations or a ground-truth map.

The workflow and these functions share the same code (:func:`quickgaze.cam.eigencam.compute_cams`,
:func:`quickgaze.cam.gradcam_methods.method_cams`, :func:`quickgaze.maps.resampling.cam_to_image`,
:func:`quickgaze.saliency.metrics.saliency_metrics`), so a map made here equals the workflow's
map for the same variant.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from quickgaze.cam.networks import EIGENCAM, is_classifier
from quickgaze.cam.variants import METHOD_DEFAULTS, check_variant
from quickgaze.maps.smoothing import gaussian_smooth
from quickgaze.saliency.fixations import saliency_from_fixations
from quickgaze.saliency.metrics import fixated_indices, prepare_truth, saliency_metrics

# The variant keys of config.yaml's cam_defaults, with the workflow's defaults, and the
# keys of the grad-cam methods and classifiers (quickgaze.cam.variants.METHOD_DEFAULTS).
VARIANT_DEFAULTS: dict[str, object] = {
    "model": "fasterrcnn_resnet50_fpn", "weights": "coco", "input_scale": "detector",
    "levels": "all", "grid": "coarsest", "sign_policy": "svd", "crop_padding": True,
    "precision": "fp32", "channels_last": False, **METHOD_DEFAULTS}


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
        import torch

        from quickgaze.cam.eigencam import compute_cams
        from quickgaze.cam.gradcam_methods import method_cams
        from quickgaze.io.images import read_rgb
        from quickgaze.maps.resampling import cam_to_image

        rgb = read_rgb(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB; got {rgb.shape} {rgb.dtype}")
        if self.eigencam:
            res = compute_cams(self.model, [rgb], self.settings, self.device)[0]
        else:
            res = method_cams(self.model, str(self.variant["model"]),
                              [torch.from_numpy(rgb).to(self.device)], self.variant)[0]
        if res.error:
            raise ValueError(f"{image if isinstance(image, (str, Path)) else 'image'}: "
                             f"{res.error}")
        out = cam_to_image(res.cam, res.extent, rgb.shape[:2], res.offset)
        return out if self.sigma is None else gaussian_smooth(out, self.sigma)


def cam_map(image: str | os.PathLike | np.ndarray, seed: int = 0, device: str = "auto",
            sigma: float | None = None, **variant: object) -> np.ndarray:
    """The CAM of one image at image size (see :class:`CamMapper`, which loads the
    model once for many images)."""
    return CamMapper(seed=seed, device=device, sigma=sigma, **variant)(image)


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
    ``sauc`` is NaN). seed: seeds the AUC negatives.
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
