"""Networks and their weights: torchvision FPN detectors and ImageNet classifiers
(:mod:`quickgaze.cam.networks`), built once per job.

Weights are ``coco`` (detectors: torchvision's COCO_V1 weights through its
weights API and the torch hub cache), ``imagenet`` (classifiers: the weights
enum member named in :data:`quickgaze.cam.networks.CLASSIFIERS`, the same way), a
path to a local state_dict (``.pth``), or ``none``
(seeded random initialisation, for smoke runs only). Nothing ever falls back
silently: missing weights or an unavailable explicit CUDA device raise errors
that say what to do.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torchvision
from torch import nn

from quickgaze.cam.networks import CLASSIFIERS, DETECTORS, MODELS
from quickgaze.io.records import file_identity

SUPPORTED_MODELS = DETECTORS

class WeightsUnavailableError(RuntimeError):
    """Weights cannot be found offline; the message names the file to place where."""


def resolve_device(device: str) -> torch.device:
    """``auto`` means CUDA when available, else CPU. An explicit CUDA device that is
    not available is an error, never a silent CPU run."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{device}' was requested but CUDA is not available on this machine "
            f"(torch {torch.__version__}); set device: auto or cpu in config.yaml"
        )
    return dev


def device_label(dev: torch.device) -> str:
    """A device as provenance names it: ``cpu``, or ``cuda:0 (NVIDIA H200)``."""
    if dev.type != "cuda":
        return str(dev)
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def weights_identity(model_name: str, weights: str) -> str:
    """What a ``weights`` setting loaded, as provenance names it: for ``coco`` and
    ``imagenet`` the checkpoint's file name and :func:`~quickgaze.io.records.file_identity`
    (size and sha1 of its bytes) in the torch hub cache, for a local file its
    name and identity, for ``none`` the seeded random initialisation."""
    if weights == "none":
        return "none: seeded random initialisation"
    published = weights in ("coco", "imagenet")
    path = coco_checkpoint_path(model_name) if published else Path(weights)
    return f"{weights if published else 'local'}: {path.name} {file_identity(str(path))}"


def coco_weights(model_name: str) -> torchvision.models.WeightsEnum:
    """torchvision's COCO_V1 weights enum member for ``model_name``."""
    return torchvision.models.get_model_weights(model_name).COCO_V1


def imagenet_weights(model_name: str) -> torchvision.models.WeightsEnum:
    """torchvision's ImageNet weights enum member of classifier ``model_name``."""
    return torchvision.models.get_model_weights(model_name)[CLASSIFIERS[model_name].weights]


def hub_weights(model_name: str) -> torchvision.models.WeightsEnum:
    """The published weights of a model: COCO_V1 for a detector, ImageNet for a classifier."""
    return imagenet_weights(model_name) if model_name in CLASSIFIERS else coco_weights(model_name)


def coco_checkpoint_path(model_name: str) -> Path:
    """Where torch hub caches the published checkpoint of ``model_name`` (COCO_V1 for a
    detector, :func:`imagenet_weights` for a classifier)."""
    url = hub_weights(model_name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def build_model(model_name: str, weights: str, seed: int = 0) -> nn.Module:
    """A detector (:func:`build_detector`) or a classifier (:func:`build_classifier`)."""
    if model_name in CLASSIFIERS:
        return build_classifier(model_name, weights, seed)
    if model_name not in MODELS:
        raise ValueError(f"unknown model '{model_name}'; supported: {', '.join(MODELS)}")
    return build_detector(model_name, weights, seed)


def build_classifier(model_name: str, weights: str = "imagenet", seed: int = 0) -> nn.Module:
    """Build a torchvision ImageNet classifier in eval mode.

    ``weights``: ``imagenet`` (from the torch hub cache, downloaded only when
    absent; offline, an error naming the file and folder), ``none`` (seeded
    random initialisation) or a path to a state_dict of the whole classifier.
    """
    if model_name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier '{model_name}'; supported: "
                         f"{', '.join(CLASSIFIERS)}")
    if weights == "coco":
        raise ValueError(f"weights 'coco' are for the detectors; classifier {model_name} takes "
                         "imagenet, none or a state_dict path")
    torch.manual_seed(seed)
    model = torchvision.models.get_model(model_name, weights=None)
    _load_weights(model, model_name, weights, "imagenet")
    return model.eval()


