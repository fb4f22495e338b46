"""The embedded demo: synthetic scenes, official-style maps and a SALICON 2015
fixation JSON, generated offline from a seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from quickgaze.io.images import write_map_png
from quickgaze.saliency.fixations import saliency_from_fixations, valid_points

# Images of the demo when config.yaml does not say.
DEMO_IMAGES = 12


def demo_ids(n_images: int) -> list[str]:
    return [f"demo_{i:03d}" for i in range(n_images)]


def demo_scene(rng: np.random.Generator, shape: tuple[int, int] = (480, 640),
               n_observers: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic scene: a few salient objects on a textured background.

    Returns the ``(H, W, 3)`` uint8 image and ``(N, 2)`` float fixations, 0-based
    (row, col): 85% drawn around the objects (in proportion to their size), 15%
    from a centre-biased Gaussian; a few fall outside the image, as in real data.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # Background: low-contrast colour gradient plus fine noise texture.
    base = rng.uniform(60, 140, size=3)
    tilt = rng.uniform(-40, 40, size=3)
    texture = rng.normal(0, 12, size=(h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
    img = base + tilt * (xx / w)[..., None] + texture
    objects = []
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.uniform(0.15 * h, 0.85 * h), rng.uniform(0.15 * w, 0.85 * w)
        ry, rx = rng.uniform(25, 70), rng.uniform(25, 90)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        if rng.random() < 0.5:  # rectangles as well as ellipses
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        colour = rng.choice([0.0, 255.0], size=3)
        colour[rng.integers(3)] = 255.0 - colour[rng.integers(3)]
        stripes = 40 * np.sin(xx / rng.uniform(3, 8))[..., None] * (rng.random() < 0.5)
        img = np.where(inside[..., None], colour + stripes, img)
        objects.append((cy, cx, ry, rx))
    n = n_observers * 8
    weights = np.array([ry * rx for _, _, ry, rx in objects])
    which = rng.choice(len(objects), size=n, p=weights / weights.sum())
    centre = rng.random(n) < 0.15
    pts = np.empty((n, 2))
    for k in range(n):
        if centre[k]:
            pts[k] = rng.normal((h / 2, w / 2), (h / 5, w / 5))
        else:
            cy, cx, ry, rx = objects[which[k]]
            pts[k] = rng.normal((cy, cx), (ry / 2.5, rx / 2.5))
    return np.clip(img, 0, 255).astype(np.uint8), pts


def write_demo_dataset(root: str | os.PathLike, n_images: int, seed: int) -> None:
    """Write the demo dataset under ``root``: ``images/<id>.png``, ``maps/<id>.png``
    (SALICON-style ground truth) and ``fixations.json`` (SALICON 2015 format,
    [row, col] 1-based; one annotation per observer, 40 per image, each with
    its ``worker_id``, so the human ceiling is available). Deterministic for a
    given ``seed``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "maps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for num, image_id in enumerate(demo_ids(n_images)):
        img, pts = demo_scene(rng)
        iio.imwrite(root / "images" / f"{image_id}.png", img)
        kept, _ = valid_points(pts, img.shape[:2])
        gt = saliency_from_fixations(kept, img.shape[:2])
        write_map_png(root / "maps" / f"{image_id}.png", gt)
        images.append({"id": num, "file_name": f"{image_id}.png",
                       "height": img.shape[0], "width": img.shape[1]})
        # One annotation per observer (8 fixations each), its worker_id the
        # observer's identity, as in SALICON: the human ceiling splits them.
        px = np.round(pts).astype(int) + 1
        for k in range(0, len(px), 8):
            annotations.append({"id": len(annotations), "image_id": num, "worker_id": k // 8,
                                "fixations": px[k:k + 8].tolist()})
    (root / "fixations.json").write_text(
        json.dumps({"info": {"description": "quickgaze synthetic demo", "seed": seed},
                    "images": images, "annotations": annotations}))

