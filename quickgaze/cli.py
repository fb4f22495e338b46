"""The ``quickgaze`` command: CAM maps and their scores outside the workflow.

``quickgaze cam IMAGE... -o OUT [variant options]`` writes each image's CAM at
image size as an 8-bit PNG (``--method`` and ``--model`` as in config.yaml's
variants: EigenCAM on a detector, or a grad-cam method on a detector or a
classifier): ``OUT`` is the file for one image, or a directory
that gets ``<image stem>.png`` per image (the layout pysaliency's
``SaliencyMapModelFromDirectory`` reads: maps found by the stimuli's file stems).
``quickgaze score MAP --fixations FILE`` prints every metric as JSON, with
their units and the reason for every null.

Every expected failure (weights unavailable, an unreadable image or table, a
bad option or value) is one line on stderr, ``quickgaze <command>: error:
...``, and exit status 1 (2 for a bad option, as argparse): no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import quickgaze
from quickgaze.api import (
    METRIC_UNITS,
    VARIANT_DEFAULTS,
    CamMapper,
    null_reasons,
    row_col,
    score,
)
from quickgaze.io.images import ImageReadError, read_map, write_map_png
from quickgaze.io.records import UNTRAINED_LABEL

DESCRIPTION = ("CAM maps of images and their scores against human fixations, "
               "outside the workflow. 'quickgaze cam --help' and 'quickgaze score --help' "
               "list each command's options.")
CAM_HELP = ("Write the CAM of each image at image size as an 8-bit PNG: OUT is the .png of "
            "one image, or a directory that gets <image stem>.png per image (the layout "
            "pysaliency's SaliencyMapModelFromDirectory reads). The variant options are "
            "config.yaml's variant keys, checked as the workflow checks a variant.")
SCORE_HELP = ("Print every metric of a saliency map as JSON: 'scores' (null where a metric "
              "cannot be computed), 'units' and 'null_reasons' (why each null is null). "
              "Points are 0-based (row, col) pixels unless --xy or --one-based say otherwise.")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``<prog>: error: <message>; see <prog> --help``)
    instead of the usage block and the message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _progress(done: int, total: int) -> None:
    """One line on stderr, rewritten in place on a terminal."""
    if total > 1:
        end = "\n" if done == total or not sys.stderr.isatty() else ""
        print(f"\rquickgaze cam: {done}/{total} images", end=end, file=sys.stderr, flush=True)


def _levels(text: str) -> str | list[str]:
    return text if text == "all" else text.split(",")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quickgaze", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"quickgaze {quickgaze.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cam = sub.add_parser("cam", help="CAM maps of images, at image size, as 8-bit PNGs",
                         description=CAM_HELP)
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
        elif key == "sign_policy":
            cam.add_argument(flag, dest=key, default=argparse.SUPPRESS,
                             choices=["mean_activation", "max_abs", "svd"],
                             help="eigencam's sign: mean_activation (default: the map "
                                  "correlates positively with the mean activation), max_abs, "
                                  "or svd (the notebook's and grad-cam's: numpy's arbitrary "
                                  "sign)")
        else:
            kind = {"levels": _levels, "input_size": int, "detection_score": float}.get(key, str)
            cam.add_argument(flag, dest=key, default=argparse.SUPPRESS, type=kind,
                             help=f"as config.yaml's variants (default: {default})")
    cam.add_argument("--seed", type=int, default=0, help="seeds random weights (--weights none)")
    cam.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    cam.add_argument("--batch-size", type=int, default=None,
                     help="images per forward pass (default: 1 on a CPU, 16 on CUDA)")
    cam.add_argument("--sigma", type=float, default=None,
                     help="Gaussian smoothing in pixels (default: none, the raw CAM)")
    sc = sub.add_parser("score", help="every metric of a map, as JSON", description=SCORE_HELP)
    sc.add_argument("map", type=Path, help="saliency map image (any size the fixations fit)")
    sc.add_argument("--fixations", type=Path,
                    help="this image's fixations: a text file of one point per line, "
                         "'row col' pixels (or an .npy of an (M, 2) array)")
    sc.add_argument("--other-fixations", type=Path,
                    help="other images' fixations on the same grid, the negatives of the "
                         "shuffled AUC (same format); without it sauc is null")
    sc.add_argument("--xy", action="store_true",
                    help="the files' columns are 'x y' (column, row), not 'row col'")
    sc.add_argument("--one-based", action="store_true",
                    help="the files' pixels count from 1 (MATLAB), not 0")
    sc.add_argument("--truth-map", type=Path, help="ground-truth map image of the same size")
    sc.add_argument("--seed", type=int, default=0, help="seeds the AUC negatives")
    return parser


def _read_points(path: Path, xy: bool, one_based: bool) -> np.ndarray:
    """An ``(M, 2)`` point file (text or ``.npy``) as 0-based (row, col) pixels."""
    try:
        pts = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2,
                                                                     comments="#")
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a table of two numbers per line "
                         f"({type(err).__name__}: {err})") from None
    try:
        return row_col(pts, xy=xy, one_based=one_based)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _cam(args: argparse.Namespace) -> None:
    import torch

    from quickgaze import api

    variant = {k: getattr(args, k) for k in VARIANT_DEFAULTS if hasattr(args, k)}
    try:
        device = torch.device(args.device) if args.device != "auto" else None
    except RuntimeError as err:  # torch's message for a malformed device string
        raise ValueError(f"--device '{args.device}': {err}") from None
    if device is not None and device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available on this machine "
                         f"(torch {torch.__version__}); use --device cpu or auto")
    if len(args.images) > 1 or args.output.suffix.lower() != ".png":
        args.output.mkdir(parents=True, exist_ok=True)
        targets = [args.output / f"{p.stem}.png" for p in args.images]
    else:
        targets = [args.output]
    try:
        mapper = CamMapper(seed=args.seed, device=args.device, sigma=args.sigma, **variant)
    except api.WeightsUnavailableError as err:
        raise ValueError(str(err)) from None
    if mapper.variant["weights"] == "none":
        print(f"quickgaze cam: warning: --weights none: seeded random weights "
              f"({UNTRAINED_LABEL}); these maps test the pipeline, they are not a "
              "trained network's", file=sys.stderr)
    for k, (saliency, target) in enumerate(zip(mapper.iter_many(args.images, args.batch_size),
                                               targets), 1):
        write_map_png(target, saliency)
        _progress(k, len(targets))


def _score(args: argparse.Namespace) -> None:
    if args.fixations is None and args.truth_map is None:
        raise ValueError("give --fixations and/or --truth-map")
    saliency = read_map(args.map)
    points = _read_points(args.fixations, args.xy, args.one_based) if args.fixations else None
    others = (_read_points(args.other_fixations, args.xy, args.one_based)
              if args.other_fixations else None)
    truth = read_map(args.truth_map) if args.truth_map else None
    result = score(saliency, fixations=points, truth_map=truth, other_fixations=others,
                   seed=args.seed)
    out = {"scores": {k: (None if np.isnan(v) else v) for k, v in result.items()},
           "units": {k: METRIC_UNITS.get(k, "unitless") for k in result},
           "null_reasons": null_reasons(result, points is not None, others is not None,
                                        ("--fixations", "--other-fixations"))}
    print(json.dumps(out, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        (_cam if args.command == "cam" else _score)(args)
    except (ValueError, OSError, ImageReadError) as err:
        # every message names the file, option or value; on one line
        print(f"quickgaze {args.command}: error: {' '.join(str(err).split()) or repr(err)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
