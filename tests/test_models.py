"""Detectors, weights and devices: every supported model yields a CAM; weights
come from the hub cache, a local state_dict, or fail with a message that says
what to do."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from quickgaze.cam.eigencam import CamSettings, compute_cams
from quickgaze.cam.models import (
    SUPPORTED_MODELS,
    WeightsUnavailableError,
    build_detector,
    build_model,
    resolve_device,
)
from quickgaze.io.images import read_rgb

CPU = torch.device("cpu")
FAST = "fasterrcnn_mobilenet_v3_large_320_fpn"


@pytest.fixture(scope="module")
def image(salicon_examples):
    return read_rgb(min((salicon_examples / "images").glob("*.jpg")))


@pytest.mark.slow
@pytest.mark.parametrize("name", SUPPORTED_MODELS)
def test_every_supported_model_yields_a_cam(name, image):
    model = build_detector(name, "none", seed=0)
    with torch.inference_mode():
        keys = list(model.backbone(torch.zeros(1, 3, 64, 64)).keys())
    # 480x640 as it is: the keys and the coarsest/finest grids of this model
    # (grad-cam's svd sign at the coarsest; the finest has too many cells for it)
    for grid, policy in (("coarsest", "svd"), ("finest", "mean_activation")):
        res = compute_cams(model, [image], CamSettings(grid=grid, input_scale="native",
                                                       sign_policy=policy), CPU)[0]
        assert not res.error
        # max below 1 when activations are tiny (random weights): grad-cam's +1e-7
        assert res.cam.dtype == np.float32 and res.cam.min() == 0 and 0 < res.cam.max() <= 1
        assert 0 < res.explained_variance <= 1
    # one single level at its own grid, the last key (retinanet: 'p7', others: 'pool')
    single = CamSettings(levels=(keys[-1],), grid=keys[-1], input_scale="native")
    assert compute_cams(model, [image], single, CPU)[0].cam.ndim == 2
    with pytest.raises(ValueError, match=r"FPN levels \['nope'\] not available") as err:
        compute_cams(model, [image], CamSettings(levels=("nope",), input_scale="native"), CPU)
    assert str(keys) in str(err.value)


def test_fpn_keys_differ_between_models_and_grids_resolve(image):
    """mobilenet's FPN has 3 levels; the finest is level '0' at stride 8 (native)."""
    model = build_detector(FAST, "none", seed=0)
    fine = compute_cams(model, [image], CamSettings(grid="finest", input_scale="native"), CPU)[0]
    coarse = compute_cams(model, [image], CamSettings(grid="coarsest", input_scale="native"),
                          CPU)[0]
    assert fine.cam.shape == (15, 20) and coarse.cam.shape == (8, 10)
    with pytest.raises(ValueError, match=r"grid '3' not available; this model has \['0', '1', "
                                         r"'pool'\]"):
        compute_cams(model, [image], CamSettings(grid="3", input_scale="native"), CPU)


def test_unknown_model_lists_supported_names():
    with pytest.raises(ValueError) as err:
        build_detector("yolo_v8", "none")
    assert "unknown model 'yolo_v8'" in str(err.value)
    assert all(name in str(err.value) for name in SUPPORTED_MODELS)


def test_weights_none_are_seeded():
    a = build_detector(FAST, "none", seed=3).state_dict()
    b = build_detector(FAST, "none", seed=3).state_dict()
    c = build_detector(FAST, "none", seed=4).state_dict()
    key = "backbone.fpn.layer_blocks.0.0.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])


def coco_file_name(name: str) -> str:
    return os.path.basename(torchvision.models.get_model_weights(name).COCO_V1.url)


def test_coco_weights_load_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    state = build_detector(FAST, "none", seed=7).state_dict()
    target = tmp_path / "hub" / "checkpoints" / coco_file_name(FAST)
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    loaded = build_detector(FAST, "coco", seed=0).state_dict()
    fresh = build_detector(FAST, "none", seed=0).state_dict()
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(loaded[key], state[key]) and not torch.equal(loaded[key], fresh[key])
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_coco_weights_offline_name_the_directory_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # Offline for certain: every HTTP(S) request goes to a closed local port.
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(WeightsUnavailableError) as err:
        build_detector(FAST, "coco")
    message = str(err.value)
    assert coco_file_name(FAST) in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "TORCH_HOME" in message


