"""The real workflow, run by Snakemake as a subprocess, on the demo and on real SALICON data."""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import FAST_VARIANT, snakemake, write_config

pytestmark = pytest.mark.slow


def computed(workdir: Path, since: float, stage: str = "cam",
             what: str = "CAM forward") -> dict[str, int]:
    """Images computed per job log of ``stage`` written after ``since``."""
    counts = {}
    for log in workdir.glob(f"logs/**/{stage}/*.log"):
        if log.stat().st_mtime >= since:
            found = re.findall(rf"{what}: computed (\d+) images", log.read_text())
            assert found, f"{log} has no count:\n{log.read_text()}"
            counts[str(log.relative_to(workdir))] = int(found[-1])
    return counts


def forward_passes(workdir: Path, since: float) -> dict[str, int]:
    """Images that went through the network, per CAM job log written after ``since``."""
    return computed(workdir, since)


def folder_study(workdir: Path, images: list[Path], fixations: Path, **overrides) -> None:
    """A `folder` dataset of copies of ``images`` (copied so that tests can add some)."""
    img_dir = workdir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for p in images:
        shutil.copy(p, img_dir / p.name)
    config = {"dataset": {"kind": "folder", "name": "examples",
                          "folder": {"images": str(img_dir), "fixations": str(fixations)}},
              "batch_size": 3, **overrides}
    write_config(workdir, config, replace_variants={"fast": FAST_VARIANT})


def test_demo_produces_per_image_files_tables_and_ranking(tmp_path):
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 5}}, "batch_size": 2,
                            "ranking": {"n": 2}},
                 replace_variants={"fast": FAST_VARIANT,
                                   "fast_aligned": {**FAST_VARIANT,
                                                    "sign_policy": "mean_activation"}})
    snakemake(tmp_path)
    ids = [f"demo_{i:03d}" for i in range(5)]
    for variant in ("fast", "fast_aligned"):
        out = tmp_path / "results" / "demo" / variant
        for i in ids:
            assert (out / "cam" / f"{i}.npz").is_file()
            assert (out / "smooth" / f"{i}.png").is_file()
            record = json.loads((out / "metrics" / f"{i}.json").read_text())
            assert record["status"] == "ok", record
            assert -1.0 <= record["cc_smooth"] <= 1.0
            assert record["weights_label"] == "untrained: smoke run"
        table = pd.read_parquet(out / "metrics.parquet")
        assert sorted(table["image"]) == ids
        assert (pd.read_csv(out / "metrics.csv")["image"] == table["image"]).all()
        ranking = pd.read_csv(out / "ranking.csv")
        assert set(ranking["group"]) == {"top", "middle", "bottom"}
        assert (ranking["weights_label"] == "untrained: smoke run").all()
        top = ranking[ranking["group"] == "top"]["value"].tolist()
        assert top == sorted(table["cc_smooth"], reverse=True)[:2]
    # The aligned policy never leaves the CAM anti-correlated with the mean activation,
    # so its CC cannot be below the unaligned one's on every image by construction;
    # what must hold is that the flip flag is recorded per image.
    aligned = pd.read_parquet(tmp_path / "results/demo/fast_aligned/metrics.parquet")
    assert aligned["sign_flipped"].dtype == bool


