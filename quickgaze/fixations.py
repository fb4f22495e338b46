"""Human fixations: parsing SALICON annotation files and building maps from them.

Inside quickgaze, fixations of one image are a ``(N, 2)`` int array of
0-based ``(row, col)`` pixel indices, all of them inside the image.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from quickgaze.smoothing import gaussian_smooth

SALICON_SIGMA = 19.0


def load_salicon2015_json(path: str | os.PathLike) -> dict[str, dict]:
    """Parse a SALICON 2015 COCO-style fixation JSON.

    ``annotations[i]["fixations"]`` are ``[row, col]``, 1-based. Returns, per
    image stem, ``{"points": (N, 2) float array of 0-based (row, col),
    "shape": (H, W)}``; points are not yet checked against the image.
    """
    data = json.loads(Path(path).read_text())
    images = {img["id"]: img for img in data["images"]}
    pts: dict[int, list] = {i: [] for i in images}
    for ann in data["annotations"]:
        pts[ann["image_id"]].extend(ann["fixations"])
    out = {}
    for image_id, img in images.items():
        arr = np.asarray(pts[image_id], dtype=np.float64).reshape(-1, 2) - 1.0
        out[Path(img["file_name"]).stem] = {"points": arr, "shape": (img["height"], img["width"])}
    return out


def valid_points(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Round ``(N, 2)`` 0-based (row, col) points to pixels, drop those outside ``shape``.

    Returns the ``(M, 2)`` int array of kept pixels and the number dropped.
    """
    px = np.round(points).astype(np.int64).reshape(-1, 2)
    inside = (px[:, 0] >= 0) & (px[:, 0] < shape[0]) & (px[:, 1] >= 0) & (px[:, 1] < shape[1])
    return px[inside], int((~inside).sum())


def fixation_map(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Binary ``(H, W)`` bool map, True at each fixated pixel of ``(N, 2)`` (row, col)."""
    fmap = np.zeros(shape, dtype=bool)
    fmap[points[:, 0], points[:, 1]] = True
    return fmap


def saliency_from_fixations(points: np.ndarray, shape: tuple[int, int],
                            sigma: float = SALICON_SIGMA) -> np.ndarray:
    """Ground-truth map the SALICON way: 1 at each fixated pixel, Gaussian blur of
    ``sigma`` px, min-max to [0, 1]. Returns ``(H, W)`` float32."""
    return gaussian_smooth(fixation_map(points, shape).astype(np.float64), sigma)


def load_fixations(source: str | os.PathLike, fmt: str, ids: list[str]) -> dict[str, np.ndarray]:
    """Fixations of ``ids`` from ``source`` as ``(N, 2)`` float 0-based (row, col).

    source: a JSON file, or a folder holding exactly one JSON file (as the
    SALICON 2015 archive extracts). fmt: ``auto`` or ``salicon2015_json``.
    Images absent from the source get no entry.
    """
    if fmt not in ("auto", "salicon2015_json"):
        raise ValueError(f"fixation_format '{fmt}' unknown; allowed: auto, salicon2015_json")
    source = Path(source)
    if source.is_dir():
        found = sorted(source.glob("*.json"))
        if len(found) != 1:
            raise ValueError(f"fixation folder '{source}' must hold one .json file, found "
                             f"{[p.name for p in found]}")
        source = found[0]
    parsed = load_salicon2015_json(source)
    return {i: parsed[i]["points"] for i in ids if i in parsed}