def test_corrupt_cached_coco_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = tmp_path / "hub" / "checkpoints" / coco_file_name(FAST)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"<html>proxy login</html>")
    with pytest.raises(WeightsUnavailableError, match="cannot be read") as err:
        build_detector(FAST, "coco")
    assert str(target) in str(err.value)


def test_local_state_dict(tmp_path):
    path = tmp_path / "detector.pth"
    state = build_detector(FAST, "none", seed=5).state_dict()
    torch.save(state, path)
    loaded = build_detector(FAST, str(path)).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


@pytest.mark.parametrize("content", ["missing", "text", "other_model", "whole_module"])
def test_bad_local_weights_are_clear_errors(tmp_path, content):
    path: Path = tmp_path / "detector.pth"
    if content == "text":
        path.write_text("not a checkpoint")
    elif content == "other_model":
        torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
    elif content == "whole_module":
        torch.save(torchvision.models.mobilenet_v3_small(), path)
    with pytest.raises(WeightsUnavailableError) as err:
        build_detector(FAST, str(path))
    message = str(err.value)
    assert str(path) in message
    assert ("does not exist" in message) == (content == "missing")
    if content != "missing":
        assert f"is not a state_dict of {FAST}" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_explicit_cuda_without_cuda_is_an_error(device):
    with pytest.raises(RuntimeError, match=f"device '{device}' was requested but CUDA is not"):
        resolve_device(device)


def test_auto_and_cpu_devices():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == CPU


# --- classifiers ---------------------------------------------------------------------------

CLASSIFIER = "efficientnet_b0"


def imagenet_file_name(name: str) -> str:
    from quickgaze.cam.networks import CLASSIFIERS

    enum = torchvision.models.get_model_weights(name)[CLASSIFIERS[name].weights]
    return os.path.basename(enum.url)


def test_imagenet_weights_load_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    state = build_model(CLASSIFIER, "none", seed=7).state_dict()
    target = tmp_path / "hub" / "checkpoints" / imagenet_file_name(CLASSIFIER)
    target.parent.mkdir(parents=True)
    torch.save(state, target)
    loaded = build_model(CLASSIFIER, "imagenet", seed=0).state_dict()
    fresh = build_model(CLASSIFIER, "none", seed=0).state_dict()
    key = "classifier.1.weight"
    assert torch.equal(loaded[key], state[key]) and not torch.equal(loaded[key], fresh[key])
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_imagenet_weights_offline_name_the_directory_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(WeightsUnavailableError) as err:
        build_model(CLASSIFIER, "imagenet")
    message = str(err.value)
    assert message.startswith(f"ImageNet weights for {CLASSIFIER} are not in the torch hub cache")
    assert imagenet_file_name(CLASSIFIER) in message
    assert str(tmp_path / "hub" / "checkpoints") in message


def test_classifier_local_state_dict_and_wrong_weights_kind(tmp_path):
    path = tmp_path / "classifier.pth"
    state = build_model(CLASSIFIER, "none", seed=5).state_dict()
    torch.save(state, path)
    loaded = build_model(CLASSIFIER, str(path)).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with pytest.raises(WeightsUnavailableError, match=f"is not a state_dict of {CLASSIFIER}"):
        build_model(CLASSIFIER, _other_state(tmp_path))
    with pytest.raises(ValueError, match="weights 'coco' are for the detectors"):
        build_model(CLASSIFIER, "coco")
    with pytest.raises(ValueError, match="weights 'imagenet' are for the classifiers"):
        build_model(FAST, "imagenet")


def _other_state(tmp_path: Path) -> str:
    path = tmp_path / "other.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
    return str(path)


def test_weights_none_classifiers_are_seeded():
    a = build_model(CLASSIFIER, "none", seed=3).state_dict()
    b = build_model(CLASSIFIER, "none", seed=3).state_dict()
    c = build_model(CLASSIFIER, "none", seed=4).state_dict()
    key = "classifier.1.weight"
    assert torch.equal(a[key], b[key]) and not torch.equal(a[key], c[key])
