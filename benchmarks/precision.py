"""Reduced precision of the forward, measured: bf16 / fp16 autocast and channels_last
against fp32 on the real SALICON examples (issue 15, item 4).

For each precision and two variants (the notebook's `seed`: every level at the
pool grid, grad-cam's sign; `fine`: every level at the finest grid, mean-activation
sign), the CAM of every image at image size (quickgaze.CamMapper: the
workflow's code), then: the largest |CAM - CAM fp32| over all pixels (maps in
[0, 1]), and the largest change of CC and NSS of the smoothed map (sigma 19)
against the SALICON map and fixations (quickgaze.score). Seconds per image are
the mean of the CAM calls after one warm-up image.

Usage (weights: coco needs the checkpoint in the torch hub cache; none: seeded
random weights):

    PYTHONPATH=. python benchmarks/precision.py [--device cpu] [--weights none]
        [--data ../shared/data/salicon-train-examples]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quickgaze.api import CamMapper, score
from quickgaze.io.images import read_rgb
from quickgaze.saliency.fixations import load_fixation_source

VARIANTS = {"seed": {"crop_padding": False, "sign_policy": "svd"},
            "fine": {"grid": "finest", "sign_policy": "mean_activation"}}
SETTINGS = {"fp32": {}, "fp32 channels_last": {"channels_last": True},
            "bf16": {"precision": "bf16"}, "fp16": {"precision": "fp16"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/salicon-train-examples"))
    parser.add_argument("--images", type=int, default=10, help="the first N images")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    data = Path(args.data)
    images = {p.stem: p for p in sorted((data / "images").glob("*.jpg"))[:args.images]}
    fixations, _ = load_fixation_source(next(data.glob("*.json")), "salicon2015_json", list(images))
    rgb = {i: read_rgb(p) for i, p in images.items()}
    print(f"{len(images)} images, device {args.device}, weights {args.weights}", flush=True)
    print("| variant | setting | s/image | max abs CAM diff | max abs d CC | max abs d NSS |")
    print("| --- | --- | --- | --- | --- | --- |")
    for vname in args.variants:
        variant = VARIANTS[vname]
        reference: dict[str, tuple[np.ndarray, dict[str, float]]] = {}
        for sname, setting in SETTINGS.items():
            mapper = CamMapper(device=args.device, weights=args.weights, **variant, **setting)
            smooth = CamMapper(device=args.device, weights=args.weights, sigma=19, **variant,
                               **setting)
            mapper(next(iter(rgb.values())))  # warm-up
            cams, scores, seconds = {}, {}, []
            for i, image in rgb.items():
                start = time.perf_counter()
                cams[i] = mapper(image)
                seconds.append(time.perf_counter() - start)
                scores[i] = score(smooth(image), fixations=fixations[i])
            if not reference:
                reference = {i: (cams[i], scores[i]) for i in cams}
            cam_diff = max(float(np.abs(cams[i] - reference[i][0]).max()) for i in cams)
            d_cc = max(abs(scores[i]["cc"] - reference[i][1]["cc"]) for i in cams)
            d_nss = max(abs(scores[i]["nss"] - reference[i][1]["nss"]) for i in cams)
            print(f"| {vname} | {sname} | {np.mean(seconds):.3f} | {cam_diff:.2e} | "
                  f"{d_cc:.2e} | {d_nss:.2e} |", flush=True)


if __name__ == "__main__":
    main()
