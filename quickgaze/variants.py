"""Variant blocks (config.yaml's ``cam_defaults`` merged with a variant) and the
forward groups they form. Torch-free: the workflow reads it when it is parsed."""

from __future__ import annotations

from typing import Any

from quickgaze.io import NATIVE_MAX_PIXELS


def size_guard(variant: dict[str, Any]) -> tuple[int | None, str] | None:
    """``(native_max_pixels, native_oversize)`` of a native-scale variant (see
    :func:`quickgaze.io.native_size_guard`); None at detector scale, whose
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
    study's, common to all."""
    return (variant["model"], str(variant["weights"]), variant["input_scale"],
            size_guard(variant), variant.get("precision", "fp32"),
            bool(variant.get("channels_last", False)))


def forward_groups(variants: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Variants grouped by :func:`forward_key`, in config order; each group is
    named after its first variant (``{"seed": ["seed", "aligned", "fine"]}`` for
    the default study, whose variants differ only after the forward)."""
    groups: dict[tuple, list[str]] = {}
    for name, variant in variants.items():
        groups.setdefault(forward_key(variant), []).append(name)
    return {members[0]: members for members in groups.values()}
