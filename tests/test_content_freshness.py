"""Content, not dates, decides (issue 29): a source whose bytes changed under an old
date (``cp -p``, ``rsync -a``, ``tar`` keep the old modification time) is recomputed
by the next plain run, which then equals a clean run file by file; and damaged
records heal: a per-image record or map that cannot be read (truncated, as a crash
mid-copy leaves it) is recomputed by the next plain run, its producing batch job
scheduled again, and whoever reads one before that names the file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from quickgaze.io.files import DamagedFileError, read_json
from quickgaze.io.images import ImageReadError, read_map
from quickgaze.io.records import load_npz

from conftest import FAST_VARIANT, snakemake, write_config

pytestmark = pytest.mark.slow

N_IMAGES = 2
PER_IMAGE_DIRS = ("ground_truth", "fast/cam", "fast/smooth", "fast/metrics",
                  "centre_bias/metrics", "uniform/metrics")


def study(work: Path, variant: dict | None = None) -> None:
    write_config(work, {"dataset": {"demo": {"n_images": N_IMAGES}}, "batch_size": N_IMAGES,
                        "forward_batch": 1, "ceiling": {"names": []},
                        "ranking": {"n": 1, "bootstrap": 200}},
                 replace_variants={"fast": variant or FAST_VARIANT})


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


def cp_p(source: Path, target: Path) -> None:
    """``cp -p``: the bytes of ``source`` over ``target``, with ``source``'s old date."""
    subprocess.run(["cp", "-p", str(source), str(target)], check=True)


def test_an_image_replaced_by_another_under_an_old_date_reruns_as_a_clean_run(tmp_path):
    work, clean = tmp_path / "work", tmp_path / "clean"
    study(work)
    snakemake(work)
    before = per_image_files(work)
    first, second = sorted((work / "resources/demo/images").iterdir())
    cp_p(second, first)  # the other image's bytes, with a date older than every result
    assert first.stat().st_mtime < (work / "results/demo/fast/cam/demo_000.npz").stat().st_mtime
    snakemake(work)  # the next plain run
    after = per_image_files(work)

    # The clean run: the same dataset, the image replaced before anything is computed.
    study(clean)
    snakemake(clean, "demo_dataset")
    images = sorted((clean / "resources/demo/images").iterdir())
    cp_p(images[1], images[0])
    snakemake(clean)
    expected = per_image_files(clean)
    assert "fast/cam/demo_000.npz" in differing(before, expected)  # the test has teeth
    assert differing(after, expected) == []
    dry = snakemake(work, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr  # and it settles


def test_an_earlier_weights_file_put_back_under_its_old_date_reruns_as_a_clean_run(tmp_path):
    import torch

    from quickgaze.cam.models import build_detector

    weights, earlier = tmp_path / "detector.pth", tmp_path / "earlier.pth"

    def save(seed: int) -> None:
        torch.save(build_detector(FAST_VARIANT["model"], "none", seed).state_dict(), weights)

    work, clean = tmp_path / "work", tmp_path / "clean"
    variant = {**FAST_VARIANT, "weights": str(weights)}
    save(1)
    cp_p(weights, earlier)  # kept aside, as a user keeps an earlier checkpoint
    study(work, variant)
    snakemake(work)
    expected_cams = {k: v for k, v in per_image_files(work).items() if "cam" in k}
    save(2)  # new weights, new date: rerun by date as before
    snakemake(work)
    other = per_image_files(work)
    cp_p(earlier, weights)  # the earlier weights back, with their old date
    snakemake(work)  # the next plain run
    after = per_image_files(work)

    study(clean, variant)  # a clean run with the earlier weights
    snakemake(clean)
    expected = per_image_files(clean)
    assert {k: v for k, v in expected.items() if "cam" in k} == expected_cams
    assert "fast/cam/demo_000.npz" in differing(other, expected)  # the test has teeth
    assert differing(after, expected) == []
    dry = snakemake(work, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr


# The damaged file, its producer's log and the count that log must give, the reader.
CASES = {
    "cam": ("fast/cam/demo_000.npz", "fast/cam/b0000.log", "CAM forward: computed 1 images",
            load_npz, DamagedFileError),
    "metrics": ("fast/metrics/demo_000.json", "fast/evaluate/b0000.log",
                "evaluate: computed 1 images", read_json, DamagedFileError),
    "ground_truth": ("ground_truth/demo_000.npz", "ground_truth/b0000.log",
                     "ground truth: computed 1 images", load_npz, DamagedFileError),
    "smooth": ("fast/smooth/demo_000.png", "fast/evaluate/b0000.log",
               "evaluate: computed 1 images", read_map, ImageReadError),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    """One clean run of a 2-image demo study and its per-image files. Each test
    damages one file and its rerun must give back exactly these."""
    work = tmp_path_factory.mktemp("damaged")
    study(work)
    snakemake(work)
    return work, per_image_files(work)


@pytest.mark.parametrize("case", list(CASES))
def test_a_truncated_record_is_recomputed_by_the_next_plain_run(finished, case):
    work, expected = finished
    name, log, count, read, error = CASES[case]
    damaged = work / "results/demo" / name
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 2)
    with pytest.raises(error) as raised:  # a reader meets it (named: checked last)
        read(damaged)

    proc = snakemake(work, check=False)  # the next plain run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert count in (work / "logs/demo" / log).read_text()  # its producer ran, for it only
    assert "files changed after their batch job last succeeded" in proc.stderr
    assert per_image_files(work) == expected
    dry = snakemake(work, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert str(damaged) in str(raised.value), raised.value
