"""The networks a variant can name, and the CAM methods it can run on them.

Torch-free: the workflow reads it when it is parsed (config checks), and
:mod:`quickgaze.cam.models` and :mod:`quickgaze.cam.gradcam_methods` build on it.

Detectors are torchvision FPN detectors (COCO weights); classifiers are
torchvision ImageNet classifiers, each with a documented default target layer
(the layer grad-cam reads; ``target_layer`` in a variant overrides it, as a
dotted submodule path such as ``layer4.2``).
"""

from __future__ import annotations

from dataclasses import dataclass

DETECTORS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
)


@dataclass(frozen=True)
class Classifier:
    """A torchvision ImageNet classifier.

    target_layer: default layer of the gradient methods (dotted submodule path).
    weights: the torchvision weights enum member that ``weights: imagenet`` loads.
    layout: how the target layer's output becomes grad-cam's ``(B, C, h, w)``:
        ``conv`` (already so), ``tokens`` (ViT: ``(B, 1 + h w, C)``, class token
        first, dropped), ``channels_last`` (Swin: ``(B, h, w, C)``).
    """

    target_layer: str
    weights: str
    layout: str


# Defaults: the last feature block before global pooling (grad-cam's README choices
# translated to torchvision's module names): ResNet's last bottleneck stage, ConvNeXt's
# and EfficientNet's last feature stage, ViT's last encoder block's first LayerNorm
# (grad-cam's ViT tutorial: ``blocks[-1].norm1``), Swin's last stage.
CLASSIFIERS: dict[str, Classifier] = {
    "resnet50": Classifier("layer4", "IMAGENET1K_V2", "conv"),
    "convnext_tiny": Classifier("features.7", "IMAGENET1K_V1", "conv"),
    "efficientnet_b0": Classifier("features.8", "IMAGENET1K_V1", "conv"),
    "vit_b_16": Classifier("encoder.layers.encoder_layer_11.ln_1", "IMAGENET1K_V1", "tokens"),
    "swin_t": Classifier("features.7", "IMAGENET1K_V1", "channels_last"),
}

# Default target layer of the grad-cam methods on a detector: the last backbone stage
# that feeds the FPN (C5: ResNet's layer4, MobileNet's last block '16'), a tensor, so that
# grad-cam's gradient hook sees it; every FPN level, and so every head, depends on it.
# ``target_layer: backbone`` (the FPN dict, fused by grad-cam's
# fasterrcnn_reshape_transform, as in grad-cam's Faster R-CNN tutorial) suits the
# gradient-free ScoreCAM and AblationCAM only: grad-cam records no gradient of a dict.
DETECTOR_TARGET_LAYERS: dict[str, str] = {
    name: "backbone.body.16" if "mobilenet" in name else "backbone.body.layer4"
    for name in DETECTORS
}
GRADIENT_FREE = ("scorecam", "ablationcam")

# The FPN levels each detector's backbone returns, by key, finest first: what a variant's
# ``levels`` and ``grid`` may name (checked when the config is read; tests/test_bad_files.py
# checks this table against the built models).
_RESNET_FPN = ("0", "1", "2", "3", "pool")
FPN_LEVELS: dict[str, tuple[str, ...]] = {
    "fasterrcnn_resnet50_fpn": _RESNET_FPN,
    "fasterrcnn_resnet50_fpn_v2": _RESNET_FPN,
    "fasterrcnn_mobilenet_v3_large_fpn": ("0", "1", "pool"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("0", "1", "pool"),
    "retinanet_resnet50_fpn": ("0", "1", "2", "p6", "p7"),
    "maskrcnn_resnet50_fpn": _RESNET_FPN,
}

MODELS = (*DETECTORS, *CLASSIFIERS)

# quickgaze's own FPN EigenCAM engine (quickgaze.cam.eigencam), and grad-cam's methods by the
# name a variant's ``method`` takes -> the pytorch_grad_cam class that runs it.
EIGENCAM = "eigencam"
GRADCAM_METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcamplusplus": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "eigengradcam": "EigenGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "scorecam": "ScoreCAM",
    "ablationcam": "AblationCAM",
}
METHODS = (EIGENCAM, *GRADCAM_METHODS)


def is_classifier(model: str) -> bool:
    return model in CLASSIFIERS
