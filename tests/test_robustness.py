"""Bad inputs, interruptions and NaNs: clear per-image reasons, nothing else lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from quickgaze.cam.eigencam import CamSettings, compute_cams
from quickgaze.cam.models import build_detector
from quickgaze.io.images import write_map_png
from quickgaze.saliency.fixations import (
    load_salicon2015_json,
    saliency_from_fixations,
    valid_points,
)

from conftest import FAST_VARIANT, REPO, snakemake, write_config

pytestmark = pytest.mark.slow


def bad_input_study(workdir: Path, examples: Path) -> dict[str, str]:
    """A folder dataset with every kind of awkward file real data has.

    Returns the expected outcome per image id: ``ok`` or a phrase of the error.
    """
    images, maps = workdir / "images", workdir / "maps"
    images.mkdir(parents=True)
    maps.mkdir()
    fixations = load_salicon2015_json(examples / "fixations_train2014examples.json")
    src = sorted((examples / "images").glob("*.jpg"))
    real = Image.open(src[0]).convert("RGB")
    truth = saliency_from_fixations(valid_points(fixations[src[0].stem]["points"],
                                                 (480, 640))[0], (480, 640))
    data = src[0].read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (images / "empty.jpg").write_bytes(b"")
    (images / "text.jpg").write_text("not an image at all")
    real.convert("CMYK").save(images / "cmyk.jpg")
    real.convert("L").save(images / "gray.png")
    real.convert("RGBA").save(images / "rgba.png")
    gray16 = (np.asarray(real.convert("L")).astype(np.uint16) * 257)
    Image.fromarray(gray16).save(images / "deep16.png")
    real.resize((500, 300)).save(images / "small.jpg")
    real.save(images / "mapsize.jpg")
    real.save(images / "nogt.jpg")
    for stem in ("truncated", "empty", "text", "cmyk", "gray", "rgba", "deep16", "mapsize"):
        write_map_png(maps / f"{stem}.png", truth)
    small = np.asarray(Image.fromarray((truth * 255).astype(np.uint8)).resize((500, 300)))
    write_map_png(maps / "small.png", small / 255.0)
    write_map_png(maps / "mapsize.png", truth[::2, ::2])  # 240x320 map for a 480x640 image
    write_config(workdir, {"dataset": {"kind": "folder", "name": "bad", "folder": {
        "images": str(images), "maps": str(maps)}}, "batch_size": 5},
        replace_variants={"fast": FAST_VARIANT})
    return {"truncated": "cannot decode", "empty": "cannot", "text": "cannot",
            "nogt": "no ground truth", "cmyk": "ok", "gray": "ok", "rgba": "ok",
            "deep16": "ok", "small": "ok", "mapsize": "ok"}


def test_bad_inputs_are_recorded_or_handled_and_the_rest_is_kept(tmp_path, salicon_examples):
    expected = bad_input_study(tmp_path, salicon_examples)
    snakemake(tmp_path)
    table = pd.read_parquet(tmp_path / "results/bad/fast/metrics.parquet").set_index("image")
    assert sorted(table.index) == sorted(expected)
    for image, outcome in expected.items():
        row = table.loc[image]
        if outcome == "ok":
            assert row["status"] == "ok", (image, row["error"])
            assert np.isfinite(row["cc_smooth"])
        else:
            assert row["status"] == "error" and outcome in row["error"], (image, row["error"])
            assert image in row["error"] or outcome == "no ground truth"
    assert "resized" in table.loc["mapsize", "warnings"]
    # CMYK, grayscale, RGBA and 16-bit versions of one image give nearly the same CAM.
    for variant in ("gray", "deep16"):
        assert abs(table.loc[variant, "cc_raw"] - table.loc["cmyk", "cc_raw"]) < 0.2
    errors = pd.read_csv(tmp_path / "results/bad/fast/errors.csv")
    assert sorted(errors["image"]) == sorted(k for k, v in expected.items() if v != "ok")
    assert errors["error"].str.len().min() > 10


def test_strict_mode_fails_at_the_end_listing_bad_images(tmp_path, salicon_examples):
    bad_input_study(tmp_path, salicon_examples)
    # --keep-going: which table fails first (a variant's or a baseline's) is up to the scheduler.
    proc = snakemake(tmp_path, "--config", "strict=True", "--keep-going", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/bad/fast/metrics_table.log").read_text()
    assert "4 of 10 images failed (strict: true)" in log
    for image in ("truncated", "empty", "text", "nogt"):
        assert f"  {image}: " in log
    # Every per-image result is still there.
    assert len(list((tmp_path / "results/bad/fast/metrics").glob("*.json"))) == 10


def test_kill_9_of_a_cam_job_loses_nothing_and_a_plain_rerun_finishes(tmp_path, salicon_examples):
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((salicon_examples / "images").glob("*.jpg")):
        (images / p.name).symlink_to(p)
    write_config(tmp_path, {"dataset": {"kind": "folder", "name": "kill", "folder": {
        "images": str(images),
        "fixations": str(salicon_examples / "fixations_train2014examples.json")}},
        "batch_size": 10, "forward_batch": 1},
        replace_variants={"slow": {"input_scale": "detector"}})  # ~1-3 s per image
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d",
           str(tmp_path), "--cores", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cams = tmp_path / "results/kill/slow/cam"
    deadline = time.time() + 600
    while len(list(cams.glob("*.npz"))) < 3:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    job = subprocess.run(["pgrep", "-f", f"{tmp_path}/.snakemake/scripts/.*cam_batch.py"],
                         capture_output=True, text=True, check=True).stdout.split()
    for pid in job:
        os.kill(int(pid), signal.SIGKILL)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    done = sorted(p.name for p in cams.glob("*.npz"))
    assert 3 <= len(done) < 10
    for p in cams.glob("*.npz"):  # no truncated file: every record loads
        assert np.load(p)["cam"].ndim == 2

    snakemake(tmp_path)  # a plain rerun, no manual cleanup
    log = (tmp_path / "logs/kill/slow/cam/b0000.log").read_text()
    assert f"CAM forward: computed {10 - len(done)} images" in log
    assert not list(cams.glob(".*")), "temporary files left behind"
    table = pd.read_parquet(tmp_path / "results/kill/slow/metrics.parquet")
    assert len(table) == 10 and (table["status"] == "ok").all()


def test_non_finite_activations_become_a_per_image_error():
    model = build_detector("fasterrcnn_mobilenet_v3_large_320_fpn", "none", seed=0)
    with torch.no_grad():
        next(model.backbone.fpn.parameters()).fill_(float("nan"))
    img = np.full((64, 96, 3), 128, np.uint8)
    results = compute_cams(model, [img, img], CamSettings(input_scale="native"),
                           torch.device("cpu"))
    assert all("non-finite" in r.error for r in results)


def test_one_per_image_target_of_an_error_image_says_why(tmp_path, salicon_examples):
    bad_input_study(tmp_path, salicon_examples)
    snakemake(tmp_path, "results/bad/fast/metrics/text.json")
    record = json.loads((tmp_path / "results/bad/fast/metrics/text.json").read_text())
    assert record["status"] == "error" and "text.jpg" in record["error"]
    assert not [k for k in record if k.endswith(("_raw", "_smooth"))]  # no made-up values
    assert not (tmp_path / "results/bad/fast/metrics.parquet").exists()
