"""grad-cam's CAM methods (GradCAM, GradCAM++, XGradCAM, EigenGradCAM, LayerCAM,
HiResCAM, ScoreCAM, AblationCAM: :data:`quickgaze.cam.networks.GRADCAM_METHODS`),
run through grad-cam itself on a detector or a classifier.

What quickgaze decides, and grad-cam then computes:
- the input: a classifier sees the whole image resized (bilinear, antialiased)
  to ``input_size x input_size`` and normalised with ImageNet's mean and std
  (no centre crop, so the map covers the whole image); a detector sees the
  image as it is, ``(1, 3, H, W)`` in [0, 1], and resizes it in its own transform.
- the target layer: the network's default (:mod:`quickgaze.cam.networks`) or the
  variant's ``target_layer``, a dotted submodule path.
- the reshape transform that makes the layer's output ``(B, C, h, w)``: grad-cam's
  ``fasterrcnn_reshape_transform`` for an FPN (a dict with a ``pool`` level),
  grad-cam's ``vit_reshape_transform`` for ViT tokens (class token dropped, the
  token grid's side from the token count), a permute for Swin's channels-last
  ``(B, h, w, C)``; conv layers as they are.
- the target: classifiers, the top predicted class (grad-cam's own default,
  ``targets=None``, from the same forward); detectors, grad-cam's
  ``FasterRCNNBoxScoreTarget`` over the boxes a first forward detects with a
  score of at least ``detection_score`` (the detector's own score threshold is
  lowered to it for the call when it is higher, and restored). An image with no
  such box gets an error record, never a blank map.

The map is grad-cam's: ``(H_in, W_in)`` float32 in [0, 1] at the network input
(the image size for a detector, ``input_size`` squared for a classifier),
recorded with ``extent = (H_in, W_in)`` and offset 0, so evaluation stretches it
over the image like any other record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytorch_grad_cam
import torch
import torchvision.transforms.v2.functional as TF
from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerFasterRCNN, AblationLayerVit
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
from pytorch_grad_cam.utils.reshape_transforms import (
    fasterrcnn_reshape_transform,
    vit_reshape_transform,
)
from torch import nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN

from quickgaze.cam.eigencam import CamResult
from quickgaze.cam.networks import (
    CLASSIFIERS,
    DETECTOR_TARGET_LAYERS,
    GRADCAM_METHODS,
    GRADIENT_FREE,
)
from quickgaze.cam.variants import setting

# torchvision's ImageNet normalisation (every classifier's weights.transforms() uses it).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_input(image: torch.Tensor) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32 in [0, 1], by torchvision's
    ``to_dtype(scale=True)`` (as its weights' presets convert)."""
    return TF.to_dtype(TF.to_image(image.permute(2, 0, 1)), torch.float32, scale=True)


def classifier_input(images: list[torch.Tensor], size: int) -> torch.Tensor:
    """``(H, W, 3)`` uint8 images -> ``(B, 3, size, size)``: torchvision's preset
    steps without the centre crop: :func:`image_input`, ``resize`` to
    ``size x size`` (bilinear, antialiased), ``normalize`` with
    :data:`IMAGENET_MEAN` and :data:`IMAGENET_STD`."""
    return torch.stack([
        TF.normalize(TF.resize(image_input(im), [size, size], antialias=True),
                     list(IMAGENET_MEAN), list(IMAGENET_STD)).as_subclass(torch.Tensor)
        for im in images])


def target_layer_name(model_name: str, variant: dict[str, Any]) -> str:
    """The variant's ``target_layer``, or the network's default."""
    given = setting(variant, "target_layer")
    if given is not None:
        return str(given)
    return CLASSIFIERS[model_name].target_layer if model_name in CLASSIFIERS \
        else DETECTOR_TARGET_LAYERS[model_name]


