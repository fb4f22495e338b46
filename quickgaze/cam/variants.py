"""Variant blocks (config.yaml's ``cam_defaults`` merged with a variant) and the
forward groups they form. Torch-free: the workflow reads it when it is parsed."""

from __future__ import annotations

from typing import Any

from quickgaze.cam.networks import (
    CLASSIFIERS,
    EIGENCAM,
    FPN_LEVELS,
    GRADCAM_METHODS,
    METHODS,
    MODELS,
)
from quickgaze.cam.weights import local_weights
from quickgaze.io.images import NATIVE_MAX_PIXELS

# Keys of the grad-cam methods and classifiers, with their defaults when a variant leaves
# them out. They are not in the schema's defaults, so the variant blocks (and so the CAM
# fingerprints) of studies that do not use them stay as they were.
METHOD_DEFAULTS: dict[str, Any] = {
    "method": EIGENCAM,       # see quickgaze.cam.networks.METHODS
    "target_layer": None,     # None: the network's default (quickgaze.cam.networks)
    "input_size": 224,        # classifiers: the image is resized to input_size x input_size
    "detection_score": 0.5,   # detectors: boxes scoring at least this are the targets
}


def setting(variant: dict[str, Any], key: str) -> Any:
    """A variant's value of a :data:`METHOD_DEFAULTS` key, its default when absent."""
    return variant.get(key, METHOD_DEFAULTS[key])


def check_variant(name: str, variant: dict[str, Any], source: str = "config.yaml") -> None:
    """A ValueError naming the variant, key and value for settings that cannot run:
    an unknown ``method`` (the message lists the supported ones) or ``model``,
    quickgaze's ``eigencam`` (an FPN engine) on a classifier, a grad-cam method
    at ``input_scale: native`` (it runs the whole network: a detector's own
    transform resizes the image, a classifier's input is ``input_size``), a
    ``target_layer`` with ``eigencam`` (which reads ``levels`` and ``grid``),
    or ``precision`` / ``channels_last`` other than the default with a grad-cam
    method (grad-cam runs the network as it is, in fp32), ``levels`` or ``grid``
    naming a level the detector's FPN does not have (:data:`FPN_LEVELS`), or a
    local ``weights`` file that does not exist. ``source`` opens the message
    (the file or function the variant came from)."""
    where = f"{source}: variant '{name}'"
    method = setting(variant, "method")
    if method not in METHODS:
        raise ValueError(f"{where}: method '{method}' unknown; supported: {', '.join(METHODS)}")
    model = variant["model"]
    if model not in MODELS:
        raise ValueError(f"{where}: model '{model}' unknown; supported: {', '.join(MODELS)}")
    if method == EIGENCAM and model in CLASSIFIERS:
        raise ValueError(f"{where}: method 'eigencam' is quickgaze's FPN engine, for the "
                         f"detectors; classifier '{model}' needs a grad-cam method: "
                         f"{', '.join(GRADCAM_METHODS)}")
    if method == EIGENCAM and setting(variant, "target_layer") is not None:
        raise ValueError(f"{where}: target_layer is read by the grad-cam methods only; "
                         "method 'eigencam' fuses the FPN `levels` on `grid`")
    if model == "vit_b_16" and int(setting(variant, "input_size")) != 224:
        raise ValueError(f"{where}: vit_b_16 takes 224x224 inputs only (its position "
                         f"embeddings), not input_size {setting(variant, 'input_size')}")
    if method != EIGENCAM and (variant.get("precision", "fp32") != "fp32"
                               or variant.get("channels_last", False)):
        raise ValueError(f"{where}: precision and channels_last apply to method 'eigencam' "
                         f"only; method '{method}' runs through grad-cam in fp32")
    weights = local_weights(str(variant.get("weights", "coco")))
    if weights is not None and not weights.is_file():
        raise ValueError(f"{where}: weights: local state_dict file '{weights}' does not exist "
                         f"(or is not a file); weights is coco, imagenet, none or a file path")
    if method == EIGENCAM:
        _check_fpn_keys(where, model, variant)
    if method != EIGENCAM and variant["input_scale"] != "detector":
        raise ValueError(f"{where}: method '{method}' runs the whole network at its own input "
                         "size (a detector's transform; a classifier's input_size): input_scale "
                         f"must be 'detector', not '{variant['input_scale']}'")


def _check_fpn_keys(where: str, model: str, variant: dict[str, Any]) -> None:
    """``levels`` and ``grid`` of an ``eigencam`` variant against the FPN of ``model``."""
    keys = FPN_LEVELS[model]
    levels = variant.get("levels", "all")
    if levels != "all":
        unknown = [str(v) for v in levels if str(v) not in keys]
        if unknown:
            raise ValueError(f"{where}: levels: {', '.join(repr(v) for v in unknown)} not FPN "
                             f"level(s) of {model}; its levels: {', '.join(keys)} (or 'all')")
    grid = str(variant.get("grid", "coarsest"))
    if grid not in ("coarsest", "finest", *keys):
        raise ValueError(f"{where}: grid: '{grid}' is not an FPN level of {model}; its levels: "
                         f"{', '.join(keys)}, or coarsest / finest")


def size_guard(variant: dict[str, Any]) -> tuple[int | None, str] | None:
    """``(native_max_pixels, native_oversize)`` of a native-scale variant (see
    :func:`quickgaze.io.images.native_size_guard`); None at detector scale, whose
    transform resizes every image anyway."""
    if variant["input_scale"] != "native":
        return None
    return (variant.get("native_max_pixels", NATIVE_MAX_PIXELS),
            variant.get("native_oversize", "downscale"))


def forward_key(variant: dict[str, Any]) -> tuple:
    """What a variant's forward depends on: variants with the same key share one
    forward per image (a forward group): model, weights, input scale, the
    native-scale size guard (which changes the image the network sees), the
    forward's precision and memory format. The seed of random weights is the
    study's, common to all.

    A grad-cam method needs its own forward and backward (or, for ScoreCAM and
    AblationCAM, its own masked forwards), so a variant with one is never in a
    group with an ``eigencam`` variant: its key holds the method and its
    settings."""
    key = (variant["model"], str(variant["weights"]), variant["input_scale"],
           size_guard(variant), variant.get("precision", "fp32"),
           bool(variant.get("channels_last", False)))
    method = setting(variant, "method")
    if method == EIGENCAM:
        return key
    return (*key, method, *(str(setting(variant, k)) for k in ("target_layer", "input_size",
                                                               "detection_score")))


def forward_groups(variants: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Variants grouped by :func:`forward_key`, in config order; each group is
    named after its first variant (``{"seed": ["seed", "aligned", "fine"]}`` for
    the default study, whose variants differ only after the forward)."""
    groups: dict[tuple, list[str]] = {}
    for name, variant in variants.items():
        groups.setdefault(forward_key(variant), []).append(name)
    return {members[0]: members for members in groups.values()}
