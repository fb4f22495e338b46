"""CAM overhead beyond the backbone forward, on real SALICON images (CPU).

Per image, interleaved so that machine load hits both alike:
- forward: the detector transform + backbone/FPN (``fpn_features``), the part
  every CAM method needs;
- CAM step: ``compute_cams`` (which includes that forward) + ``cam_to_image``
  + saving the ``.npz`` record, i.e. what one image costs the workflow.
- post-forward: the same work minus the forward (``image_cam`` on the
  forward's features + ``cam_to_image`` + save), a figure that shifts little
  with machine load, whereas the forward's own time does.
Each image is timed ``--repeats`` times and its fastest time kept, which
filters out the stalls of a machine shared with other jobs. Overhead =
sum(CAM step) / sum(forward) - 1. Targets (issue 3): <= 10% at the pool grid,
<= 25% at the finest grid (level "0", 200x272 at detector scale).

Usage: python benchmarks/cam_overhead.py [--images 10] [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from quickgaze.cam.eigencam import CamSettings, compute_cams, image_cam
from quickgaze.cam.fpn import fpn_features, select_levels, to_tensor
from quickgaze.cam.models import build_detector
from quickgaze.cam.pca import single_thread
from quickgaze.io.images import read_rgb
from quickgaze.io.records import save_npz
from quickgaze.maps.resampling import cam_to_image

REPO = Path(__file__).resolve().parents[1]
SETTINGS = {
    # the notebook (variant `seed`)
    "pool": CamSettings(grid="pool", sign_policy="svd", crop_padding=False),
    # variant `fine`
    "finest": CamSettings(grid="finest", sign_policy="mean_activation", crop_padding=True),
}


def example_images() -> list[Path]:
    for root in (os.environ.get("QUICKGAZE_SHARED_DATA"), REPO.parent / "shared" / "data",
                 Path("/work/shared/data")):
        folder = Path(root or "", "salicon-train-examples", "images")
        if root and folder.is_dir():
            return sorted(folder.glob("*.jpg"))
    raise SystemExit("salicon-train-examples not found; set QUICKGAZE_SHARED_DATA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="fasterrcnn_resnet50_fpn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = example_images()
    images = [read_rgb(paths[i % len(paths)]) for i in range(args.images)]
    model = build_detector(args.model, "none", seed=0)
    device = torch.device("cpu")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.2f}")
    print(f"model {args.model} (random weights), {len(images)} images "
          f"{images[0].shape[0]}x{images[0].shape[1]}, detector scale, batch 1")

    def forward(img: np.ndarray) -> tuple:
        with torch.inference_mode():
            return fpn_features(model, [to_tensor(img)], "detector")

    def post_forward(img: np.ndarray, fpn: tuple, settings: CamSettings, out: Path) -> None:
        features, sizes, padded = fpn
        levels, grid = select_levels(features, settings.levels, settings.grid)
        with torch.inference_mode(), single_thread():
            res = image_cam(OrderedDict((k, features[k][0]) for k in levels), grid, sizes[0],
                            padded, settings)
        cam_to_image(res.cam, res.extent, img.shape[:2])
        save_npz(out, cam=res.cam, extent=np.array(res.extent),
                 explained_variance=res.explained_variance, sign_flipped=res.sign_flipped)

    def cam_step(img: np.ndarray, settings: CamSettings, out: Path) -> None:
        res = compute_cams(model, [img], settings, device)[0]
        cam_to_image(res.cam, res.extent, img.shape[:2])
        save_npz(out, cam=res.cam, extent=np.array(res.extent),
                 explained_variance=res.explained_variance, sign_flipped=res.sign_flipped)

    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in SETTINGS.items():
            cam_step(images[0], settings, Path(tmp, "warmup.npz"))
            t_fwd, t_cam, t_post = [], [], []
            for i, img in enumerate(images):
                best_fwd = best_cam = best_post = float("inf")
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    fpn = forward(img)
                    t1 = time.perf_counter()
                    post_forward(img, fpn, settings, Path(tmp, f"post_{i}.npz"))
                    t2 = time.perf_counter()
                    cam_step(img, settings, Path(tmp, f"{name}_{i}.npz"))
                    t3 = time.perf_counter()
                    best_fwd, best_post = min(best_fwd, t1 - t0), min(best_post, t2 - t1)
                    best_cam = min(best_cam, t3 - t2)
                t_fwd.append(best_fwd)
                t_cam.append(best_cam)
                t_post.append(best_post)
            overhead = sum(t_cam) / sum(t_fwd) - 1
            print(f"grid {name:6s}: forward {statistics.median(t_fwd):.3f} s/image (median), "
                  f"CAM step {statistics.median(t_cam):.3f} s/image, "
                  f"overhead {100 * overhead:+.1f}% (sums), median of per-image overheads "
                  f"{100 * statistics.median(c / f - 1 for c, f in zip(t_cam, t_fwd)):+.1f}%; "
                  f"post-forward {1000 * statistics.median(t_post):.0f} ms/image (median), "
                  f"{100 * sum(t_post) / sum(t_fwd):.1f}% of the forward (sums)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
