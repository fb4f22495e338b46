"""The one-call API and the `quickgaze` command, on real SALICON examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import quickgaze
from quickgaze.io.images import read_map, write_map_png
from quickgaze.io.records import load_npz
from quickgaze.maps.resampling import cam_to_image
from quickgaze.pipeline.cam_job import cam_job
from quickgaze.saliency.fixations import saliency_from_fixations
from quickgaze.saliency.metrics import METRICS, prepare_truth, saliency_metrics

from conftest import FAST_VARIANT, PYSALIENCY_REFERENCE, pysaliency_python

COMMAND = Path(sys.executable).with_name("quickgaze")
VARIANT = {**FAST_VARIANT, "levels": "all", "grid": "coarsest", "sign_policy": "mean_activation",
           "crop_padding": True}


@pytest.fixture(scope="module")
def example(salicon_examples):
    image = min((salicon_examples / "images").glob("*.jpg"))
    return image


def test_cam_map_equals_the_workflow_cam_job(tmp_path, example):
    out = tmp_path / "cam.npz"
    cam_job([example.stem], {example.stem: example}, {"v": {example.stem: out}},
            {"v": VARIANT}, "cpu", 0, 1, 0)
    record = load_npz(out)
    expected = cam_to_image(record["cam"], tuple(record["extent"]), (480, 640),
                            tuple(record["offset"]))
    ours = quickgaze.cam_map(example, device="cpu", **FAST_VARIANT,
                             sign_policy="mean_activation")
    assert ours.shape == (480, 640) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_cam_map_with_a_gradcam_method_equals_the_workflow_cam_job(tmp_path, example):
    # A classifier through grad-cam: the same record the workflow writes, mapped the same way.
    variant = {"model": "resnet50", "weights": "none", "method": "gradcam", "input_size": 112}
    out = tmp_path / "cam.npz"
    cam_job([example.stem], {example.stem: example}, {"v": {example.stem: out}},
            {"v": {**VARIANT, "input_scale": "detector", **variant}}, "cpu", 0, 1, 0)
    record = load_npz(out)
    assert tuple(record["extent"]) == (112.0, 112.0)
    expected = cam_to_image(record["cam"], tuple(record["extent"]), (480, 640),
                            tuple(record["offset"]))
    ours = quickgaze.cam_map(example, device="cpu", **variant)
    assert ours.shape == (480, 640) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, expected)


def test_cam_map_refuses_settings_that_cannot_run(example):
    # The workflow's config check, named for the API; a classifier's weights default to
    # imagenet, so the error is the method's, before any weights are looked for.
    with pytest.raises(ValueError, match="quickgaze.cam_map: variant 'cam_map': method "
                                         "'eigencam' is quickgaze's FPN engine"):
        quickgaze.cam_map(example, model="resnet50")
    with pytest.raises(ValueError, match="method 'gradcm' unknown; supported: eigencam, "
                                         "gradcam,"):
        quickgaze.cam_map(example, method="gradcm")


def test_cam_map_rejects_unknown_options(example):
    with pytest.raises(TypeError, match=r"unknown variant option\(s\) \['grdi'\]"):
        quickgaze.cam_map(example, grdi="pool")


def test_score_equals_the_workflow_metrics_and_refuses_bad_points():
    rng = np.random.default_rng(0)
    points = np.stack([rng.integers(0, 48, 30), rng.integers(0, 64, 30)], axis=1)
    saliency = rng.random((48, 64)).astype(np.float32)
    result = quickgaze.score(saliency, fixations=points)
    truth = saliency_from_fixations(points, (48, 64))
    expected = saliency_metrics(saliency, prepare_truth(truth, points, None,
                                                        np.ones((48, 64), np.float32)))
    assert set(result) == set(METRICS) and result == expected
    assert np.isnan(result["sauc"]) and np.isfinite(result["info_gain"])
    with pytest.raises(ValueError, match="1 of 31 points are outside the 48x64 map"):
        quickgaze.score(saliency, fixations=np.vstack([points, [48, 0]]))
    with pytest.raises(ValueError, match="1 of 31 points are not finite"):
        quickgaze.score(saliency, fixations=np.vstack([points, [np.nan, 0]]))
    with pytest.raises(ValueError, match="map is 48x64 but truth_map is 10x10"):
        quickgaze.score(saliency, truth_map=np.zeros((10, 10)))


@pytest.mark.slow
@pytest.mark.skipif(not COMMAND.exists(), reason="console script not installed (pip install -e .)")
def test_command_line_cam_then_score(tmp_path, salicon_examples):
    images = sorted((salicon_examples / "images").glob("*.jpg"))[:2]
    out = tmp_path / "maps"
    variant_args = ["--model", FAST_VARIANT["model"], "--weights", "none", "--input-scale",
                    "native", "--sign-policy", "mean_activation", "--device", "cpu"]
    proc = subprocess.run([str(COMMAND), "cam", *map(str, images), "-o", str(out),
                           *variant_args], capture_output=True, text=True, check=True)
    assert "2/2 images" in proc.stderr
    # One PNG per image stem, as pysaliency's SaliencyMapModelFromDirectory looks them up.
    assert sorted(p.name for p in out.iterdir()) == [f"{p.stem}.png" for p in images]
    written = read_map(out / f"{images[0].stem}.png")
    direct = quickgaze.cam_map(images[0], device="cpu", **FAST_VARIANT,
                               sign_policy="mean_activation")
    assert np.abs(written - direct).max() <= 0.5 / 255 + 1e-6  # 8-bit PNG
    fixations = tmp_path / "fix.txt"
    np.savetxt(fixations, [[100, 200], [240, 320], [10, 600]], fmt="%d")
    proc = subprocess.run([str(COMMAND), "score", str(out / f"{images[0].stem}.png"),
                           "--fixations", str(fixations)], capture_output=True, text=True,
                          check=True)
    scores = json.loads(proc.stdout)["scores"]
    assert scores == pytest.approx(
        {k: (None if np.isnan(v) else v) for k, v in quickgaze.score(
            written, fixations=np.loadtxt(fixations)).items()})
    small = tmp_path / "small.png"
    write_map_png(small, np.zeros((10, 10)))
    bad = subprocess.run([str(COMMAND), "score", str(out / f"{images[0].stem}.png"),
                          "--fixations", str(fixations), "--truth-map", str(small)],
                         check=False, capture_output=True, text=True)
    assert bad.returncode != 0 and "map is 480x640 but truth_map is 10x10" in bad.stderr
    # pysaliency reads the directory as a model and scores it as quickgaze does.
    points = np.loadtxt(fixations).astype(int)
    np.savez(tmp_path / "cases.npz", images=np.array([str(p) for p in images]),
             maps=np.array(str(out)), x=np.tile(points[:, 1], 2), y=np.tile(points[:, 0], 2),
             n=np.repeat([0, 1], len(points)))
    subprocess.run([str(pysaliency_python()), str(PYSALIENCY_REFERENCE), "directory",
                    str(tmp_path / "cases.npz"), str(tmp_path / "ref.npz")], check=True,
                   timeout=600)
    reference = np.load(tmp_path / "ref.npz")
    for k, image in enumerate(images):
        levels = np.round(read_map(out / f"{image.stem}.png").astype(np.float64) * 255)
        np.testing.assert_array_equal(reference[f"map_{k}"], levels)  # the PNG's 8-bit values
        assert reference["nss"][k] == pytest.approx(
            quickgaze.score(levels, fixations=points)["nss"], abs=1e-9)


@pytest.mark.skipif(not COMMAND.exists(), reason="console script not installed (pip install -e .)")
def test_command_line_cam_with_a_gradcam_method_on_a_classifier(tmp_path, example):
    out = tmp_path / "map.png"
    subprocess.run([str(COMMAND), "cam", str(example), "-o", str(out), "--method", "gradcam",
                    "--model", "resnet50", "--weights", "none", "--input-size", "112",
                    "--device", "cpu"], capture_output=True, text=True, check=True)
    direct = quickgaze.cam_map(example, device="cpu", model="resnet50", weights="none",
                               method="gradcam", input_size=112)
    assert np.abs(read_map(out) - direct).max() <= 0.5 / 255 + 1e-6  # 8-bit PNG
    bad = subprocess.run([str(COMMAND), "cam", str(example), "-o", str(out), "--model",
                          "resnet50", "--weights", "none"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0 and "classifier 'resnet50' needs a grad-cam method" in bad.stderr
