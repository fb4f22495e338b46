"""Orchestration at scale: the workflow on a generated 5000-image `folder` dataset.

The smallest FPN detector (fasterrcnn_mobilenet_v3_large_320_fpn) with random
weights at native input scale, one variant, so that Snakemake and the batch
jobs, not the network, are measured. Steps, each a real `snakemake` run:

1. dry run of the whole study (DAG build);
2. full run;
3. no-op rerun;
4. `snakemake --report` (issue 5: under a minute at 5000 images);
5. rerun after deleting 3 per-image CAM files: exactly 3 forward passes
   (summed from the CAM job logs, "CAM forward: computed N images");
6. rerun after changing evaluation.sigma: 0 forward passes, every image re-evaluated.

Targets (2-core x86_64 CPU, no GPU): dry run <= 20 s, no-op rerun <= 20 s,
sigma change <= 10 min. Everything goes under benchmarks/out/scale (not in
git). Usage:

    PYTHONPATH=. python benchmarks/scale.py [--images 5000] [--batch-size 250]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quickgaze.data.demo import demo_scene
from quickgaze.io.images import write_map_png
from quickgaze.saliency.fixations import saliency_from_fixations, valid_points

VARIANT = "fast"
SHAPE = (120, 160)  # small scenes: orchestration, not pixels, is under test
TARGETS_S = {"dry_run": 20.0, "noop_rerun": 20.0, "sigma_change": 600.0, "report": 60.0}


def write_dataset(root: Path, n: int, seed: int = 0) -> None:
    """``n`` synthetic scenes with SALICON-style maps (skipped when already there)."""
    images, maps = root / "images", root / "maps"
    if images.is_dir() and len(list(images.glob("*.png"))) == n:
        return
    images.mkdir(parents=True, exist_ok=True)
    maps.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        img, pts = demo_scene(rng, SHAPE, n_observers=5)
        iio.imwrite(images / f"img_{k:05d}.png", img)
        kept, _ = valid_points(pts, SHAPE)
        write_map_png(maps / f"img_{k:05d}.png", saliency_from_fixations(kept, SHAPE))


def write_config(work: Path, data: Path, batch_size: int, sigma: float) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(
        dataset={"kind": "folder", "name": "scale",
                 "folder": {"images": str(data / "images"), "maps": str(data / "maps"),
                            "fixations": None}},
        device="cpu", batch_size=batch_size, forward_batch=8,
        variants={VARIANT: {"model": "fasterrcnn_mobilenet_v3_large_320_fpn",
                            "weights": "none", "input_scale": "native"}},
        evaluation={"sigma": sigma},
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(work: Path, *args: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
           "--cores", "2", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return seconds, proc.stdout + proc.stderr


def computed(logs: Path, since: float) -> tuple[int, int]:
    """(jobs, images computed) from the job logs under ``logs`` written after ``since``."""
    jobs = images = 0
    for log in logs.glob("*.log"):
        if log.stat().st_mtime >= since:
            found = re.findall(r"computed (\d+) images", log.read_text())
            if not found:
                sys.exit(f"{log} has no 'computed N images' line")
            jobs, images = jobs + 1, images + int(found[-1])
    return jobs, images


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "scale")
    args = ap.parse_args()
    data, work = args.out / "data", args.out / "work"
    figures: dict[str, object] = {"images": args.images, "batch_size": args.batch_size,
                                  "cpus": os.cpu_count()}

    start = time.perf_counter()
    write_dataset(data, args.images)
    figures["generate_s"] = round(time.perf_counter() - start, 1)
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    write_config(work, data, args.batch_size, sigma=19)
    cam_logs = work / "logs" / "scale" / VARIANT / "cam"
    eval_logs = work / "logs" / "scale" / VARIANT / "evaluate"

    def step(name: str, *extra: str) -> str:
        before = load()
        since = time.time()
        seconds, out = snakemake(work, *extra)
        figures[name] = {"seconds": round(seconds, 1), "load_before": before,
                         "load_after": load(),
                         "cam_jobs_images": computed(cam_logs, since) if cam_logs.exists()
                         else (0, 0),
                         "evaluate_jobs_images": computed(eval_logs, since)
                         if eval_logs.exists() else (0, 0)}
        print(name, json.dumps(figures[name]), flush=True)
        return out

    out = step("dry_run", "-n")
    figures["dry_run"]["jobs"] = int(re.search(r"^total\s+(\d+)", out, re.MULTILINE).group(1))
    step("full_run")
    assert figures["full_run"]["cam_jobs_images"][1] == args.images, figures["full_run"]
    out = step("noop_rerun")
    assert "Nothing to be done" in out, out[-2000:]
    step("report", "--report", str(work / "report.zip"))

    cams = sorted((work / "results" / "scale" / VARIANT / "cam").glob("*.npz"))
    deleted = [cams[0], cams[len(cams) // 2], cams[-1]]  # three different batches
    for path in deleted:
        path.unlink()
    # `all` asks for every missing per-image file, so a plain rerun rebuilds deleted CAMs.
    step("rerun_3_deleted")
    assert all(p.exists() for p in deleted), "a plain rerun left deleted CAM files missing"
    assert figures["rerun_3_deleted"]["cam_jobs_images"][1] == 3, figures["rerun_3_deleted"]

    write_config(work, data, args.batch_size, sigma=10)
    step("sigma_change")
    assert figures["sigma_change"]["cam_jobs_images"][1] == 0, figures["sigma_change"]
    assert figures["sigma_change"]["evaluate_jobs_images"][1] == args.images

    for name, target in TARGETS_S.items():
        figures[name]["target_s"] = target
        figures[name]["met"] = figures[name]["seconds"] <= target
    (args.out / "results.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
