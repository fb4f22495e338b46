"""Time every metric for one 480x640 image, raw and smoothed CAM, on one CPU core.

Target (issue 4): under 150 ms for ``prepare_truth`` + ``saliency_metrics`` of the
raw and of the smoothed map. Uses the real SALICON examples in ../shared/data when
present (else a synthetic demo scene), a CAM-like map (a 25x34 grid upsampled as
:func:`quickgaze.maps.resampling.cam_to_image` does) and a 10-image shuffled-AUC pool.
Prints, over ``--repeats`` runs, the best and median wall time and the median
CPU time of this single-threaded process (on a shared machine other processes
only ever add wall time; CPU time leaves most of that out).

    PYTHONPATH=. python benchmarks/metrics_speed.py [--repeats 30]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their thread pools

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from quickgaze.data.demo import demo_scene
from quickgaze.maps.resampling import cam_to_image
from quickgaze.maps.smoothing import gaussian_smooth
from quickgaze.saliency.fixations import load_fixations, saliency_from_fixations, valid_points
from quickgaze.saliency.metrics import fixated_indices, prepare_truth, saliency_metrics

SHAPE = (480, 640)
REPO = Path(__file__).resolve().parents[1]


def examples_dir() -> Path | None:
    """``shared/data/salicon-train-examples``, found as tests/conftest.py finds it."""
    for data in (os.environ.get("QUICKGAZE_SHARED_DATA"), REPO.parent / "shared" / "data",
                 Path("/work/shared/data")):
        if data and Path(data, "salicon-train-examples").is_dir():
            return Path(data, "salicon-train-examples")
    return None


def fixations() -> tuple[list[np.ndarray], str]:
    """Fixations of ten images (the first is scored, the others form the pool)."""
    examples = examples_dir()
    if examples is not None:
        source = examples / "fixations_train2014examples.json"
        ids = sorted(p.stem for p in (examples / "images").glob("*.jpg"))
        parsed = load_fixations(source, "auto", ids)
        return [valid_points(parsed[i], SHAPE)[0] for i in ids], "real SALICON examples"
    rng = np.random.default_rng(0)
    return [valid_points(demo_scene(rng)[1], SHAPE)[0] for _ in range(10)], "synthetic demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    points, source = fixations()
    gt = np.round(saliency_from_fixations(points[0], SHAPE) * 255).astype(np.uint8) / 255.0
    pool = np.concatenate([fixated_indices(p, SHAPE) for p in points[1:]])
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    baseline = np.exp(-((yy - 239.5) / 120) ** 2 / 2 - ((xx - 319.5) / 160) ** 2 / 2)
    grid = np.random.default_rng(1).random((25, 34)).astype(np.float32)
    raw = cam_to_image(grid, (25, 34), SHAPE)
    smooth = gaussian_smooth(raw, 19)

    def all_metrics() -> None:
        truth = prepare_truth(gt, points[0], pool, baseline, seed=7)
        saliency_metrics(raw, truth)
        saliency_metrics(smooth, truth)

    def timed(fn) -> tuple[list[float], list[float]]:
        """Wall and CPU milliseconds per run (CPU time of this single-threaded
        process leaves out the time other processes hold the core)."""
        fn()  # warm-up
        wall, cpu = [], []
        for _ in range(args.repeats):
            w, c = time.perf_counter(), time.process_time()
            fn()
            cpu.append((time.process_time() - c) * 1e3)
            wall.append((time.perf_counter() - w) * 1e3)
        return wall, cpu

    truth = prepare_truth(gt, points[0], pool, baseline, seed=7)
    rows = [
        ("all metrics, raw + smoothed (incl. prepare_truth)", timed(all_metrics)),
        ("  prepare_truth (once per image)",
         timed(lambda: prepare_truth(gt, points[0], pool, baseline, seed=7))),
        ("  saliency_metrics, one map", timed(lambda: saliency_metrics(smooth, truth))),
        ("gaussian_smooth sigma 19 (not a metric)", timed(lambda: gaussian_smooth(raw, 19))),
    ]
    print(f"{platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, 1 thread (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"torch threads {torch.get_num_threads()}), load average {os.getloadavg()[0]:.2f}")
    print(f"image 480x640, {source}: {len(points[0])} fixations "
          f"({len(truth.fixated)} fixated pixels), pool {len(np.unique(pool))} pixels, "
          f"{args.repeats} repeats")
    print(f"{'':53s}  wall best  wall median  CPU median")
    for name, (wall, cpu) in rows:
        print(f"{name:53s} {min(wall):7.1f} ms  {statistics.median(wall):8.1f} ms "
              f"{statistics.median(cpu):8.1f} ms")


if __name__ == "__main__":
    main()
