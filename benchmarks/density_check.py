"""Issue 12, items 4 and 5, on the ten real SALICON examples: does information
gain measure the map or the epsilon, and what width does the centre bias get?

Computes seeded random-weights CAMs (``fasterrcnn_mobilenet_v3_large_320_fpn``,
``weights: none``, seed 0, native input scale, sign aligned to the mean
activation) of the examples in a temporary folder, then prints, averaged over
the images: the share of fixated pixels on exact zeros of the raw CAM; IG of
the raw and smoothed (sigma 19 px) map against the held-out centre bias at
``eps`` 2.2204e-16 (MATLAB's), 1e-16 and 1e-9, without the uniform mixture
(``alpha = 0``, the MIT normalisation) and with it (:data:`DENSITY_ALPHA`);
and the centre-bias widths: the root mean squared offsets (the untruncated
Gaussian's fit), the maximum-likelihood fit on all images, the leave-one-out
fits, with IG of the uniform map against each (how strong a baseline it is).

    PYTHONPATH=. python benchmarks/density_check.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import tempfile
from pathlib import Path

import numpy as np
import torch

from quickgaze.io.records import load_npz
from quickgaze.maps.resampling import cam_resampling, cam_to_image
from quickgaze.maps.smoothing import gaussian_smooth_factored
from quickgaze.pipeline.cam_job import cam_job
from quickgaze.saliency import metrics as M
from quickgaze.saliency.baselines import centre_bias_map, fit_centre_bias_folds
from quickgaze.saliency.fixation_stats import fixation_stats
from quickgaze.saliency.fixations import load_fixations, valid_points

SHAPE = (480, 640)
EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "salicon-train-examples"
VARIANT = {"model": "fasterrcnn_mobilenet_v3_large_320_fpn", "weights": "none",
           "input_scale": "native", "levels": "all", "grid": "coarsest",
           "sign_policy": "mean_activation", "crop_padding": True}
EPS = (M.MIT_EPS, 1e-16, 1e-9)


def main() -> None:
    torch.set_num_threads(1)
    examples = EXAMPLES if EXAMPLES.is_dir() else Path("/work/shared/data/salicon-train-examples")
    images = {p.stem: p for p in sorted((examples / "images").glob("*.jpg"))}
    ids = list(images)
    parsed = load_fixations(examples / "fixations_train2014examples.json", "auto", ids)
    points = {i: (valid_points(parsed[i], SHAPE)[0], SHAPE) for i in ids}
    stats = fixation_stats(points, None, "fit", n_others=10, seed=0)
    ig: dict[tuple[float, str, float], list[float]] = {}
    on_zero = []
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {i: Path(tmp, f"{i}.npz") for i in ids}
        cam_job(ids, images, {"v": outputs}, {"v": VARIANT}, "cpu", seed=0, forward_batch=1,
                loader_workers=0)
        for i in ids:
            rec = load_npz(outputs[i])
            extent = tuple(rec["extent"])
            raw = cam_to_image(rec["cam"], extent, SHAPE)
            rows, cols = cam_resampling(rec["cam"].shape, extent, SHAPE)
            maps = {"raw": raw, "smooth": gaussian_smooth_factored(rows, rec["cam"], cols, 19)}
            f = M.fixated_indices(points[i][0], SHAPE)
            base = centre_bias_map(SHAPE, stats.centre_bias_for(i))
            on_zero.append(float(np.mean(raw.ravel()[f] == 0)))
            for alpha in (0.0, M.DENSITY_ALPHA):
                for name, m in maps.items():
                    for eps in EPS:
                        ig.setdefault((alpha, name, eps), []).append(
                            M.info_gain(m, f, base, alpha=alpha, eps=eps))
    print(f"random-weights CAMs of {len(ids)} SALICON examples: "
          f"{np.mean(on_zero):.2f} of fixated pixels on exact zeros of the raw CAM")
    for alpha in (0.0, M.DENSITY_ALPHA):
        for name in ("raw", "smooth"):
            v = [np.array(ig[(alpha, name, eps)]) for eps in EPS]
            print(f"alpha {alpha:4.2f} {name:6s}: IG eps 2.2e-16 {v[0].mean():8.3f}, "
                  f"1e-16 {v[1].mean():8.3f}, 1e-9 {v[2].mean():8.3f}; "
                  f"largest change 1e-16 -> 1e-9 {np.abs(v[1] - v[2]).max():.4f} bits")
    pts = [points[i] for i in ids]
    rms = tuple(np.sqrt(np.mean(np.concatenate(
        [((p + 0.5) / np.array(s) - 0.5) ** 2 for p, s in pts]), axis=0)))
    full, loo = fit_centre_bias_folds(pts, np.arange(len(ids)), len(ids))
    fits = {"root mean squared offsets (in-sample)": lambda k: rms,
            "maximum likelihood, all images (in-sample)": lambda k: full,
            "maximum likelihood, leave-one-out": lambda k: tuple(loo[k])}
    uniform = np.ones(SHAPE)
    for label, sigma in fits.items():
        gain = np.mean([M.info_gain(uniform, M.fixated_indices(pts[k][0], SHAPE),
                                    centre_bias_map(SHAPE, sigma(k))) for k in range(len(ids))])
        widths = np.array([sigma(k) for k in range(len(ids))])
        print(f"{label:44s} sigma_r {widths[:, 0].min():.4f}-{widths[:, 0].max():.4f}, "
              f"sigma_c {widths[:, 1].min():.4f}-{widths[:, 1].max():.4f}; "
              f"IG(uniform vs centre bias) {gain:.4f} bits")


if __name__ == "__main__":
    main()
