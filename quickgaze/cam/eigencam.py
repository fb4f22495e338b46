"""EigenCAM on the FPN of a torchvision detector: a variant's settings, its
result, and the pipeline that joins the parts.

The parts, one module each, each documented by shape: the forward up to the
FPN and the choice of levels (:mod:`quickgaze.cam.fpn`), the fused-level operator
and its geometry (:mod:`quickgaze.cam.fused_levels`), the PCA solvers and
grad-cam's SVD (:mod:`quickgaze.cam.pca`), the sign policies (:mod:`quickgaze.cam.sign`).

Only the detector's transform (or plain normalisation, at native scale) and
its backbone + FPN run: no RPN, no ROI heads. The FPN levels are ``abs()``-ed,
resampled to one grid and concatenated (grad-cam's
``fasterrcnn_reshape_transform``); the CAM is the projection of the centred
activations on their top principal component (Muhammad & Yeasin 2020,
"Eigen-CAM", arXiv:2008.00299), signed by a policy, ReLU-ed and min-max
normalised.

The sign of a principal component is arbitrary; what every map is measured
against is the sign grad-cam's ``EigenCAM`` (and so the user's notebook) gets:
numpy's SVD of the centred float32 activation matrix (policy ``svd``, see
:func:`gradcam_projection`). Each CAM records whether its sign differs from
that reference.
"""


from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from quickgaze.cam.fpn import (
    INPUT_SCALES,
    PRECISIONS,
    fpn_feature_groups,
    select_levels,
    to_tensor,
)
from quickgaze.cam.fused_levels import FusedLevels, grid_geometry
from quickgaze.cam.pca import (
    NOT_CONVERGED,
    SVD_MAX_CELLS,
    gradcam_projection,
    single_thread,
    svd_projection,
    top_principal_projection,
)
from quickgaze.cam.sign import SIGN_POLICIES, apply_sign_policy, sign_against


@dataclass(frozen=True)
class CamSettings:
    """Parameters of one CAM variant.

    levels: FPN keys to fuse, or ``("all",)``.
    grid: FPN key whose spatial size all levels are resampled to, or
        ``coarsest`` / ``finest``.
    input_scale: ``detector`` (the model's resize and pad) or ``native``.
    sign_policy: one of SIGN_POLICIES (``svd``: grad-cam's and the notebook's
        sign, only on grids of at most SVD_MAX_CELLS cells).
    crop_padding: drop the detector's padding from the grid before the PCA
        (the notebook and grad-cam kept it and stretched the padded grid).
    precision: the forward's arithmetic, one of PRECISIONS: ``fp32``, or
        ``bf16`` / ``fp16`` autocast of the transform, backbone and FPN (the
        features are cast back to float32: fusion, PCA and sign run in fp32).
    channels_last: the forward in channels-last memory format (the model is
        converted by the caller, :func:`quickgaze.pipeline.cam_job.cam_job`).
    """

    levels: tuple[str, ...] = ("all",)
    grid: str = "coarsest"
    input_scale: str = "detector"
    sign_policy: str = "svd"
    crop_padding: bool = True
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.sign_policy == "none":
            raise ValueError("sign_policy 'none' (the solver's arbitrary sign) was removed: "
                             "use 'svd' for the sign grad-cam's EigenCAM and the notebook get")
        if self.sign_policy not in SIGN_POLICIES:
            raise ValueError(
                f"sign_policy '{self.sign_policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}"
            )
        if self.input_scale not in INPUT_SCALES:
            raise ValueError(
                f"input_scale '{self.input_scale}' unknown; allowed: {', '.join(INPUT_SCALES)}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision '{self.precision}' unknown; allowed: {', '.join(PRECISIONS)}"
            )


@dataclass
class CamResult:
    """One image's CAM.

    cam: ``(h, w)`` float32 in [0, 1] on the fusion grid (padding cropped
        when requested).
    extent: ``(rows, cols)`` of the grid, in grid cells, that the image covers
        (fractional when a padded cell is only partly image).
    offset: shift of the cell centres, in cells, from a uniform grid over
        ``extent`` (-0.25 on the pool grid with ``crop_padding``; see
        :func:`level_geometry` and :func:`quickgaze.maps.resampling.cam_resampling`).
    explained_variance: share of the total variance of the fused activations
        carried by the top component.
    sign_flipped: the map's sign is the opposite of the reference sign (policy
        ``svd`` on the same grid and crop: grad-cam's and the notebook's); None
        where the reference cannot be computed (grids above SVD_MAX_CELLS) or is
        undefined (the two solvers found different components: near-tied spectrum).
    converged: the iterative solver met its tolerance (always true for exact solvers).
    warnings: what the record's reader should know (non-convergence, ties); "" if none.
    error: empty, or why this image has no CAM (the other fields are then empty).
    """

    cam: np.ndarray
    extent: tuple[float, float]
    offset: tuple[float, float]
    explained_variance: float
    sign_flipped: bool | None
    converged: bool = True
    warnings: str = ""
    error: str = ""


def minmax(x: torch.Tensor) -> torch.Tensor:
    """``(x - min) / (max - min + 1e-7)``, grad-cam's ``scale_cam_image`` normalisation
    (the absolute 1e-7 keeps the maximum below 1 when ``x`` is tiny, e.g. random weights)."""
    x = x - x.min()
    return x / (x.max() + 1e-7)


def cam_from_projection(proj: torch.Tensor) -> torch.Tensor:
    """ReLU then min-max: the CAM of a signed projection, as grad-cam does."""
    return minmax(proj.clamp_min(0))


