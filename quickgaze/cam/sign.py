"""Sign policies: which of a principal component's two signs a CAM gets, and
whether it differs from a reference sign."""

from __future__ import annotations

import numpy as np
import torch

SIGN_POLICIES = ("svd", "max_abs", "mean_activation")


def sign_against(proj: torch.Tensor, reference: np.ndarray,
                 min_cosine: float = 0.5) -> bool | None:
    """Whether ``proj`` has the opposite sign to ``reference`` (both ``(h, w)``
    projections of the same activations): the sign of their inner product.
    None when ``|cos| < min_cosine``: the two are not the same component (a
    near-tied spectrum), so no sign relation is defined."""
    p = proj.double().cpu().numpy().ravel()
    r = reference.astype(np.float64).ravel()
    norm = float(np.linalg.norm(p) * np.linalg.norm(r))
    if norm == 0 or abs(float(p @ r)) < min_cosine * norm:
        return None
    return bool(p @ r < 0)


def apply_sign_policy(proj: torch.Tensor, mean_map: torch.Tensor,
                      policy: str) -> tuple[torch.Tensor, bool]:
    """Choose the sign of a principal-component projection.

    proj: ``(h, w)``; mean_map: ``(h, w)`` channel-mean of the fused activations.
    - ``svd``: handled by :func:`image_cam` (grad-cam's computation), not here.
    - ``max_abs``: flip when ``|min| > |max|`` (Seg-Eigen-CAM, Chung & Ying 2025,
      doi:10.3390/app15137562, Eq. 13; grad-cam 1.5.7
      ``get_2d_projection_with_sign_correction``).
    - ``mean_activation``: the sign whose projection correlates positively
      with the channel-mean activation map (no flip when they are uncorrelated).
    Returns the signed projection and whether it was flipped.
    """
    if policy == "max_abs":
        flip = bool(proj.min().abs() > proj.max().abs())
    elif policy == "mean_activation":
        m = mean_map.double()
        p = proj.double()
        flip = bool(((p - p.mean()) * (m - m.mean())).sum() < 0)
    else:
        raise ValueError(f"sign_policy '{policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}")
    return (-proj if flip else proj), flip
