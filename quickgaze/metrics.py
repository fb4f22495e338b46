"""Saliency metrics: a prediction ``(H, W)`` against ground truth at ground-truth
resolution. Definitions follow Bylinskii et al., "What do different
evaluation metrics tell us about saliency models?", TPAMI 2018, unless noted.
"""

from __future__ import annotations

import numpy as np


def cc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pearson's linear correlation coefficient of two ``(H, W)`` maps.

    ``CC = cov(P, G) / (std(P) std(G))`` over all pixels. NaN when either map
    is constant (no correlation is defined).
    """
    p = pred.astype(np.float64).ravel()
    g = gt.astype(np.float64).ravel()
    p = p - p.mean()
    g = g - g.mean()
    denom = np.sqrt((p * p).sum() * (g * g).sum())
    return float((p * g).sum() / denom) if denom > 0 else float("nan")


def cc_mask(pred: np.ndarray, gt: np.ndarray) -> float:
    """The notebook's masked CC: Pearson's CC over the pixels where either map
    is non-zero (pixels that are zero in both are left out, not counted as
    agreeing zeros). NaN when fewer than two such pixels or a constant map.
    """
    mask = (pred > 0) | (gt > 0)
    if mask.sum() < 2:
        return float("nan")
    return cc(pred[mask], gt[mask])


def saliency_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every metric of ``pred`` against the ground-truth map ``gt`` (same shape)."""
    return {"cc": cc(pred, gt), "cc_mask": cc_mask(pred, gt)}
