"""Detectors and their weights: torchvision FPN detectors, built once per job.

Weights are ``coco`` (torchvision's COCO_V1 weights through its weights API and
the torch hub cache), a path to a local state_dict (``.pth``), or ``none``
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

from quickgaze.batch import file_identity

SUPPORTED_MODELS = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "retinanet_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
)

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
    """What a ``weights`` setting loaded, as provenance names it: for ``coco`` the
    checkpoint's file name and :func:`~quickgaze.batch.file_identity` (size and
    sha1 of its bytes) in the torch hub cache, for a local file its name and
    identity, for ``none`` the seeded random initialisation."""
    if weights == "none":
        return "none: seeded random initialisation"
    path = coco_checkpoint_path(model_name) if weights == "coco" else Path(weights)
    return f"{weights if weights == 'coco' else 'local'}: {path.name} {file_identity(str(path))}"


def coco_weights(model_name: str) -> torchvision.models.WeightsEnum:
    """torchvision's COCO_V1 weights enum member for ``model_name``."""
    return torchvision.models.get_model_weights(model_name).COCO_V1


def coco_checkpoint_path(model_name: str) -> Path:
    """Where torch hub caches the COCO_V1 checkpoint of ``model_name``."""
    url = coco_weights(model_name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def build_detector(model_name: str, weights: str = "coco", seed: int = 0) -> nn.Module:
    """Build a torchvision FPN detector in eval mode with the requested weights.

    ``weights``: ``coco``, ``none`` or a path to a state_dict of the whole detector.
    ``seed`` makes ``none`` reproducible.
    """
    if model_name not in SUPPORTED_MODELS:
        raise ValueError(
            f"unknown model '{model_name}'; supported: {', '.join(SUPPORTED_MODELS)}"
        )
    torch.manual_seed(seed)
    model = torchvision.models.get_model(model_name, weights=None, weights_backbone=None)
    if weights == "coco":
        model.load_state_dict(_load_coco_state_dict(model_name))
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


def _load_coco_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """Load the COCO_V1 state_dict from the torch hub cache, downloading it only
    when it is absent (with a socket timeout, so an offline machine fails fast)."""
    weights = coco_weights(model_name)
    target = coco_checkpoint_path(model_name)
    if target.is_file():
        return load_checkpoint(target, f"cached COCO weights '{target}' cannot be read",
                               f"Delete it and download {weights.url} again.")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:
        raise WeightsUnavailableError(
            f"COCO weights for {model_name} are not in the torch hub cache and could not "
            f"be downloaded ({type(err).__name__}: {err}). Download {weights.url} on a "
            f"machine with internet access and place it as '{target.name}' in "
            f"'{target.parent}' (set TORCH_HOME to move the cache)."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