@torch.inference_mode()
def compute_cams(model: nn.Module, images: list[np.ndarray] | list[torch.Tensor],
                 settings: CamSettings, device: torch.device,
                 method: str = "auto") -> list[CamResult]:
    """EigenCAM of a batch of ``(H, W, 3)`` uint8 RGB images (any sizes): one
    variant of :func:`compute_variant_cams`."""
    return compute_variant_cams(model, images, [settings], device, method=method)[0]


@torch.inference_mode()
def compute_variant_cams(model: nn.Module, images: list[np.ndarray] | list[torch.Tensor],
                         variants: list[CamSettings], device: torch.device,
                         wanted: list[list[bool]] | None = None,
                         method: str = "auto") -> list[list[CamResult | None]]:
    """EigenCAMs of several variants of a batch of ``(H, W, 3)`` uint8 RGB images
    from one forward of each image.

    One forward of the transform and backbone + FPN per network input size in
    the batch (:func:`quickgaze.cam.fpn.fpn_feature_groups`: no image is padded
    to a neighbour's size, so each image's CAM is the one it gets alone; the
    variants must share ``input_scale``, ``precision`` and ``channels_last``:
    a ValueError otherwise), then each
    variant's fusion, PCA and sign policy per image on the shared features,
    without forming the fused activation matrix when it is large (see
    :func:`top_principal_projection`; ``method`` is passed on). ``wanted[v][k]``
    false skips variant ``v`` of image ``k`` (its result is None). Returns one
    list per variant, in image order. An image whose activations are not
    finite gets a result with ``error`` set.
    """
    forwards = {(s.input_scale, s.precision, s.channels_last) for s in variants}
    if len(forwards) != 1:
        raise ValueError(f"variants of one forward must share input_scale, precision and "
                         f"channels_last; got {sorted(forwards)}")
    tensors = [to_tensor(im, device) for im in images]
    first = variants[0]
    out: list[list[CamResult | None]] = [[None] * len(images) for _ in variants]
    for idx, features, sizes, padded in fpn_feature_groups(
            model, tensors, first.input_scale, first.precision, first.channels_last):
        # Many small operations per image: one thread is faster, and far faster on a
        # loaded machine (0.3 s against 0.5-2 s per image at the finest grid on 2 cores).
        with single_thread():
            for v, settings in enumerate(variants):
                levels, grid = select_levels(features, settings.levels, settings.grid)
                for j, k in enumerate(idx):
                    if wanted is None or wanted[v][k]:
                        out[v][k] = image_cam(OrderedDict((m, features[m][j]) for m in levels),
                                              grid, sizes[j], padded, settings, method)
    return out


def image_cam(features: OrderedDict[str, torch.Tensor], grid: str, size: tuple[int, int],
              padded: tuple[int, int], settings: CamSettings, method: str = "auto"
              ) -> CamResult:
    """The CAM of one image from its FPN levels (key -> ``(C_m, h_m, w_m)``, as the
    backbone returned them, the levels to fuse), fused on level ``grid``; ``size``
    is the image in the network input, ``padded`` the padded network input.

    Policy ``svd``: grad-cam's projection of the variant's matrix (as grad-cam
    builds it without ``crop_padding``, :func:`gradcam_projection`; the
    engine's exact-geometry matrix with it); a grid of more than SVD_MAX_CELLS
    cells is a ValueError (a setting that cannot work, not a bad image). Other
    policies: the engine's solver (``method``), signed by the policy, and
    ``sign_flipped`` against that reference where the grid allows it.
    """
    levels = list(features.values())
    geom = grid_geometry({k: tuple(x.shape[-2:]) for k, x in features.items()}, grid, size,
                         padded, settings.crop_padding)
    crop, extent = geom.crop, geom.extent
    n_cells = crop[0] * crop[1]
    if settings.sign_policy == "svd" and n_cells > SVD_MAX_CELLS:
        raise ValueError(f"sign_policy 'svd' needs numpy's dense SVD, feasible up to "
                         f"{SVD_MAX_CELLS} grid cells; this grid has {crop[0]}x{crop[1]} = "
                         f"{n_cells}: use a coarser grid or sign_policy max_abs / mean_activation")
    if not all(bool(torch.isfinite(x).all()) for x in levels):
        return CamResult(np.zeros((0, 0), np.float32), (0.0, 0.0), (0.0, 0.0), float("nan"),
                         None, error="non-finite activations (NaN or Inf) in the FPN")
    acts = FusedLevels(levels, tuple(features[grid].shape[-2:]), crop,
                       matrices=geom.matrices)
    reference = None
    if n_cells <= SVD_MAX_CELLS and geom.matrices is None:
        reference = gradcam_projection(levels, tuple(features[grid].shape[-2:]))
    elif n_cells <= SVD_MAX_CELLS:
        proj, ratio = svd_projection(acts.dense().float().cpu().numpy())
        reference = proj.reshape(crop), ratio
    if settings.sign_policy == "svd":
        cam = cam_from_projection(torch.from_numpy(reference[0]))
        return CamResult(cam.float().numpy(), extent, geom.offset, reference[1], False)
    proj, ratio, converged = top_principal_projection(acts, method)
    notes = [] if converged else [NOT_CONVERGED]
    mean_map = None
    if settings.sign_policy == "mean_activation":
        ones = acts.levels[0].new_full((acts.n_channels, 1), 1.0 / acts.n_channels)
        mean_map = acts.matmul(ones).reshape(crop)
    proj, _ = apply_sign_policy(proj, mean_map, settings.sign_policy)
    flipped = None if reference is None else sign_against(proj, reference[0])
    if reference is not None and flipped is None:
        notes.append("top principal components nearly tied: no sign relative to grad-cam's")
    return CamResult(cam_from_projection(proj).float().cpu().numpy(), extent, geom.offset, ratio,
                     flipped, converged, "; ".join(notes))