def test_exact_incremental_recompute(tmp_path, salicon_examples):
    images = sorted((salicon_examples / "images").glob("*.jpg"))
    fixations = salicon_examples / "fixations_train2014examples.json"
    folder_study(tmp_path, images[:7], fixations)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 7
    # Every CAM job loads the model once (batches of 3: 3 jobs).
    logs = list(tmp_path.glob("logs/examples/fast/cam/*.log"))
    assert len(logs) == 3
    assert all(log.read_text().count("model fasterrcnn") == 1 for log in logs)

    # A no-op rerun does nothing.
    dry = snakemake(tmp_path, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # Delete k = 2 per-image CAM files in different batches: exactly 2 forward passes.
    cam_dir = tmp_path / "results/examples/fast/cam"
    for stem in (images[0].stem, images[4].stem):
        (cam_dir / f"{stem}.npz").unlink()
    time.sleep(1)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 2
    # ... and no image is evaluated again, although Snakemake touches every output
    # of the two rerun batch jobs: the recomputed CAMs have the same contents, and
    # a metrics record is stale only when the contents of its inputs differ.
    assert sum(computed(tmp_path, start, "evaluate", "evaluate").values()) == 0
    # Delete one metrics file: exactly that image is evaluated again.
    (tmp_path / "results/examples/fast/metrics" / f"{images[4].stem}.json").unlink()
    time.sleep(1)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 0
    assert sum(computed(tmp_path, start, "evaluate", "evaluate").values()) == 1

    # Add k = 3 new images: exactly 3 forward passes, all tables cover 10 images.
    for p in images[7:]:
        shutil.copy(p, tmp_path / "images" / p.name)
    time.sleep(1)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 3
    table = pd.read_parquet(tmp_path / "results/examples/fast/metrics.parquet")
    assert len(table) == 10 and (table["status"] == "ok").all()
    assert (table["n_fixations"] > 100).all()  # real fixations, ~61 observers per image


def test_parameter_changes_rebuild_only_what_depends_on_them(tmp_path, salicon_examples):
    images = sorted((salicon_examples / "images").glob("*.jpg"))[:3]
    folder_study(tmp_path, images, salicon_examples / "fixations_train2014examples.json")
    snakemake(tmp_path)
    metrics = tmp_path / "results/examples/fast/metrics" / f"{images[0].stem}.json"
    before = json.loads(metrics.read_text())

    # Evaluation parameter: no forward pass, every metric recomputed with the new sigma.
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("sigma: 19", "sigma: 5"))
    time.sleep(1)
    start = time.time()
    proc = snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 0
    assert "cam_fast" not in proc.stderr.split("Job stats")[-1].split("Reasons")[0]
    after = json.loads(metrics.read_text())
    assert after["cc_raw"] == pytest.approx(before["cc_raw"])
    assert after["cc_smooth"] != pytest.approx(before["cc_smooth"])

    # CAM parameter: every image of that variant goes through the network again.
    config.write_text(config.read_text().replace("sign_policy: svd", "sign_policy: max_abs"))
    time.sleep(1)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 3

    # Analysis parameter, and an image taken out of the dataset: the tables and
    # rankings follow (Snakemake compares only dates here, see params_file), with
    # no forward pass.
    (tmp_path / "images" / images[2].name).unlink()
    config.write_text(config.read_text().replace("n: 25", "n: 1"))
    time.sleep(1)
    start = time.time()
    snakemake(tmp_path)
    assert sum(forward_passes(tmp_path, start).values()) == 0
    out = tmp_path / "results/examples/fast"
    assert sorted(pd.read_parquet(out / "metrics.parquet")["image"]) == [
        p.stem for p in images[:2]]
    ranking = pd.read_csv(out / "ranking.csv")
    # 2 ranked images, fewer than 3N = 3: top and bottom, no image in two groups
    assert ranking.groupby("group").size().to_dict() == {"bottom": 1, "top": 1}
    assert ranking["image"].is_unique


def test_real_salicon_examples_with_the_default_detector(tmp_path, salicon_examples):
    """The notebook's detector and settings on real SALICON images with real fixations."""
    write_config(tmp_path, {"dataset": {"kind": "folder", "name": "examples", "folder": {
        "images": str(salicon_examples / "images"),
        "fixations": str(salicon_examples / "fixations_train2014examples.json")}},
        "batch_size": 5}, replace_variants={"seed": {"crop_padding": False}})
    snakemake(tmp_path)
    table = pd.read_parquet(tmp_path / "results/examples/seed/metrics.parquet")
    assert len(table) == 10 and (table["status"] == "ok").all()
    assert table["map_source"].eq("fixations").all()
    assert table["cc_smooth"].between(-1, 1).all()
    assert table["explained_variance"].between(0, 1).all()
    truth = dict(__import__("numpy").load(
        tmp_path / "results/examples/ground_truth/COCO_train2014_000000123067.npz"))
    assert truth["map"].shape == (480, 640) and truth["map"].max() == 255


