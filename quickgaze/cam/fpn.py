"""The forward of a torchvision detector up to its FPN, and the choice of levels.

Only the detector's transform (or plain normalisation, at native scale) and
its backbone + FPN run: no RPN, no ROI heads.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

# The forward's arithmetic: fp32, or the autocast dtype (benchmarks/precision.py
# measures what bf16 and fp16 change).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}
INPUT_SCALES = ("detector", "native")


def to_tensor(image: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """``(H, W, 3)`` uint8 array or tensor -> ``(3, H, W)`` float32 in [0, 1] on ``device``.

    The uint8 image is moved first (4x fewer bytes; asynchronous from pinned memory).
    """
    t = torch.as_tensor(image).to(device or "cpu", non_blocking=True)
    return t.permute(2, 0, 1).float().div_(255.0)


def fpn_features(
    model: nn.Module, images: list[torch.Tensor], input_scale: str, precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]], tuple[int, int]]:
    """Run the transform and backbone + FPN on a batch of images that share one
    network input size (:func:`network_inputs`; a ValueError otherwise: forward
    them apart with :func:`fpn_feature_groups`).

    images: list of ``(3, H, W)`` float tensors in [0, 1], on the model's device.
    precision: ``fp32``, or ``bf16`` / ``fp16`` under ``torch.autocast`` on the
    images' device (the levels come back as float32). channels_last: the batch
    in channels-last memory format (the model should be too).
    Returns the FPN dict of ``(B, C, h_l, w_l)`` float32 tensors, each image's
    size in the network input (before padding) and the padded input size
    ``(Hp, Wp)``, which is each image's own: what it is forwarded alone with.
    """
    with _autocast(images, precision):
        return _backbone_features(model, network_inputs(model, images, input_scale),
                                  channels_last)


def fpn_feature_groups(
    model: nn.Module, images: list[torch.Tensor], input_scale: str, precision: str = "fp32",
    channels_last: bool = False,
) -> list[tuple[list[int], OrderedDict[str, torch.Tensor], list[tuple[int, int]],
                tuple[int, int]]]:
    """:func:`fpn_features` of a batch of images of any sizes, one forward per
    network input size: ``(indices into images, features, sizes, padded)`` per
    group, groups in order of their first image.

    Choice: images are never padded to a neighbour's size (torchvision's
    ``GeneralizedRCNNTransform`` pads a batch to its largest image), so an
    image's features, and its CAM, are those it gets when forwarded alone,
    whatever else is in the batch (``forward_batch`` is only throughput; equal
    to a one-image forward up to the float summation order of a batched
    convolution). A batch of mixed sizes costs one forward per distinct input size.
    """
    with _autocast(images, precision):
        inputs = network_inputs(model, images, input_scale)
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, (tensor, _) in enumerate(inputs):
            groups.setdefault(tuple(tensor.shape), []).append(k)
        return [(idx, *_backbone_features(model, [inputs[k] for k in idx], channels_last))
                for idx in groups.values()]


def _autocast(images: list[torch.Tensor], precision: str) -> torch.autocast:
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' unknown; allowed: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    return torch.autocast(images[0].device.type, dtype=dtype, enabled=dtype is not None)


def network_inputs(model: nn.Module, images: list[torch.Tensor], input_scale: str
                   ) -> list[tuple[torch.Tensor, tuple[int, int]]]:
    """Each ``(3, H, W)`` image in [0, 1] as the network takes it when forwarded
    alone: ``((3, Hp, Wp) tensor, (h, w) size before padding)``.

    ``detector``: the model's own transform of that image alone (normalise,
    resize, zero-pad to a multiple of its ``size_divisible``, 32); ``native``:
    normalised with the transform's mean and std, not resized or padded.
    """
    if input_scale == "detector":
        out = []
        for im in images:
            image_list, _ = model.transform([im])
            out.append((image_list.tensors[0], tuple(image_list.image_sizes[0])))
        return out
    mean = torch.tensor(model.transform.image_mean, device=images[0].device)[:, None, None]
    std = torch.tensor(model.transform.image_std, device=images[0].device)[:, None, None]
    return [((im - mean) / std, (int(im.shape[1]), int(im.shape[2]))) for im in images]


def _backbone_features(model: nn.Module, inputs: list[tuple[torch.Tensor, tuple[int, int]]],
                       channels_last: bool
                       ) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]],
                                  tuple[int, int]]:
    shapes = sorted({tuple(t.shape[-2:]) for t, _ in inputs})
    if len(shapes) != 1:
        raise ValueError(f"images of different network input sizes {shapes} in one forward: "
                         "padding one to another's size would change its features; use "
                         "fpn_feature_groups")
    batch = torch.stack([t for t, _ in inputs])
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    features = OrderedDict((k, v.float().contiguous()) for k, v in model.backbone(batch).items())
    return features, [s for _, s in inputs], (int(batch.shape[-2]), int(batch.shape[-1]))


def select_levels(features: OrderedDict[str, torch.Tensor], levels: tuple[str, ...],
                  grid: str) -> tuple[list[str], str]:
    """Resolve ``levels`` and ``grid`` against the keys the backbone returned."""
    keys = list(features.keys())
    chosen = keys if levels == ("all",) else list(levels)
    unknown = [k for k in chosen if k not in features]
    if unknown or not chosen:
        raise ValueError(f"FPN levels {unknown or chosen} not available; this model has {keys}")
    if grid in ("coarsest", "finest"):
        by_area = sorted(keys, key=lambda k: features[k].shape[-2] * features[k].shape[-1])
        grid = by_area[0] if grid == "coarsest" else by_area[-1]
    if grid not in features:
        raise ValueError(f"FPN grid '{grid}' not available; this model has {keys}")
    return chosen, grid
