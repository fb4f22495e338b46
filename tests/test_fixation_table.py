"""Fixation format ``table`` (CSV or parquet: image, x, y, observer, time): the real
SALICON examples through JSON -> table -> the same ground truth, and bad tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quickgaze.data.layout import list_images
from quickgaze.io.records import load_npz
from quickgaze.pipeline.ground_truth import ground_truth_job
from quickgaze.saliency.fixations import FixationFormatError, detect_format, load_fixation_records

EXAMPLE_JSON = "fixations_train2014examples.json"
# What a record holds besides its provenance (fingerprint, input tokens, content token).
PROVENANCE = {"fingerprint", "input_tokens", "token"}


def salicon_as_table(json_path: Path) -> pd.DataFrame:
    """One row per fixation of a SALICON 2015 JSON ([row, col], 1-based) as the table
    format reads it: x = col - 1, y = row - 1 (0-based), the worker as observer."""
    data = json.loads(json_path.read_text())
    stems = {img["id"]: Path(img["file_name"]).stem for img in data["images"]}
    rows = [{"image": stems[a["image_id"]], "x": col - 1, "y": row - 1,
             "observer": str(a["worker_id"]), "time": k}
            for a in data["annotations"] for k, (row, col) in enumerate(a["fixations"])]
    return pd.DataFrame(rows)


def truths(examples: Path, fixations: Path, fmt: str, out: Path) -> dict[str, dict]:
    images = list_images(examples / "images")
    ids = sorted(images)
    paths = {i: out / f"{i}.npz" for i in ids}
    ground_truth_job(ids, images, {}, fixations, fmt, paths)
    return {i: load_npz(p) for i, p in paths.items()}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_salicon_json_to_table_gives_the_same_ground_truth(salicon_examples, tmp_path, suffix):
    table = salicon_as_table(salicon_examples / EXAMPLE_JSON)
    path = tmp_path / f"fixations{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    from_json = truths(salicon_examples, salicon_examples / EXAMPLE_JSON, "salicon2015_json",
                       tmp_path / "json")
    for fmt in ("table", "auto"):
        from_table = truths(salicon_examples, path, fmt, tmp_path / fmt)
        assert from_table.keys() == from_json.keys()
        for i, expected in from_json.items():
            got = from_table[i]
            assert set(got) == set(expected)
            assert bool(got["observers_known"]) and len(set(got["observers"])) >= 55
            for key in set(expected) - PROVENANCE:
                np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{i} {key}")
    assert detect_format(path) == "table"


def test_a_table_without_observer_column_has_no_observers(tmp_path):
    path = tmp_path / "f.csv"
    pd.DataFrame({"image": ["a", "a", "b"], "x": [1.5, 2, 3], "y": [4, 5, float("nan")]}
                 ).to_csv(path, index=False)
    points, observers, declared = load_fixation_records(path, "table", ["a", "b", "c"])
    np.testing.assert_array_equal(points["a"], [[4, 1.5], [5, 2]])  # (row, col) = (y, x)
    assert np.isnan(points["b"][0, 0]) and points["b"][0, 1] == 3  # kept: dropped later
    assert observers == {"a": None, "b": None} and declared == {}


def test_observer_ids_stay_strings(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("image,x,y,observer\nim1,1,2,007\nim1,3,4,NA\n")
    _, observers, _ = load_fixation_records(path, "table", ["im1"])
    assert observers["im1"].tolist() == ["007", "NA"]


@pytest.mark.parametrize("text, message", [
    ("image,x,observer\na,1,w\n", r"f\.csv: fixation table lacks column\(s\) \['y'\]"),
    ("image,x,y\na,1,2\na,left,3\n", r"f\.csv: column 'x' row 1 is 'left', not a number"),
    ("image,x,y,observer\na,1,2,w1\na,3,4,\n", r"f\.csv: column 'observer' row 1 is empty"),
])
def test_bad_tables_are_named(tmp_path, text, message):
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(FixationFormatError, match=message):
        load_fixation_records(path, "table", ["a"])


def test_a_table_of_another_type_is_refused(tmp_path):
    path = tmp_path / "f.tsv"
    path.write_text("image\tx\ty\n")
    with pytest.raises(FixationFormatError, match=r"f\.tsv: a fixation table must be \.csv or "
                                                  r"\.parquet, not '\.tsv'"):
        load_fixation_records(path, "table", ["a"])
