"""One bad file never stops the others (issue 29, item 4): a broken symbolic link
in the images folder, an image dated in the future, a fixation JSON with two
entries of one image; and the error of an annotation of an unknown image (item 6)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quickgaze.data.layout import list_images, not_workflow_inputs
from quickgaze.io.images import ImageReadError, image_shape, read_rgb
from quickgaze.saliency.fixations import FixationFormatError, load_fixation_records

from conftest import FAST_VARIANT, snakemake, write_config

EXAMPLE_JSON = "fixations_train2014examples.json"
DAY = 86400.0


def real_images(examples: Path, folder: Path, n: int) -> list[str]:
    """Copies of the first ``n`` real SALICON examples in ``folder``; their stems."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = []
    for src in sorted((examples / "images").glob("*.jpg"))[:n]:
        shutil.copyfile(src, folder / src.name)
        stems.append(src.stem)
    return stems


def broken_links(folder: Path) -> None:
    os.symlink(folder / "gone.jpg", folder / "dangling.jpg")
    os.symlink("loop.jpg", folder / "loop.jpg")  # points at itself


def test_broken_links_and_future_dates_are_named_and_nothing_else(tmp_path, salicon_examples,
                                                                  caplog):
    stems = real_images(salicon_examples, tmp_path, 2)
    broken_links(tmp_path)
    future = tmp_path / f"{stems[1]}.jpg"
    now = time.time()
    os.utime(future, (now + DAY, now + DAY))
    files = {**list_images(tmp_path), "made_by_a_rule": tmp_path / "absent.png"}
    assert sorted(files) == sorted([*stems, "dangling", "loop", "made_by_a_rule"])
    with caplog.at_level(logging.WARNING, logger="quickgaze"):
        why = not_workflow_inputs(files, now=now)
    assert sorted(why) == sorted(["dangling", "loop", stems[1]])
    assert why["dangling"].startswith(f"a dangling symbolic link (its target '{tmp_path}/gone.jpg'"
                                      f" does not exist): its image gets an error record")
    assert why["loop"].startswith("a symbolic link loop (-> 'loop.jpg')")
    assert why[stems[1]].startswith("dated in the future (")
    assert f"`touch {future}` fixes the date" in why[stems[1]]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("3 image file(s) that Snakemake cannot take as inputs: ")
    for name in ("dangling.jpg", "loop.jpg", future.name):
        assert name in warning
    assert not_workflow_inputs({stems[0]: files[stems[0]]}, now=now) == {}


def test_reading_a_broken_link_names_the_file_and_the_link(tmp_path):
    broken_links(tmp_path)
    for read in (read_rgb, image_shape):
        with pytest.raises(ImageReadError, match=f"^{tmp_path}/dangling.jpg: cannot .*: a "
                                                 "dangling symbolic link"):
            read(tmp_path / "dangling.jpg")
        with pytest.raises(ImageReadError, match=f"^{tmp_path}/loop.jpg: cannot .*: a "
                                                 "symbolic link loop"):
            read(tmp_path / "loop.jpg")


def folder_study(workdir: Path, examples: Path, name: str) -> list[str]:
    """A folder study of real SALICON images with their real fixations, the fast
    variant, no ceilings; returns the targets (the variant's metrics table and errors)."""
    write_config(workdir, {"dataset": {"kind": "folder", "name": name, "folder": {
        "images": str(workdir / "images"), "fixations": str(examples / EXAMPLE_JSON)}},
        "ceiling": {"names": []}, "ranking": {"n": 1, "bootstrap": 200}},
        replace_variants={"fast": FAST_VARIANT})
    return [f"results/{name}/fast/metrics.parquet", f"results/{name}/fast/errors.csv"]


@pytest.mark.slow
def test_a_broken_link_in_the_images_folder_is_that_images_error(tmp_path, salicon_examples):
    """Before: MissingInputException at DAG build, no image processed."""
    stems = real_images(salicon_examples, tmp_path / "images", 2)
    broken_links(tmp_path / "images")
    targets = folder_study(tmp_path, salicon_examples, "links")
    proc = snakemake(tmp_path, *targets)
    assert "2 image file(s) that Snakemake cannot take as inputs" in proc.stderr
    table = pd.read_parquet(tmp_path / targets[0]).set_index("image")
    assert sorted(table.index) == sorted([*stems, "dangling", "loop"])
    for stem in stems:
        assert table.loc[stem, "status"] == "ok", table.loc[stem, "error"]
    errors = pd.read_csv(tmp_path / targets[1]).set_index("image")["error"]
    assert sorted(errors.index) == ["dangling", "loop"]
    assert f"{tmp_path}/images/dangling.jpg: cannot" in errors["dangling"]
    assert "a dangling symbolic link" in errors["dangling"]
    assert "a symbolic link loop" in errors["loop"]