def salicon_config(workdir: Path, url_base: str, annotations: dict | None = None,
                   **overrides) -> None:
    """A `salicon` study of the fast variant, its archives at ``url_base``;
    ``annotations``: its `dataset.salicon.annotations` block (none by default)."""
    root = workdir / "resources/salicon"
    salicon = {"root": str(root), "split": "val", "archives": {
        "images": {"url": f"{url_base}/val.zip", "extract_to": "images"},
        "fixations": {"url": f"{url_base}/fixations_val2014.json",
                      "extract_to": "fixations/val"}}}
    if annotations is not None:
        salicon["annotations"] = annotations
    write_config(workdir, {"dataset": {"kind": "salicon", "name": "sal", "salicon": salicon},
                           **overrides},
                 replace_variants={"fast": FAST_VARIANT})


def test_salicon_offline_says_what_to_download_and_where(tmp_path):
    salicon_config(tmp_path, "http://127.0.0.1:9")
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in tmp_path.glob("logs/sal/download_*.log"))
    assert "http://127.0.0.1:9/val.zip" in logs
    assert str((tmp_path / "resources/salicon/archives/images").resolve()) in logs


def place_salicon_archives(workdir: Path, salicon_examples: Path, n: int = 3) -> list[Path]:
    """The images and fixations archives of a `salicon` study placed by hand (as an
    offline user would): the first ``n`` example images and their fixations."""
    archives = workdir / "resources/salicon/archives"
    archives.mkdir(parents=True)
    images = sorted((salicon_examples / "images").glob("*.jpg"))[:n]
    with zipfile.ZipFile(archives / "images", "w") as zf:
        for p in images:
            zf.write(p, f"val/{p.name}")
    shutil.copy(salicon_examples / "fixations_train2014examples.json", archives / "fixations")
    return images


def test_salicon_layout_from_hand_placed_archives(tmp_path, salicon_examples):
    """Archives placed by hand (as an offline user would) are extracted, then processed."""
    images = place_salicon_archives(tmp_path, salicon_examples)
    salicon_config(tmp_path, "http://127.0.0.1:9")
    snakemake(tmp_path)  # extracts
    assert (tmp_path / "resources/salicon/images/val" / images[0].name).is_file()
    snakemake(tmp_path)  # processes
    table = pd.read_parquet(tmp_path / "results/sal/fast/metrics.parquet")
    assert sorted(table["image"]) == [p.stem for p in images]
    assert (table["status"] == "ok").all() and (table["n_fixations"] > 100).all()


def test_forward_group_incremental_per_variant(tmp_path):
    """Two variants of one forward group: one CAM job per batch for both; a variant
    added to a finished study, or k of its CAM files deleted, costs forwards only
    for the images it lacks, and the other variant's records stay as they were."""
    aligned = {**FAST_VARIANT, "sign_policy": "mean_activation"}
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 4}}, "batch_size": 4},
                 replace_variants={"fast": FAST_VARIANT})
    snakemake(tmp_path)
    cams = tmp_path / "results/demo"
    tokens = {p.name: str(np.load(p)["token"]) for p in (cams / "fast/cam").iterdir()}

    write_config(tmp_path, {"dataset": {"demo": {"n_images": 4}}, "batch_size": 4},
                 replace_variants={"fast": FAST_VARIANT, "aligned": aligned})
    start = time.time()
    snakemake(tmp_path)
    assert forward_passes(tmp_path, start) == {"logs/demo/fast/cam/b0000.log": 4}
    assert "per variant: fast 0, aligned 4" in (tmp_path / "logs/demo/fast/cam/b0000.log"
                                                ).read_text()
    assert {p.name: str(np.load(p)["token"]) for p in (cams / "fast/cam").iterdir()} == tokens

    for stem in ("demo_001", "demo_003"):
        (cams / "aligned/cam" / f"{stem}.npz").unlink()
    start = time.time()
    snakemake(tmp_path)
    assert forward_passes(tmp_path, start) == {"logs/demo/fast/cam/b0000.log": 2}
    assert (cams / "aligned/metrics/demo_001.json").is_file()
