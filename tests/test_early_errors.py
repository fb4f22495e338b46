"""Settings that cannot run are named when the config is read, before any job
(issue 29, item 6): FPN ``levels`` and ``grid`` the model does not have, a local
weights file that does not exist. Before, the first two passed the config check
and failed inside every CAM job; the third was a MissingInputException naming
neither the variant nor the key."""

from __future__ import annotations

import pytest
import torch

from quickgaze.cam.models import build_detector
from quickgaze.cam.networks import DETECTORS, FPN_LEVELS
from quickgaze.cam.variants import check_variant

from conftest import FAST_VARIANT, snakemake, write_config

FAST = FAST_VARIANT["model"]


@pytest.mark.parametrize("model", DETECTORS)
def test_the_fpn_level_table_is_what_each_detector_returns(model):
    net = build_detector(model, "none", seed=0)
    with torch.inference_mode():
        keys = tuple(net.backbone(torch.zeros(1, 3, 128, 128)).keys())
    assert FPN_LEVELS[model] == keys


@pytest.mark.parametrize(("change", "message"), [
    ({"levels": ["7"]}, (f"config.yaml: variant 'v': levels: '7' not FPN level(s) of {FAST}; "
                         "its levels: 0, 1, pool (or 'all')")),
    ({"levels": [0, "3", "pool"]}, (f"config.yaml: variant 'v': levels: '3' not FPN level(s) "
                                    f"of {FAST}; its levels: 0, 1, pool (or 'all')")),
    ({"grid": "9"}, (f"config.yaml: variant 'v': grid: '9' is not an FPN level of {FAST}; its "
                     "levels: 0, 1, pool, or coarsest / finest")),
    ({"model": "fasterrcnn_resnet50_fpn", "grid": "p6"},
     ("config.yaml: variant 'v': grid: 'p6' is not an FPN level of fasterrcnn_resnet50_fpn; "
      "its levels: 0, 1, 2, 3, pool, or coarsest / finest")),
    ({"weights": "absent/detector.pth"},
     ("config.yaml: variant 'v': weights: local state_dict file 'absent/detector.pth' does not "
      "exist (or is not a file); weights is coco, imagenet, none or a file path")),
])
def test_settings_that_cannot_run_name_the_variant_and_the_key(change, message):
    variant = {"levels": "all", "grid": "coarsest", **FAST_VARIANT, **change}
    with pytest.raises(ValueError) as err:
        check_variant("v", variant)
    assert str(err.value) == message


@pytest.mark.parametrize("fine", [{"levels": [0, "pool"], "grid": "1"},
                                  {"model": "retinanet_resnet50_fpn", "grid": "p6"},
                                  {"levels": "all", "grid": "finest"}])
def test_levels_and_grids_the_model_has_pass(fine):
    check_variant("v", {"levels": "all", "grid": "coarsest", **FAST_VARIANT, **fine})


@pytest.mark.parametrize(("change", "words"), [
    ({"levels": ["7"]}, ["variant 'fast'", "levels: '7'"]),
    ({"grid": "9"}, ["variant 'fast'", "grid: '9'"]),
    ({"weights": "absent.pth"}, ["variant 'fast'",
                                 "weights: local state_dict file 'absent.pth' does not exist"]),
])
def test_the_workflow_stops_at_the_config_check_naming_variant_and_key(tmp_path, change, words):
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 2}}, "ceiling": {"names": []}},
                 replace_variants={"fast": {**FAST_VARIANT, **change}})
    proc = snakemake(tmp_path, "-n", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for word in words:
        assert word in output, output[-3000:]
    assert "MissingInputException" not in output and "Job stats" not in output
