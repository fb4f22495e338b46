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
    """Run the transform and backbone + FPN on a batch.

    images: list of ``(3, H, W)`` float tensors in [0, 1], on the model's device.
    precision: ``fp32``, or ``bf16`` / ``fp16`` under ``torch.autocast`` on the
    images' device (the levels come back as float32). channels_last: the batch
    in channels-last memory format (the model should be too).
    Returns the FPN dict of ``(B, C, h_l, w_l)`` float32 tensors, each image's
    size in the network input (before padding) and the padded batch size
    ``(Hp, Wp)``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' unknown; allowed: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    with torch.autocast(images[0].device.type, dtype=dtype, enabled=dtype is not None):
        return _fpn_features(model, images, input_scale, channels_last)


def _fpn_features(model: nn.Module, images: list[torch.Tensor], input_scale: str,
                  channels_last: bool
                  ) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]],
                             tuple[int, int]]:
    if input_scale == "detector":
        image_list, _ = model.transform(images)
        batch, sizes = image_list.tensors, [tuple(s) for s in image_list.image_sizes]
    else:
        mean = torch.tensor(model.transform.image_mean, device=images[0].device)[:, None, None]
        std = torch.tensor(model.transform.image_std, device=images[0].device)[:, None, None]
        sizes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        hp, wp = max(s[0] for s in sizes), max(s[1] for s in sizes)
        batch = images[0].new_zeros((len(images), 3, hp, wp))
        for i, im in enumerate(images):
            batch[i, :, : im.shape[1], : im.shape[2]] = (im - mean) / std
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    features = OrderedDict((k, v.float().contiguous()) for k, v in model.backbone(batch).items())
    return features, sizes, (int(batch.shape[-2]), int(batch.shape[-1]))


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
