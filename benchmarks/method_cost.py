"""CPU cost per image of each CAM method (issue 17, item 4).

Each (network, method) pair runs :func:`quickgaze.cam.gradcam_methods.method_cams`
(quickgaze's ``eigencam`` runs :func:`quickgaze.cam.eigencam.compute_cams`) on real
480x640 SALICON examples, one image per call, random weights (``detection_score``
0 so that the untrained detector has targets), after one warm-up call. Prints a
Markdown table row per pair: seconds per image (median of the timed images)
and the size of the compressed CAM record.

    python benchmarks/method_cost.py [--images N] [--pairs net:method,...]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quickgaze.cam.eigencam import CamSettings, compute_cams
from quickgaze.cam.gradcam_methods import method_cams
from quickgaze.cam.models import build_model
from quickgaze.io.images import read_rgb

DETECTOR = "fasterrcnn_resnet50_fpn"
DEFAULT_PAIRS = [f"{DETECTOR}:eigencam"] + [
    f"{net}:{m}" for net in (DETECTOR, "resnet50", "convnext_tiny", "efficientnet_b0",
                             "vit_b_16", "swin_t")
    for m in ("gradcam", "gradcamplusplus", "xgradcam", "eigengradcam", "layercam", "hirescam")
] + ["resnet50:scorecam", "resnet50:ablationcam"]


def record_bytes(cam: np.ndarray) -> int:
    buf = io.BytesIO()
    np.savez_compressed(buf, cam=cam)
    return buf.getbuffer().nbytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--pairs", default=",".join(DEFAULT_PAIRS))
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data" / "salicon-train-examples" / "images"))
    args = parser.parse_args()
    paths = sorted(Path(args.data).glob("*.jpg"))[: args.images + 1]
    images = [torch.from_numpy(read_rgb(p)) for p in paths]
    models: dict[str, torch.nn.Module] = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| network | method | s / image | record KB |\n|---|---|---|---|")
    for pair in args.pairs.split(","):
        net, method = pair.split(":")
        if net not in models:
            models[net] = build_model(net, "none", 0)
        model = models[net]
        variant = {"model": net, "method": method, "detection_score": 0.0}

        def one(img: torch.Tensor, model=model, variant=variant, method=method, net=net):
            if method == "eigencam":
                return compute_cams(model, [img.numpy()], CamSettings(crop_padding=False),
                                    torch.device("cpu"))[0]
            return method_cams(model, net, [img], variant)[0]

        one(images[0])  # warm-up
        times, size = [], 0
        for img in images[1:]:
            start = time.perf_counter()
            res = one(img)
            times.append(time.perf_counter() - start)
            size = record_bytes(res.cam)
        print(f"| {net} | {method} | {statistics.median(times):.2f} | {size / 1e3:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
