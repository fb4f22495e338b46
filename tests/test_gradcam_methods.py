"""grad-cam's methods on detectors and classifiers: quickgaze's map equals a direct
grad-cam call on the same model and image (random weights, real SALICON
images), sign included, to 1e-4; the job, its forward groups and its records;
the variant checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
import pytorch_grad_cam
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerVit
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget
from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform

from quickgaze.cam.gradcam_methods import method_cams
from quickgaze.cam.models import build_model
from quickgaze.cam.networks import CLASSIFIERS, GRADCAM_METHODS, METHODS
from quickgaze.cam.variants import check_variant, forward_groups, forward_key
from quickgaze.io.images import read_rgb
from quickgaze.pipeline.cam_job import cam_job

DETECTOR = "fasterrcnn_mobilenet_v3_large_320_fpn"
GRADIENT_METHODS = ("gradcam", "gradcamplusplus", "xgradcam", "eigengradcam", "layercam",
                    "hirescam")
# The class each method name must run (written out here, not read from quickgaze).
CLASSES = {"gradcam": "GradCAM", "gradcamplusplus": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
           "eigengradcam": "EigenGradCAM", "layercam": "LayerCAM", "hirescam": "HiResCAM",
           "scorecam": "ScoreCAM", "ablationcam": "AblationCAM"}
# Input sizes: ViT's is fixed at 224; the others smaller, to keep the CPU tests short.
SIZES = {"resnet50": 112, "convnext_tiny": 112, "efficientnet_b0": 112, "vit_b_16": 224,
         "swin_t": 224}


@pytest.fixture(scope="module")
def images(salicon_examples):
    return [read_rgb(p) for p in sorted((salicon_examples / "images").glob("*.jpg"))[:2]]


_MODELS: dict[str, torch.nn.Module] = {}


def model_of(name: str) -> torch.nn.Module:
    """The network with seeded random weights. torchvision initialises ViT's head to
    zero (every gradient, so every gradient map, would be 0): it is redrawn here."""
    if name not in _MODELS:
        model = build_model(name, "none", seed=0)
        if name == "vit_b_16":
            torch.manual_seed(1)
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        _MODELS[name] = model
    return _MODELS[name]


def reference_layer(model, name):
    """The documented default target layers, by attribute access."""
    return {"resnet50": lambda: model.layer4, "convnext_tiny": lambda: model.features[7],
            "efficientnet_b0": lambda: model.features[8],
            "vit_b_16": lambda: model.encoder.layers[-1].ln_1,
            "swin_t": lambda: model.features[-1],
            DETECTOR: lambda: model.backbone.body["16"]}[name]()


def reference_reshape(name):
    if name == "vit_b_16":
        return lambda x: vit_reshape_transform(x, 14, 14)
    if name == "swin_t":
        return lambda x: x.permute(0, 3, 1, 2)
    return None


def reference_input(name, image, size):
    """torchvision's own resize and the weights' own normalisation."""
    weights = torchvision.models.get_model_weights(name)[CLASSIFIERS[name].weights]
    preset = weights.transforms()
    x = TF.to_dtype(TF.to_image(image), torch.float32, scale=True)
    x = TF.resize(x, [size, size], antialias=True)
    return TF.normalize(x, preset.mean, preset.std)[None]


def direct_gradcam(name, method, image, size, **kwargs):
    """grad-cam called directly, the way its README and tutorials do."""
    model = model_of(name)
    cls = getattr(pytorch_grad_cam, CLASSES[method])
    extra = {}
    if method == "ablationcam":
        extra["ablation_layer"] = (AblationLayerVit() if name in ("vit_b_16", "swin_t")
                                   else AblationLayer())
    cam = cls(model, target_layers=[reference_layer(model, name)],
              reshape_transform=reference_reshape(name), **extra)
    try:
        if name in CLASSIFIERS:
            return cam(input_tensor=reference_input(name, image, size), targets=None)[0]
        x = TF.to_dtype(TF.to_image(image), torch.float32, scale=True)[None]
        model.roi_heads.score_thresh = 0.0
        try:
            with torch.no_grad():
                out = model(x)[0]
            targets = [FasterRCNNBoxScoreTarget(out["labels"].numpy(), out["boxes"].numpy())]
            return cam(input_tensor=x, targets=targets)[0]
        finally:
            model.roi_heads.score_thresh = 0.05
    finally:
        cam.activations_and_grads.release()


def assert_equal_to_gradcam(name, method, images, size):
    variant = {"model": name, "method": method, "input_size": size, "detection_score": 0.0}
    ours = method_cams(model_of(name), name, [torch.from_numpy(im) for im in images], variant)
    for image, res in zip(images, ours):
        reference = direct_gradcam(name, method, image, size)
        assert not res.error
        assert res.cam.shape == reference.shape and res.extent == reference.shape
        assert res.offset == (0.0, 0.0) and res.sign_flipped is None
        assert float(np.abs(res.cam - reference).max()) <= 1e-4
    return [r.cam for r in ours]


@pytest.mark.parametrize("method", GRADIENT_METHODS)
@pytest.mark.parametrize("name", [*CLASSIFIERS, DETECTOR])
def test_gradient_methods_equal_direct_gradcam(name, method, images):
    """Every gradient method on every network family, sign included (no
    inversion allowed), at the network input's resolution (image size for
    the detector)."""
    maps = assert_equal_to_gradcam(name, method, images, SIZES.get(name, 0))
    if name == DETECTOR:
        assert maps[0].shape == images[0].shape[:2]
    # not vacuous: the maps are not constant (random weights can give all-zero maps)
    assert all(float(m.max()) > float(m.min()) for m in maps), name


# ScoreCAM and AblationCAM run one masked forward per channel of the target layer (768
# for the transformers at 224 px, 960 for the detector): several minutes each on two
# CPU cores (swin_t's ScoreCAM over ten), so those families run only when asked for.
EXPENSIVE = os.environ.get("QUICKGAZE_EXPENSIVE_TESTS") == "1"
_ON_REQUEST = pytest.mark.skipif(not EXPENSIVE, reason="set QUICKGAZE_EXPENSIVE_TESTS=1")


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
@pytest.mark.parametrize("name", ["resnet50", *(pytest.param(n, marks=_ON_REQUEST)
                                                for n in ("vit_b_16", "swin_t", DETECTOR))])
def test_gradient_free_methods_equal_direct_gradcam(name, method, images):
    """ScoreCAM and AblationCAM on one image of each family's layout (conv,
    tokens, channels-last, the detector's box-score target); resnet50 (2048
    channels) at 64 px, a minute or more each on 2 loaded cores."""
    size = 64 if name == "resnet50" else SIZES.get(name, 0)
    maps = assert_equal_to_gradcam(name, method, images[:1], size)
    assert float(maps[0].max()) > float(maps[0].min())


def test_every_method_name_is_a_gradcam_class():
    assert GRADCAM_METHODS == CLASSES and METHODS == ("eigencam", *CLASSES)
    assert all(hasattr(pytorch_grad_cam, c) for c in CLASSES.values())


def test_a_detector_that_finds_nothing_gets_an_error_record(images):
    """Random weights score every box below 0.5: no target, an error, no map."""
    res = method_cams(model_of(DETECTOR), DETECTOR, [torch.from_numpy(images[0])],
                      {"model": DETECTOR, "method": "gradcam"})[0]
    assert res.cam.size == 0
    assert res.error == ("no detection with a score of at least 0.5 (detection_score): "
                         "no box-score target for the CAM")
    assert model_of(DETECTOR).roi_heads.score_thresh == 0.05  # restored


def test_bad_target_layer_is_named(images):
    with pytest.raises(ValueError, match=r"target_layer 'layer9' is not a submodule of "
                                         r"resnet50 \(its top-level modules: conv1, bn1"):
        method_cams(model_of("resnet50"), "resnet50", [torch.from_numpy(images[0])],
                    {"model": "resnet50", "method": "gradcam", "target_layer": "layer9"})


def test_gradient_method_on_the_fpn_dict_is_refused(images):
    with pytest.raises(ValueError, match="grad-cam records none for the FPN's dict output"):
        method_cams(model_of(DETECTOR), DETECTOR, [torch.from_numpy(images[0])],
                    {"model": DETECTOR, "method": "gradcam", "target_layer": "backbone",
                     "detection_score": 0.0})


BASE = {"model": "fasterrcnn_resnet50_fpn", "weights": "none", "input_scale": "detector",
        "levels": "all", "grid": "coarsest", "sign_policy": "svd", "crop_padding": True}


def test_unknown_method_lists_the_supported_ones():
    with pytest.raises(ValueError) as err:
        check_variant("v", {**BASE, "method": "gradcam_pp"})
    message = str(err.value)
    assert message.startswith("config.yaml: variant 'v': method 'gradcam_pp' unknown")
    assert message.endswith("supported: " + ", ".join(METHODS))


@pytest.mark.parametrize(("change", "words"), [
    ({"model": "resnet50"}, "needs a grad-cam method"),
    ({"target_layer": "backbone.body"}, "target_layer is read by the grad-cam methods only"),
    ({"method": "gradcam", "input_scale": "native"}, "input_scale must be 'detector'"),
    ({"model": "vit_b_16", "method": "gradcam", "input_size": 112},
     "vit_b_16 takes 224x224 inputs only"),
])
def test_settings_that_cannot_run_are_config_errors(change, words):
    with pytest.raises(ValueError, match=words):
        check_variant("v", {**BASE, **change})


def test_methods_never_share_a_forward_with_eigencam():
    """The default study's three eigencam variants keep one group (and their key
    is the old one); each grad-cam variant gets its own."""
    variants = {"seed": {**BASE, "crop_padding": False},
                "aligned": {**BASE, "sign_policy": "mean_activation"},
                "gc": {**BASE, "method": "gradcam"},
                "gcpp": {**BASE, "method": "gradcamplusplus"},
                "gc2": {**BASE, "method": "gradcam", "detection_score": 0.3}}
    assert forward_groups(variants) == {"seed": ["seed", "aligned"], "gc": ["gc"],
                                        "gcpp": ["gcpp"], "gc2": ["gc2"]}
    assert forward_key(variants["seed"]) == ("fasterrcnn_resnet50_fpn", "none", "detector", None,
                                             "fp32", False)


def test_cam_job_writes_method_records_and_refuses_mixed_groups(tmp_path, salicon_examples,
                                                                images):
    paths = sorted((salicon_examples / "images").glob("*.jpg"))[:2]
    ids = [p.stem for p in paths]
    name = "resnet50"
    variant = {**BASE, "model": name, "method": "gradcam", "input_size": 112}
    out = {"gc": {i: tmp_path / "gc" / f"{i}.npz" for i in ids}}
    with pytest.raises(ValueError, match="do not share a forward"):
        cam_job(ids, dict(zip(ids, paths)), {**out, "e": out["gc"]},
                {"gc": variant, "e": BASE}, "cpu", 0, 2, 0)
    assert cam_job(ids, dict(zip(ids, paths)), out, {"gc": variant}, "cpu", 0, 2, 0) == 2
    expected = method_cams(build_model(name, "none", 0), name, [torch.from_numpy(im) for im in images],
                           variant)
    for i, exp in zip(ids, expected):
        rec = np.load(out["gc"][i])
        assert {"cam", "extent", "offset", "explained_variance", "sign_flipped", "converged",
                "image_shape", "weights_label", "error", "warnings", "fingerprint"} <= set(rec)
        assert np.array_equal(rec["cam"], exp.cam) and tuple(rec["extent"]) == (112.0, 112.0)
        assert tuple(rec["image_shape"]) == (480, 640) and str(rec["error"]) == ""
        assert np.isnan(rec["sign_flipped"]) and np.isnan(rec["explained_variance"])
    # a rerun is a no-op; a new key in the variant block recomputes
    assert cam_job(ids, dict(zip(ids, paths)), out, {"gc": variant}, "cpu", 0, 2, 0) == 0
    assert cam_job(ids, dict(zip(ids, paths)), out, {"gc": {**variant, "target_layer":
                                                            "layer4.2"}}, "cpu", 0, 2, 0) == 2