def find_layer(model: nn.Module, model_name: str, path: str) -> nn.Module:
    """The submodule at dotted ``path``; a ValueError naming it and the model's
    top-level modules when there is none."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        top = ", ".join(name for name, _ in model.named_children())
        raise ValueError(f"target_layer '{path}' is not a submodule of {model_name} "
                         f"(its top-level modules: {top})") from None


def _tokens_to_grid(x: torch.Tensor) -> torch.Tensor:
    """ViT tokens ``(B, 1 + s^2, C)`` -> ``(B, C, s, s)`` with grad-cam's transform."""
    side = math.isqrt(x.shape[1] - 1)
    if x.ndim != 3 or side * side != x.shape[1] - 1:
        raise ValueError(f"ViT target layer output {tuple(x.shape)} is not (B, 1 + s^2, C) "
                         "tokens: choose an encoder layer (or its ln_1 / ln_2)")
    return vit_reshape_transform(x, side, side)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Swin's ``(B, h, w, C)`` -> ``(B, C, h, w)``."""
    if x.ndim != 4:
        raise ValueError(f"Swin target layer output {tuple(x.shape)} is not (B, h, w, C): "
                         "choose one of features.* or norm")
    return x.permute(0, 3, 1, 2)


def _fpn_or_tensor(x: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    """A detector layer's output: an FPN dict fused by grad-cam's
    ``fasterrcnn_reshape_transform`` (needs a ``pool`` level), a tensor as it is."""
    if isinstance(x, dict):
        if "pool" not in x:
            raise ValueError(f"grad-cam's fasterrcnn_reshape_transform needs a 'pool' FPN "
                             f"level; this FPN has {list(x)}: set target_layer to a layer "
                             "with a tensor output (e.g. backbone.body.layer4)")
        return fasterrcnn_reshape_transform(x)
    return x


def reshape_transform(model_name: str) -> Callable[[Any], torch.Tensor]:
    """The reshape transform of a network family (see the module docstring)."""
    if model_name not in CLASSIFIERS:
        return _fpn_or_tensor
    layout = CLASSIFIERS[model_name].layout
    return {"tokens": _tokens_to_grid, "channels_last": _channels_last}.get(layout,
                                                                            lambda x: x)


def make_cam(method: str, model: nn.Module, model_name: str, layer: nn.Module
             ) -> pytorch_grad_cam.base_cam.BaseCAM:
    """grad-cam's object of ``method`` on ``layer``; AblationCAM gets the ablation
    layer of the family (grad-cam's ``AblationLayerFasterRCNN`` for a detector's
    FPN, ``AblationLayerVit`` for tokens and channels-last layers,
    ``AblationLayer`` otherwise: conv layers of classifiers and detectors). A gradient method on the FPN (a dict: grad-cam
    records no gradient of it) is a ValueError."""
    if method not in GRADCAM_METHODS:
        raise ValueError(f"method '{method}' is not a grad-cam method; supported: "
                         f"{', '.join(GRADCAM_METHODS)}")
    fpn = isinstance(layer, BackboneWithFPN)
    if fpn and method not in GRADIENT_FREE:
        raise ValueError(f"method '{method}' needs the gradient of its target layer, and "
                         f"grad-cam records none for the FPN's dict output: use a tensor "
                         f"layer (the default, {DETECTOR_TARGET_LAYERS.get(model_name)}) or a "
                         f"gradient-free method ({', '.join(GRADIENT_FREE)})")
    cls = getattr(pytorch_grad_cam, GRADCAM_METHODS[method])
    kwargs: dict[str, Any] = {"reshape_transform": reshape_transform(model_name)}
    if method == "ablationcam":
        if fpn:
            kwargs["ablation_layer"] = AblationLayerFasterRCNN()
        elif model_name not in CLASSIFIERS or CLASSIFIERS[model_name].layout == "conv":
            kwargs["ablation_layer"] = AblationLayer()
        else:
            kwargs["ablation_layer"] = AblationLayerVit()
    return cls(model, target_layers=[layer], **kwargs)


@contextmanager
def score_threshold(model: nn.Module, score: float) -> Iterator[None]:
    """Lower a detector's own score threshold (``roi_heads.score_thresh``, or
    ``score_thresh`` of RetinaNet) to ``score`` while the block runs, so that
    boxes scoring at least ``score`` come out; restored afterwards."""
    owner = model.roi_heads if hasattr(model, "roi_heads") else model
    previous = owner.score_thresh
    owner.score_thresh = min(previous, score)
    try:
        yield
    finally:
        owner.score_thresh = previous


def detection_targets(model: nn.Module, batch: torch.Tensor, score: float
                      ) -> list[FasterRCNNBoxScoreTarget | None]:
    """grad-cam's box-score target of each image of ``(B, 3, H, W)`` ``batch``: its
    detections scoring at least ``score`` (None: there are none)."""
    with torch.no_grad():
        outputs = model(batch)
    targets = []
    for out in outputs:
        keep = out["scores"] >= score
        targets.append(FasterRCNNBoxScoreTarget(labels=out["labels"][keep].cpu().numpy(),
                                                bounding_boxes=out["boxes"][keep].cpu().numpy())
                       if bool(keep.any()) else None)
    return targets


def _run(cam: pytorch_grad_cam.base_cam.BaseCAM, batch: torch.Tensor,
         targets: list | None) -> np.ndarray:
    """grad-cam's maps ``(B, H_in, W_in)``; its hooks are released whatever happens
    (its context manager would swallow an IndexError)."""
    try:
        return cam(input_tensor=batch, targets=targets)
    finally:
        cam.activations_and_grads.release()


def _result(grey: np.ndarray) -> CamResult:
    if not np.isfinite(grey).all():
        return CamResult(np.zeros((0, 0), np.float32), (0.0, 0.0), (0.0, 0.0), float("nan"),
                         None, error="non-finite CAM (NaN or Inf) from grad-cam")
    grey = np.asarray(grey, np.float32)
    return CamResult(grey, (float(grey.shape[0]), float(grey.shape[1])), (0.0, 0.0),
                     float("nan"), None)


def method_cams(model: nn.Module, model_name: str, images: list[torch.Tensor],
                variant: dict[str, Any]) -> list[CamResult]:
    """The grad-cam CAMs of one variant for ``(H, W, 3)`` uint8 RGB images (tensors
    on the model's device), in image order.

    Classifiers: one grad-cam call for the batch. Detectors: one call per run
    of same-sized images (the batch tensor needs one size); an image without a
    detection scoring ``detection_score`` or more gets an error result.
    ``explained_variance`` is NaN and ``sign_flipped`` None (no principal
    component: these methods have no sign choice).
    """
    method = setting(variant, "method")
    layer = find_layer(model, model_name, target_layer_name(model_name, variant))
    if model_name in CLASSIFIERS:
        batch = classifier_input(images, int(setting(variant, "input_size")))
        maps = _run(make_cam(method, model, model_name, layer), batch, None)
        return [_result(g) for g in maps]
    score = float(setting(variant, "detection_score"))
    results: list[CamResult | None] = [None] * len(images)
    with score_threshold(model, score):
        start = 0
        while start < len(images):
            stop = start + 1
            while stop < len(images) and images[stop].shape == images[start].shape:
                stop += 1
            batch = torch.stack([image_input(im).as_subclass(torch.Tensor)
                                 for im in images[start:stop]])
            targets = detection_targets(model, batch, score)
            found = [k for k, t in enumerate(targets) if t is not None]
            for k, t in enumerate(targets):
                if t is None:
                    results[start + k] = CamResult(
                        np.zeros((0, 0), np.float32), (0.0, 0.0), (0.0, 0.0), float("nan"),
                        None, error=f"no detection with a score of at least {score} "
                                    "(detection_score): no box-score target for the CAM")
            if found:
                maps = _run(make_cam(method, model, model_name, layer), batch[found],
                            [targets[k] for k in found])
                for k, g in zip(found, maps):
                    results[start + k] = _result(g)
            start = stop
    return results
