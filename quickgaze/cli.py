"""The ``quickgaze`` command: CAM maps and their scores outside the workflow.

``quickgaze cam IMAGE... -o OUT [variant options]`` writes each image's CAM at
image size as an 8-bit PNG (``--method`` and ``--model`` as in config.yaml's
variants: EigenCAM on a detector, or a grad-cam method on a detector or a
classifier): ``OUT`` is the file for one image, or a directory
that gets ``<image stem>.png`` per image (the layout pysaliency's
``SaliencyMapModelFromDirectory`` reads: maps found by the stimuli's file stems).
``quickgaze score MAP --fixations FILE`` prints every metric as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quickgaze.api import VARIANT_DEFAULTS, CamMapper, score
from quickgaze.io.images import read_map, write_map_png
from quickgaze.io.records import UNTRAINED_LABEL


def _progress(done: int, total: int) -> None:
    """One line on stderr, rewritten in place on a terminal."""
    if total > 1:
        end = "\n" if done == total or not sys.stderr.isatty() else ""
        print(f"\rquickgaze cam: {done}/{total} images", end=end, file=sys.stderr, flush=True)


def _levels(text: str) -> str | list[str]:
    return text if text == "all" else text.split(",")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quickgaze", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cam = sub.add_parser("cam", help="CAM maps of images, at image size, as 8-bit PNGs")
    cam.add_argument("images", nargs="+", type=Path)
    cam.add_argument("-o", "--output", type=Path, required=True,
                     help="a .png for one image, or a directory (<stem>.png per image)")
    # Only the options given reach the variant (argparse.SUPPRESS), so that defaults that
    # depend on the model (a classifier's weights) are the API's.
    for key, default in VARIANT_DEFAULTS.items():
        flag = f"--{key.replace('_', '-')}"
        if key == "crop_padding":
            cam.add_argument("--no-crop-padding", dest=key, action="store_false",
                             default=argparse.SUPPRESS,
                             help="stretch the padded grid over the image (the notebook)")
        elif key == "channels_last":
            cam.add_argument(flag, dest=key, action="store_true", default=argparse.SUPPRESS,
                             help="the forward in channels-last memory format")
        else:
            kind = {"levels": _levels, "input_size": int, "detection_score": float}.get(key, str)
            cam.add_argument(flag, dest=key, default=argparse.SUPPRESS, type=kind,
                             help=f"as config.yaml's variants (default: {default})")
    cam.add_argument("--seed", type=int, default=0, help="seeds random weights (--weights none)")
    cam.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    cam.add_argument("--sigma", type=float, default=None,
                     help="Gaussian smoothing in pixels (default: none, the raw CAM)")
    sc = sub.add_parser("score", help="every metric of a map, as JSON")
    sc.add_argument("map", type=Path, help="saliency map image (any size the fixations fit)")
    sc.add_argument("--fixations", type=Path,
                    help="text file of 0-based 'row col' pixels, one fixation per line "
                         "(or .npy of an (M, 2) array)")
    sc.add_argument("--truth-map", type=Path, help="ground-truth map image of the same size")
    sc.add_argument("--seed", type=int, default=0, help="seeds the AUC negatives")
    return parser


def _read_points(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path)
    try:
        return np.loadtxt(path, ndmin=2, delimiter=None, comments="#")
    except ValueError as err:
        raise SystemExit(f"quickgaze score: {path}: not a table of 'row col' numbers ({err})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "cam":
        variant = {k: getattr(args, k) for k in VARIANT_DEFAULTS if hasattr(args, k)}
        if len(args.images) > 1 or args.output.suffix.lower() != ".png":
            args.output.mkdir(parents=True, exist_ok=True)
            targets = [args.output / f"{p.stem}.png" for p in args.images]
        else:
            targets = [args.output]
        try:
            mapper = CamMapper(seed=args.seed, device=args.device, sigma=args.sigma, **variant)
            if mapper.variant["weights"] == "none":
                print(f"quickgaze cam: warning: --weights none: seeded random weights "
                      f"({UNTRAINED_LABEL}); these maps test the pipeline, they are not a "
                      "trained network's", file=sys.stderr)
            for k, (image, target) in enumerate(zip(args.images, targets), 1):
                write_map_png(target, mapper(image))
                _progress(k, len(targets))
        except (ValueError, FileNotFoundError) as err:  # messages name the file or key
            raise SystemExit(f"quickgaze cam: {err}")
        return 0
    if args.fixations is None and args.truth_map is None:
        raise SystemExit("quickgaze score: give --fixations and/or --truth-map")
    saliency = read_map(args.map)
    points = _read_points(args.fixations) if args.fixations else None
    truth = read_map(args.truth_map) if args.truth_map else None
    try:
        result = score(saliency, fixations=points, truth_map=truth, seed=args.seed)
    except ValueError as err:
        raise SystemExit(f"quickgaze score: {err}")
    print(json.dumps({k: (None if np.isnan(v) else v) for k, v in result.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