@pytest.mark.slow
def test_an_image_dated_in_the_future_is_processed_and_named(tmp_path, salicon_examples):
    """Before: every job reading it failed Snakemake's clock-skew check (outputs older
    than an input), so the study never finished."""
    stems = real_images(salicon_examples, tmp_path / "images", 2)
    future = tmp_path / "images" / f"{stems[1]}.jpg"
    later = time.time() + 30 * DAY
    os.utime(future, (later, later))
    targets = folder_study(tmp_path, salicon_examples, "future")
    proc = snakemake(tmp_path, *targets)
    assert f"{future}: dated in the future (" in proc.stderr
    table = pd.read_parquet(tmp_path / targets[0]).set_index("image")
    assert sorted(table.index) == sorted(stems)
    assert (table["status"] == "ok").all(), table["error"].tolist()
    again = snakemake(tmp_path, *targets)  # the future date reruns nothing
    assert "Nothing to be done" in again.stdout + again.stderr


# A fixation JSON (SALICON 2015 format) with duplicate or dangling entries ----------------

def split_json(examples: Path, dest: Path, edit=None) -> tuple[str, int, int]:
    """The real fixation JSON cut to its first image, whose annotations are split
    between two ``images`` entries of the same ``file_name`` (ids 1 and 2), passed
    through ``edit(data)``; returns the stem and the image's fixations and observers."""
    data = json.loads((examples / EXAMPLE_JSON).read_text())
    img = data["images"][0]
    anns = [a for a in data["annotations"] if a["image_id"] == img["id"]]
    data["images"] = [{**img, "id": 1}, {**img, "id": 2}]
    half = len(anns) // 2
    data["annotations"] = ([{**a, "image_id": 1} for a in anns[:half]]
                           + [{**a, "image_id": 2} for a in anns[half:]])
    if edit is not None:
        edit(data)
    dest.write_text(json.dumps(data))
    n_points = sum(len(a["fixations"]) for a in anns)
    return Path(img["file_name"]).stem, n_points, len({a["worker_id"] for a in anns})


def test_two_images_entries_of_one_file_are_merged_with_a_warning(salicon_examples, tmp_path,
                                                                  caplog):
    """Before: the second entry replaced the first, whose fixations were lost silently."""
    source = tmp_path / "split.json"
    stem, n_points, n_observers = split_json(salicon_examples, source)
    with caplog.at_level(logging.WARNING, logger="quickgaze"):
        points, observers, declared = load_fixation_records(source, "salicon2015_json", [stem])
    assert points[stem].shape == (n_points, 2)
    assert len(observers[stem]) == n_points and len(set(observers[stem])) == n_observers
    whole = tmp_path / "whole.json"
    data = json.loads(source.read_text())
    data["images"] = data["images"][:1]
    data["annotations"] = [{**a, "image_id": 1} for a in data["annotations"]]
    whole.write_text(json.dumps(data))
    np.testing.assert_array_equal(points[stem],
                                  load_fixation_records(whole, "salicon2015_json", [stem])[0][stem])
    assert declared[stem] == (480, 640)
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{source}: 2 entries of 'images' for '{stem}' (ids 1, 2, with ")
    assert warning.endswith("fixation rows): their fixations are merged")


def test_two_images_entries_of_one_file_with_different_sizes_name_both(salicon_examples,
                                                                       tmp_path):
    def other_size(data):
        data["images"][1]["height"] = 240

    source = tmp_path / "split.json"
    stem, _, _ = split_json(salicon_examples, source, other_size)
    with pytest.raises(FixationFormatError) as err:
        load_fixation_records(source, "salicon2015_json", [stem])
    assert str(err.value) == (f"{source}: entries of 'images' for '{stem}' declare different "
                              f"sizes (HxW): id 1 480x640, id 2 240x640")


def test_an_annotation_of_an_unknown_image_id_names_the_file_and_the_id(salicon_examples,
                                                                        tmp_path):
    """Before: `... (KeyError: 999999)`."""
    def stray(data):
        data["annotations"].append({**data["annotations"][0], "id": 7, "image_id": 999999})

    source = tmp_path / "stray.json"
    stem, _, _ = split_json(salicon_examples, source, stray)
    n = len(json.loads(source.read_text())["annotations"]) - 1
    with pytest.raises(FixationFormatError) as err:
        load_fixation_records(source, "salicon2015_json", [stem])
    assert str(err.value) == (f"{source}: annotation {n} (id 7) has image_id 999999, which no "
                              f"entry of 'images' has")
