"""End-to-end throughput on the same real images, in one run, side by side.

  a. the bare forward per image: the detector's transform + backbone/FPN (the floor);
  b. quickgaze end to end through `snakemake` (cold start, ground truth, CAM and
     evaluation jobs) per image;
  c. a faithful re-implementation of the user's notebook loop: the model rebuilt
     per image, a detection forward for the box targets and a full-detector
     forward through grad-cam's EigenCAM (as in Jacob Gil's Faster R-CNN
     tutorial the notebook followed), then its smoothing and metric code.

Usage: python benchmarks/throughput.py [--images 40] [--scale detector|native]
                                       [--notebook-images 40] [--default-variants]
Prints per-image seconds and the ratios b/a and c/b; with ``--default-variants``
also b3, the same run with config.yaml's variants (one forward group), and b3/b. Random weights throughout
(nothing can be downloaded here); the network cost is the same as with COCO weights.
The forward's speed on a shared VM drifts by ~10% over minutes, so ``a`` is
measured before and after ``b`` and their mean is the floor. ``c`` costs the
same per image at any count (it rebuilds the model every image), so it runs on
at most ``--notebook-images`` of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = Path(os.environ.get("QUICKGAZE_SHARED_DATA", REPO.parent / "shared" / "data")) / \
    "salicon-train-examples"
MODEL = "fasterrcnn_resnet50_fpn"


def prepare_images(workdir: Path, n: int) -> tuple[list[Path], Path]:
    """``n`` image links named r<k>_<stem>.jpg over the 10 real images, and a
    fixation JSON that lists every link (the real fixations of its source image)."""
    sources = sorted((EXAMPLES / "images").glob("*.jpg"))
    data = json.loads((EXAMPLES / "fixations_train2014examples.json").read_text())
    by_name = {img["file_name"]: img for img in data["images"]}
    images, anns, paths = [], [], []
    img_dir = workdir / "images"
    img_dir.mkdir(parents=True)
    for k in range(n):
        src = sources[k % len(sources)]
        link = img_dir / f"r{k:03d}_{src.name}"
        link.symlink_to(src)
        paths.append(link)
        meta = by_name[src.name]
        images.append({**meta, "id": k, "file_name": link.name})
        anns += [{**a, "image_id": k} for a in data["annotations"] if a["image_id"] == meta["id"]]
    fix = workdir / "fixations.json"
    fix.write_text(json.dumps({"images": images, "annotations": anns}))
    return paths, fix


def bare_forward(paths: list[Path], scale: str) -> float:
    """Seconds per image of transform + backbone/FPN, batch 1, after one warm-up."""
    from quickgaze.cam.fpn import fpn_features, to_tensor
    from quickgaze.cam.models import build_detector
    from quickgaze.io.images import read_rgb

    model = build_detector(MODEL, "none", seed=0)
    tensors = [to_tensor(read_rgb(p)) for p in paths]
    with torch.inference_mode():
        fpn_features(model, tensors[:1], scale)
        start = time.perf_counter()
        for t in tensors:
            fpn_features(model, [t], scale)
    return (time.perf_counter() - start) / len(paths)


def quickgaze_snakemake(workdir: Path, paths: list[Path], fixations: Path, scale: str,
                        batch_size: int, variants: dict | None = None) -> tuple[float, int]:
    """Seconds per image of `snakemake` producing every per-image CAM, smoothed map and
    metrics JSON of ``variants`` (default: the notebook's ``seed`` alone) from nothing
    (cold start), and the forward passes it logged."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"] = {"kind": "folder", "name": "bench",
                         "folder": {"images": str(paths[0].parent), "fixations": str(fixations)}}
    config["variants"] = {name: {**v, "input_scale": scale} for name, v in (
        variants or {"seed": {"crop_padding": False}}).items()}
    config["batch_size"] = batch_size
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/bench/{v}/{kind}/{p.stem}.{ext}" for v in config["variants"]
               for p in paths
               for kind, ext in (("cam", "npz"), ("smooth", "png"), ("metrics", "json"))]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d",
                    str(workdir), "--cores", "2", *targets], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    passes = sum(int(m) for log in workdir.glob("logs/bench/*/cam/*.log")
                 for m in re.findall(r"CAM forward: computed (\d+) images", log.read_text()))
    return seconds / len(paths), passes


