"""EigenCAM on the FPN of a torchvision detector.

Only the detector's transform (or plain normalisation, at native scale) and
its backbone + FPN run: no RPN, no ROI heads. The FPN levels are ``abs()``-ed,
resampled to one grid and concatenated (grad-cam's
``fasterrcnn_reshape_transform``); the CAM is the projection of the centred
activations on their top principal component (Muhammad & Yeasin 2020,
"Eigen-CAM", arXiv:2008.00299), signed by a policy, ReLU-ed and min-max
normalised.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIGN_POLICIES = ("none", "max_abs", "mean_activation")
INPUT_SCALES = ("detector", "native")


@dataclass(frozen=True)
class CamSettings:
    """Parameters of one CAM variant.

    levels: FPN keys to fuse, or ``("all",)``.
    grid: FPN key whose spatial size all levels are resampled to, or
        ``coarsest`` / ``finest``.
    input_scale: ``detector`` (the model's resize and pad) or ``native``.
    sign_policy: one of SIGN_POLICIES.
    crop_padding: drop the detector's padding from the grid before the PCA
        (the notebook and grad-cam kept it and stretched the padded grid).
    """

    levels: tuple[str, ...] = ("all",)
    grid: str = "coarsest"
    input_scale: str = "detector"
    sign_policy: str = "none"
    crop_padding: bool = True

    def __post_init__(self) -> None:
        if self.sign_policy not in SIGN_POLICIES:
            raise ValueError(
                f"sign_policy '{self.sign_policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}"
            )
        if self.input_scale not in INPUT_SCALES:
            raise ValueError(
                f"input_scale '{self.input_scale}' unknown; allowed: {', '.join(INPUT_SCALES)}"
            )


@dataclass
class CamResult:
    """One image's CAM.

    cam: ``(h, w)`` float32 in [0, 1] on the fusion grid (padding cropped
        when requested).
    extent: ``(rows, cols)`` of the grid, in grid cells, that the image covers
        (fractional when a padded cell is only partly image).
    explained_variance: share of the total variance of the fused activations
        carried by the top component.
    sign_flipped: the policy chose the opposite of the solver's sign.
    error: empty, or why this image has no CAM (the other fields are then empty).
    """

    cam: np.ndarray
    extent: tuple[float, float]
    explained_variance: float
    sign_flipped: bool
    error: str = ""


def to_tensor(image: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """``(H, W, 3)`` uint8 array or tensor -> ``(3, H, W)`` float32 in [0, 1] on ``device``.

    The uint8 image is moved first (4x fewer bytes; asynchronous from pinned memory).
    """
    t = torch.as_tensor(image).to(device or "cpu", non_blocking=True)
    return t.permute(2, 0, 1).float().div_(255.0)


def fpn_features(
    model: nn.Module, images: list[torch.Tensor], input_scale: str
) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]], tuple[int, int]]:
    """Run the transform and backbone + FPN on a batch.

    images: list of ``(3, H, W)`` float tensors in [0, 1], on the model's device.
    Returns the FPN dict of ``(B, C, h_l, w_l)`` tensors, each image's size in
    the network input (before padding) and the padded batch size ``(Hp, Wp)``.
    """
    if input_scale == "detector":
        image_list, _ = model.transform(images)
        batch, sizes = image_list.tensors, [tuple(s) for s in image_list.image_sizes]
    else:
        mean = torch.tensor(model.transform.image_mean, device=images[0].device)[:, None, None]
        std = torch.tensor(model.transform.image_std, device=images[0].device)[:, None, None]
        sizes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        hp, wp = max(s[0] for s in sizes), max(s[1] for s in sizes)
        batch = images[0].new_zeros((len(images), 3, hp, wp))
        for i, im in enumerate(images):
            batch[i, :, : im.shape[1], : im.shape[2]] = (im - mean) / std
    features = model.backbone(batch)
    return features, sizes, (int(batch.shape[-2]), int(batch.shape[-1]))


def select_levels(features: OrderedDict[str, torch.Tensor], levels: tuple[str, ...],
                  grid: str) -> tuple[list[str], str]:
    """Resolve ``levels`` and ``grid`` against the keys the backbone returned."""
    keys = list(features.keys())
    chosen = keys if levels == ("all",) else list(levels)
    unknown = [k for k in chosen if k not in features]
    if unknown or not chosen:
        raise ValueError(f"FPN levels {unknown or chosen} not available; this model has {keys}")
    if grid in ("coarsest", "finest"):
        by_area = sorted(keys, key=lambda k: features[k].shape[-2] * features[k].shape[-1])
        grid = by_area[0] if grid == "coarsest" else by_area[-1]
    if grid not in features:
        raise ValueError(f"FPN grid '{grid}' not available; this model has {keys}")
    return chosen, grid


def fuse_levels(features: OrderedDict[str, torch.Tensor], levels: list[str],
                grid: str) -> torch.Tensor:
    """``abs()`` each level, resample bilinearly to the grid level's size, concatenate.

    Returns ``(B, C * len(levels), h_g, w_g)``, as grad-cam's
    ``fasterrcnn_reshape_transform`` does for all levels and the ``pool`` grid.
    """
    size = features[grid].shape[-2:]
    return torch.cat(
        [F.interpolate(features[k].abs(), size=size, mode="bilinear") for k in levels], dim=1
    )


def top_principal_projection(acts: torch.Tensor, max_iter: int = 100,
                             tol: float = 1e-7) -> tuple[torch.Tensor, float]:
    """Projection of centred activations on their top principal component.

    acts: ``(C, h, w)``. With ``A`` the ``(h*w, C)`` matrix of activations
    centred per channel and ``v`` the top right singular vector of ``A``,
    returns ``(A v).reshape(h, w)`` and the explained-variance ratio
    ``s_1^2 / sum_i s_i^2 = s_1^2 / ||A||_F^2``. The sign of ``v`` is the
    solver's (arbitrary).

    Exact eigendecomposition of the smaller Gram matrix (``A A^T`` or
    ``A^T A``) when it is at most 1024 wide; otherwise block subspace
    iteration with 8 vectors from a fixed start, which never forms a
    ``C x C`` product of the whole ``A`` nor the ``U`` matrix.
    """
    c, h, w = acts.shape
    a = acts.reshape(c, h * w).T.to(torch.float64 if min(c, h * w) <= 1024 else torch.float32)
    a = a - a.mean(dim=0, keepdim=True)
    total = float((a.double() ** 2).sum())
    if total == 0.0:
        return torch.zeros(h, w, dtype=acts.dtype, device=acts.device), 0.0
    n = a.shape[0]
    if min(n, c) <= 1024:
        a = a.double()
        if n <= c:
            vals, vecs = torch.linalg.eigh(a @ a.T)
            proj = vecs[:, -1] * vals[-1].clamp_min(0).sqrt()
        else:
            vals, vecs = torch.linalg.eigh(a.T @ a)
            proj = a @ vecs[:, -1]
        lam = float(vals[-1])
    else:
        proj, lam = _subspace_top(a, max_iter, tol)
    return proj.reshape(h, w).to(acts.dtype), lam / total


def _subspace_top(a: torch.Tensor, max_iter: int, tol: float) -> tuple[torch.Tensor, float]:
    """Top singular triplet of ``a`` (n, C) by block subspace iteration (8 vectors)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(a.shape[1], 8, generator=gen, dtype=a.dtype).to(a.device)
    q, _ = torch.linalg.qr(q)
    prev = None
    for _ in range(max_iter):
        q, _ = torch.linalg.qr(a.T @ (a @ q))
        # Rayleigh-Ritz on the small subspace, in float64.
        b = (a @ q).double()
        vals, vecs = torch.linalg.eigh(b.T @ b)
        v = q.double() @ vecs[:, -1]
        if prev is not None and 1.0 - abs(float(v @ prev)) < tol:
            break
        prev = v
    proj = a.double() @ v
    return proj, float(vals[-1])


def apply_sign_policy(proj: torch.Tensor, acts: torch.Tensor, policy: str) -> tuple[torch.Tensor, bool]:
    """Choose the sign of a principal-component projection.

    proj: ``(h, w)``; acts: ``(C, h, w)`` fused activations.
    - ``none``: keep the solver's sign (the notebook's and grad-cam's EigenCAM).
    - ``max_abs``: flip when ``|min| > |max|`` (Seg-Eigen-CAM; grad-cam 1.5.7
      ``get_2d_projection_with_sign_correction``).
    - ``mean_activation``: the sign whose projection correlates positively
      with the channel-mean activation map.
    Returns the signed projection and whether it was flipped.
    """
    if policy == "none":
        flip = False
    elif policy == "max_abs":
        flip = bool(proj.min().abs() > proj.max().abs())
    elif policy == "mean_activation":
        mean_map = acts.double().mean(dim=0)
        p = proj.double()
        flip = bool(((p - p.mean()) * (mean_map - mean_map.mean())).sum() < 0)
    else:
        raise ValueError(f"sign_policy '{policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}")
    return (-proj if flip else proj), flip


def minmax(x: torch.Tensor) -> torch.Tensor:
    """``(x - min) / (max - min + 1e-7)``, grad-cam's ``scale_cam_image`` normalisation."""
    x = x - x.min()
    return x / (x.max() + 1e-7)


@torch.inference_mode()
def compute_cams(model: nn.Module, images: list[np.ndarray] | list[torch.Tensor],
                 settings: CamSettings,
                 device: torch.device) -> list[CamResult]:
    """EigenCAM of a batch of ``(H, W, 3)`` uint8 RGB images (any sizes).

    One forward of the transform and backbone + FPN for the whole batch, then
    one PCA per image on its own (optionally padding-cropped) grid. An image
    whose activations are not finite gets a result with ``error`` set.
    """
    tensors = [to_tensor(im, device) for im in images]
    features, sizes, (hp, wp) = fpn_features(model, tensors, settings.input_scale)
    levels, grid = select_levels(features, settings.levels, settings.grid)
    fused = fuse_levels(features, levels, grid)
    gh, gw = fused.shape[-2:]
    results = []
    for i, (h, w) in enumerate(sizes):
        if settings.crop_padding:
            ext_h, ext_w = h * gh / hp, w * gw / wp
            acts = fused[i, :, : int(np.ceil(ext_h - 1e-9)), : int(np.ceil(ext_w - 1e-9))]
        else:
            ext_h, ext_w = float(gh), float(gw)
            acts = fused[i]
        if not torch.isfinite(acts).all():
            results.append(CamResult(np.zeros((0, 0), np.float32), (0.0, 0.0), float("nan"),
                                     False, "non-finite activations (NaN or Inf) in the FPN"))
            continue
        proj, ratio = top_principal_projection(acts)
        proj, flipped = apply_sign_policy(proj, acts, settings.sign_policy)
        cam = minmax(proj.clamp_min(0))
        results.append(CamResult(cam.float().cpu().numpy(), (ext_h, ext_w), ratio, flipped))
    return results


def cam_to_image(cam: np.ndarray, extent: tuple[float, float],
                 image_shape: tuple[int, int]) -> np.ndarray:
    """Map a grid CAM onto the image: bilinear upsampling, then min-max to [0, 1].

    cam: ``(h, w)``; extent: grid cells covered by the image (see CamResult);
    image_shape: ``(H, W)``. The grid is upsampled so that ``extent`` spans
    ``H x W`` pixels and the part beyond (padding) is cut off. Bilinear
    resampling with half-pixel centres, as OpenCV's ``INTER_LINEAR`` used by
    grad-cam. Returns ``(H, W)`` float32.
    """
    h_img, w_img = image_shape
    h, w = cam.shape
    out_h = max(h_img, round(h * h_img / extent[0]))
    out_w = max(w_img, round(w * w_img / extent[1]))
    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    up = F.interpolate(t, size=(out_h, out_w), mode="bilinear")[0, 0, :h_img, :w_img]
    return minmax(up).numpy()
