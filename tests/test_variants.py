"""Forward groups: which variants share one forward per image."""

from __future__ import annotations

from quickgaze.cam.variants import forward_groups

BASE = {"model": "fasterrcnn_resnet50_fpn", "weights": "none", "input_scale": "detector",
        "native_max_pixels": 4000000, "native_oversize": "downscale", "levels": "all",
        "grid": "coarsest", "sign_policy": "svd", "crop_padding": True, "precision": "fp32",
        "channels_last": False}


def test_variants_differing_after_the_forward_share_it_and_forward_settings_split_them():
    variants = {"seed": {**BASE, "crop_padding": False},
                "fine": {**BASE, "grid": "finest", "sign_policy": "mean_activation"},
                "half": {**BASE, "precision": "bf16"},
                "half_fine": {**BASE, "precision": "bf16", "grid": "finest",
                              "sign_policy": "max_abs"},
                "last": {**BASE, "channels_last": True},
                "native": {**BASE, "input_scale": "native"},
                "mobile": {**BASE, "model": "fasterrcnn_mobilenet_v3_large_fpn"}}
    assert forward_groups(variants) == {"seed": ["seed", "fine"], "half": ["half", "half_fine"],
                                        "last": ["last"], "native": ["native"],
                                        "mobile": ["mobile"]}