def notebook_loop(paths: list[Path], fixations: Path) -> float:
    """Seconds per image of the notebook's loop (see the module docstring)."""
    import imageio.v3 as iio
    import torchvision
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
    from pytorch_grad_cam.utils.reshape_transforms import fasterrcnn_reshape_transform
    from scipy.ndimage import gaussian_filter

    from quickgaze.saliency.fixations import (
        load_salicon2015_json,
        saliency_from_fixations,
        valid_points,
    )

    # The notebook read ground-truth PNGs from disk: write them first, untimed.
    maps = {}
    for stem, rec in load_salicon2015_json(fixations).items():
        gt = saliency_from_fixations(valid_points(rec["points"], rec["shape"])[0], rec["shape"])
        maps[stem] = fixations.parent / f"{stem}_gt.png"
        iio.imwrite(maps[stem], (gt * 255).astype(np.uint8))
    results = {}
    start = time.perf_counter()
    for p in paths:
        torch.manual_seed(0)
        model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=None).eval()
        image = iio.imread(p)
        input_tensor = torchvision.transforms.ToTensor()(image).unsqueeze(0)
        outputs = model(input_tensor)
        boxes = outputs[0]["boxes"][outputs[0]["scores"] > 0.5].detach()
        labels = outputs[0]["labels"][outputs[0]["scores"] > 0.5].tolist()
        cam = EigenCAM(model, [model.backbone], reshape_transform=fasterrcnn_reshape_transform)
        grayscale = cam(input_tensor, targets=[FasterRCNNBoxScoreTarget(labels, boxes)])[0]
        gt = iio.imread(maps[p.stem]).astype(np.float64) / 255.0
        smooth = gaussian_filter(grayscale, sigma=19)
        row = {}
        for name, m in (("raw", grayscale), ("smooth", smooth)):
            row[f"cc_{name}"] = np.corrcoef(m.ravel(), gt.ravel())[0, 1]
            union = (m > 0) | (gt > 0)
            row[f"cc_mask_{name}"] = np.corrcoef(m[union], gt[union])[0, 1]
            # The notebook's NSS: standardised map averaged where the continuous GT > 0.
            z = (m - m.mean()) / (m.std() + 1e-12)
            row[f"nss_{name}"] = z[gt > 0].mean()
        results[p.name] = row
    return (time.perf_counter() - start) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--scale", choices=("detector", "native"), default="detector")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--notebook-images", type=int, default=40)
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--default-variants", action="store_true",
                        help="also b3: config.yaml's variants (seed, aligned, fine) in one run")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="qg-throughput-") as tmp:
        tmp = Path(tmp)
        paths, fixations = prepare_images(tmp / "data", args.images)
        a_before = bare_forward(paths, args.scale)
        print(f"a. bare forward ({args.scale}), before b: {a_before:.3f} s/image", flush=True)
        b, passes = quickgaze_snakemake(tmp / "run", paths, fixations, args.scale,
                                        args.batch_size)
        print(f"b. quickgaze via snakemake:       {b:.3f} s/image ({passes} forward passes)",
              flush=True)
        b3 = None
        if args.default_variants:
            default = yaml.safe_load((REPO / "config.yaml").read_text())["variants"]
            b3, passes3 = quickgaze_snakemake(tmp / "run3", paths, fixations, args.scale,
                                              args.batch_size, default)
            print(f"b3. the {len(default)} default variants: {b3:.3f} s/image "
                  f"({passes3} forward passes); b3/b = {b3 / b:.3f}", flush=True)
        a_after = bare_forward(paths, args.scale)
        a = (a_before + a_after) / 2
        print(f"a. bare forward ({args.scale}), after b:  {a_after:.3f} s/image; mean {a:.3f}",
              flush=True)
        line = f"b/a = {b / a:.3f}"
        if not args.skip_notebook:
            c = notebook_loop(paths[:args.notebook_images], fixations)
            print(f"c. notebook loop (detector scale): {c:.3f} s/image", flush=True)
            line += f"   c/b = {c / b:.2f}"
        print(f"{args.images} images, {os.cpu_count()} CPUs, torch {torch.__version__}: {line}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
