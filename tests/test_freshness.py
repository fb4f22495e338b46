"""A rerun equals a clean run, file by file (contents, not dates), after the cases
where dates lie: a batch job killed part-way on an incremental run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from quickgaze.pipeline.batches import KILL_AFTER
from quickgaze.saliency.ceiling import CEILINGS

from conftest import FAST_VARIANT, snakemake, write_config

pytestmark = pytest.mark.slow

N_IMAGES = 4
PER_IMAGE_DIRS = ("ground_truth", "fast/cam", "fast/smooth", "fast/metrics",
                  "centre_bias/metrics", "uniform/metrics", "humans/metrics",
                  "one_human/metrics", "infinite_humans/metrics")


def study(work: Path, sign_policy: str) -> None:
    write_config(work, {"dataset": {"demo": {"n_images": N_IMAGES}}, "batch_size": N_IMAGES,
                        "forward_batch": 1, "ranking": {"n": 1, "bootstrap": 200},
                        "ceiling": {"names": list(CEILINGS)}},
                 replace_variants={"fast": {**FAST_VARIANT, "sign_policy": sign_policy}})


def content(path: Path) -> object:
    """What a per-image file holds: npz arrays, JSON text, PNG pixels (never dates)."""
    if path.suffix == ".npz":
        with np.load(path) as z:
            return {k: z[k].tolist() for k in sorted(z.files)}
    if path.suffix == ".json":
        return json.dumps(json.loads(path.read_text()), sort_keys=True)
    return iio.imread(path).tolist()


def per_image_files(work: Path) -> dict[str, object]:
    root = work / "results/demo"
    return {str(p.relative_to(root)): content(p)
            for d in PER_IMAGE_DIRS for p in sorted((root / d).iterdir())}


def differing(a: dict[str, object], b: dict[str, object]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def test_cam_job_killed_on_an_incremental_run_then_a_plain_rerun_equals_a_clean_run(tmp_path):
    clean, work = tmp_path / "clean", tmp_path / "work"
    study(clean, "mean_activation")
    snakemake(clean)
    expected = per_image_files(clean)
    assert len(expected) == len(PER_IMAGE_DIRS) * N_IMAGES

    study(work, "max_abs")
    snakemake(work)
    study(work, "mean_activation")  # a CAM parameter changes ...
    proc = snakemake(work, check=False, env={KILL_AFTER: "CAM forward:1"})  # ... kill -9 at 1
    assert proc.returncode != 0
    log = (work / "logs/demo/fast/cam/b0000.log").read_text()
    assert "CAM forward: 1/4 done" in log and "computed" not in log, log
    stale = differing(per_image_files(work), expected)
    assert any(k.startswith("fast/cam/") for k in stale), "the kill left nothing stale"

    snakemake(work)  # a plain rerun
    assert differing(per_image_files(work), expected) == []
    # The image the killed job finished is kept, not computed again.
    assert computed_cams(work) == N_IMAGES - 1
    assert "kept from a job that failed" in (work / "logs/demo/fast/cam/b0000.log").read_text()
    assert not (work / "results/demo/fast/cam.kept").exists()


def cam_records(work: Path) -> dict[str, object]:
    return {p.name: content(p) for p in sorted((work / "results/demo/fast/cam").iterdir())}


def computed_cams(work: Path) -> int:
    log = work / "logs/demo/fast/cam/b0000.log"
    return int(log.read_text().rsplit("CAM forward: computed ", 1)[1].split()[0])


def test_a_local_weights_file_replaced_in_place_reruns_its_cams_and_a_touch_does_not(tmp_path):
    import torch

    from quickgaze.cam.models import build_detector

    weights = tmp_path / "detector.pth"

    def save(seed: int) -> None:
        torch.save(build_detector(FAST_VARIANT["model"], "none", seed).state_dict(), weights)

    save(1)
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 2}}, "batch_size": 2,
                            "ranking": {"n": 1, "bootstrap": 200}},
                 replace_variants={"fast": {**FAST_VARIANT, "weights": str(weights)}})
    snakemake(tmp_path)
    first = cam_records(tmp_path)
    os.utime(weights)  # touched, same bytes: the job runs, no image is recomputed
    snakemake(tmp_path)
    assert computed_cams(tmp_path) == 0 and cam_records(tmp_path) == first
    save(2)  # replaced in place
    snakemake(tmp_path)
    assert computed_cams(tmp_path) == 2
    assert all(cam_records(tmp_path)[k]["cam"] != first[k]["cam"] for k in first)