def _load_weights(model: nn.Module, model_name: str, weights: str, published: str) -> None:
    """Load ``weights`` (``published``: the name of the hub weights, ``none``, or a path)."""
    if weights == published:
        model.load_state_dict(_load_hub_state_dict(model_name))
    elif weights != "none":
        path = Path(weights)
        if not path.is_file():
            raise WeightsUnavailableError(f"weights file '{path}' does not exist")
        state = load_checkpoint(path, f"weights file '{path}' is not a state_dict of "
                                      f"{model_name}", "Export it again from the model.")
        try:
            model.load_state_dict(state)
        except Exception as err:
            raise WeightsUnavailableError(
                f"weights file '{path}' is not a state_dict of {model_name}: {err}"
            ) from err


def build_detector(model_name: str, weights: str = "coco", seed: int = 0) -> nn.Module:
    """Build a torchvision FPN detector in eval mode with the requested weights.

    ``weights``: ``coco``, ``none`` or a path to a state_dict of the whole detector.
    ``seed`` makes ``none`` reproducible.
    """
    if model_name not in SUPPORTED_MODELS:
        raise ValueError(
            f"unknown model '{model_name}'; supported: {', '.join(SUPPORTED_MODELS)}"
        )
    if weights == "imagenet":
        raise ValueError(f"weights 'imagenet' are for the classifiers; detector {model_name} "
                         "takes coco, none or a state_dict path")
    torch.manual_seed(seed)
    model = torchvision.models.get_model(model_name, weights=None, weights_backbone=None)
    _load_weights(model, model_name, weights, "coco")
    return model.eval()


def load_checkpoint(path: Path, problem: str, advice: str) -> dict[str, torch.Tensor]:
    """A state_dict read with ``torch.load(weights_only=True)``.

    A file that does not load (corrupt, truncated, not a checkpoint, or a
    pickle of more than tensors) raises WeightsUnavailableError: ``problem``
    (what the file is not), that it is not a valid checkpoint, and ``advice``.
    torch's own message is not repeated: it advises turning the safe loader
    off, which would run arbitrary code from an untrusted file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types; its advice is dropped
        raise WeightsUnavailableError(
            f"{problem}: not a valid PyTorch checkpoint ({type(err).__name__}): it is corrupt, "
            f"truncated, not a checkpoint, or holds more than tensors. quickgaze reads only "
            f"state_dicts (torch.save(model.state_dict(), path)) and never unpickles arbitrary "
            f"objects. {advice}"
        ) from None
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"{problem}: it holds a {type(state).__name__}, not a "
                                      f"state_dict. {advice}")
    return state


# Seconds a stalled download connection may stay silent before it fails.
DOWNLOAD_TIMEOUT_S = 30


def _load_hub_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """Load the published state_dict (:func:`hub_weights`) from the torch hub cache,
    downloading it only when it is absent (with a socket timeout, so an offline
    machine fails fast)."""
    weights = hub_weights(model_name)
    kind = "ImageNet" if model_name in CLASSIFIERS else "COCO"
    target = coco_checkpoint_path(model_name)
    if target.is_file():
        return load_checkpoint(target, f"cached {kind} weights '{target}' cannot be read",
                               f"Delete it and download {weights.url} again.")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:
        raise WeightsUnavailableError(
            f"{kind} weights for {model_name} are not in the torch hub cache and could not "
            f"be downloaded ({type(err).__name__}: {err}). Download {weights.url} on a "
            f"machine with internet access and place it as '{target.name}' in "
            f"'{target.parent}' (set TORCH_HOME to move the cache)."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
