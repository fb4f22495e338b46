"""A CAM never depends on its batch neighbours (issue 29, item 2): with images of
mixed sizes, every image's CAM at any ``forward_batch`` equals its CAM forwarded
alone. torchvision's transform pads a batch to its largest image, which changed
the padded image's features (and, without ``crop_padding``, its grid)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from quickgaze.cam.eigencam import CamSettings, compute_variant_cams
from quickgaze.cam.fpn import fpn_feature_groups, fpn_features, to_tensor
from quickgaze.cam.models import build_detector
from quickgaze.io.images import read_rgb
from quickgaze.pipeline.cam_job import cam_job

from conftest import FAST_VARIANT, snakemake, write_config

CPU = torch.device("cpu")
# (rows, cols) crops of the 480x640 SALICON examples: four network input sizes at
# either scale, the largest first so that every other one would be padded to it.
CROPS = [(480, 640), (320, 480), (480, 256), (200, 300)]


@pytest.fixture(scope="module")
def mixed(salicon_examples):
    paths = sorted((salicon_examples / "images").glob("*.jpg"))
    return [np.ascontiguousarray(read_rgb(p)[:h, :w]) for p, (h, w) in zip(paths, CROPS)]


@pytest.fixture(scope="module")
def fast_model():
    return build_detector(FAST_VARIANT["model"], "none", seed=0)


def assert_same_cam(together, alone):
    assert together.error == alone.error == ""
    assert together.cam.shape == alone.cam.shape
    assert together.extent == alone.extent and together.offset == alone.offset
    assert float(np.abs(together.cam - alone.cam).max()) <= 1e-5
    assert abs(together.explained_variance - alone.explained_variance) <= 1e-5
    assert together.sign_flipped == alone.sign_flipped


@pytest.mark.parametrize("scale", ["native", "detector"])
def test_each_cam_of_a_mixed_size_batch_equals_its_cam_alone(fast_model, mixed, scale):
    settings = [CamSettings(input_scale=scale, crop_padding=False),
                CamSettings(input_scale=scale, grid="finest", sign_policy="mean_activation"),
                CamSettings(input_scale=scale, grid="0", sign_policy="max_abs",
                            crop_padding=False)]
    together = compute_variant_cams(fast_model, mixed, settings, CPU)
    for k, image in enumerate(mixed):
        alone = compute_variant_cams(fast_model, [image], settings, CPU)
        for v in range(len(settings)):
            assert_same_cam(together[v][k], alone[v][0])


def test_one_forward_per_network_input_size(fast_model, mixed):
    tensors = [to_tensor(im) for im in [mixed[0], mixed[1], mixed[0], mixed[1]]]
    with torch.inference_mode():
        groups = fpn_feature_groups(fast_model, tensors, "native")
        assert [idx for idx, *_ in groups] == [[0, 2], [1, 3]]
        assert [padded for *_, padded in groups] == [(480, 640), (320, 480)]
        with pytest.raises(ValueError, match="different network input sizes"):
            fpn_features(fast_model, tensors, "native")


def test_cam_job_records_do_not_depend_on_forward_batch(tmp_path, mixed):
    from PIL import Image

    images = {}
    for k, image in enumerate(mixed):
        images[f"im{k}"] = tmp_path / f"im{k}.png"
        Image.fromarray(image).save(images[f"im{k}"])
    ids = sorted(images)
    variant = {"levels": "all", "grid": "coarsest", "sign_policy": "svd", "crop_padding": False,
               **FAST_VARIANT}
    records = {}
    for batch in (1, 4):
        out = {i: tmp_path / f"fb{batch}" / f"{i}.npz" for i in ids}
        assert cam_job(ids, images, {"v": out}, {"v": variant}, "cpu", 0, forward_batch=batch) == 4
        records[batch] = {i: dict(np.load(out[i])) for i in ids}
    for i in ids:
        one, four = records[1][i], records[4][i]
        assert one["cam"].shape == four["cam"].shape
        assert float(np.abs(one["cam"] - four["cam"]).max()) <= 1e-5
        np.testing.assert_array_equal(one["extent"], four["extent"])


@pytest.mark.slow
def test_a_rerun_of_one_cam_in_a_mixed_size_study_equals_the_clean_run(tmp_path, mixed):
    """A folder study of four images of mixed sizes, ``forward_batch: 4`` (its CAMs
    as targets: the study has no fixations): delete one CAM and rerun; every CAM
    equals the clean run's, the rerun one included (it was forwarded alone, the
    clean run with its three neighbours)."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for k, image in enumerate(mixed):
        Image.fromarray(image).save(folder / f"im{k}.png")
    overrides = {"dataset": {"kind": "folder", "name": "mixed", "folder": {"images": str(folder)}},
                 "forward_batch": 4, "batch_size": 4, "ceiling": {"names": []},
                 "ranking": {"n": 1, "bootstrap": 200},
                 "cam_defaults": {"crop_padding": False}}
    cams = [f"results/mixed/fast/cam/im{k}.npz" for k in range(len(mixed))]  # the targets
    runs = {}
    for run in ("clean", "rerun"):
        work = tmp_path / run
        write_config(work, overrides, replace_variants={"fast": FAST_VARIANT})
        snakemake(work, *cams, "--configfile", str(work / "config.yaml"))
        runs[run] = work / "results" / "mixed" / "fast" / "cam"
    # A smaller image: the clean run forwarded it with the 480x640 one beside it.
    target = runs["rerun"] / "im1.npz"
    target.unlink()
    proc = snakemake(tmp_path / "rerun", *cams, "--configfile",
                     str(tmp_path / "rerun" / "config.yaml"))
    assert target.exists(), proc.stderr[-2000:]
    log = (tmp_path / "rerun" / "logs" / "mixed" / "fast" / "cam" / "b0000.log").read_text()
    assert "forward passes: 1;" in log
    for k in range(len(mixed)):
        clean = np.load(runs["clean"] / f"im{k}.npz")
        again = np.load(runs["rerun"] / f"im{k}.npz")
        assert clean["cam"].shape == again["cam"].shape
        assert float(np.abs(clean["cam"] - again["cam"]).max()) <= 1e-5
        np.testing.assert_array_equal(clean["extent"], again["extent"])
    shutil.rmtree(tmp_path / "clean" / "results")
