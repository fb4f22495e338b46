"""Fixation formats: SALICON 2015 JSON, SALICON 2017 .mat, older [x, y] float JSON."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.io import savemat

from quickgaze.io.files import read_json, write_json
from quickgaze.io.records import load_npz
from quickgaze.pipeline.baseline_job import evaluate_baseline_image
from quickgaze.pipeline.ground_truth import ground_truth_job
from quickgaze.saliency.fixations import (
    FixationFormatError,
    detect_format,
    load_fixations,
    load_salicon2017_mat,
    valid_points,
)

EXAMPLE_JSON = "fixations_train2014examples.json"


def write_salicon2017_mat(path: Path, observers: list[np.ndarray]) -> None:
    """A .mat shaped like SALICON 2017's: ``image``, ``resolution`` and a ``gaze``
    struct array (one element per observer) with ``location``, ``timestamp`` and
    ``fixations`` ([x, y], 1-based), as MATLAB saves a 1xN struct array."""
    dtype = [("location", object), ("timestamp", object), ("fixations", object)]
    gaze = np.zeros((len(observers), 1), dtype=dtype)
    rng = np.random.default_rng(0)
    for k, fix in enumerate(observers):
        gaze[k, 0]["location"] = rng.uniform(1, 480, size=(50, 2))  # raw mouse samples
        gaze[k, 0]["timestamp"] = np.arange(50, dtype=np.uint32)[:, None] * 8
        gaze[k, 0]["fixations"] = np.asarray(fix, dtype=np.float64)
    savemat(path, {"image": path.stem, "resolution": np.array([[480, 640]]), "gaze": gaze})


def coco_json(path: Path, images: dict[str, tuple[int, int]], fixations: dict[str, list]) -> Path:
    imgs = [{"id": k, "file_name": f"{name}.jpg", "height": h, "width": w}
            for k, (name, (h, w)) in enumerate(images.items())]
    ids = {name: k for k, name in enumerate(images)}
    anns = [{"id": n, "image_id": ids[name], "worker_id": n, "fixations": pts}
            for n, (name, pts) in enumerate(fixations.items())]
    path.write_text(json.dumps({"images": imgs, "annotations": anns}))
    return path


def test_salicon2015_json_real_examples(salicon_examples):
    source = salicon_examples / EXAMPLE_JSON
    data = json.loads(source.read_text())
    first = data["annotations"][0]
    image = next(i for i in data["images"] if i["id"] == first["image_id"])
    stem = Path(image["file_name"]).stem
    n_points = sum(len(a["fixations"]) for a in data["annotations"]
                   if a["image_id"] == first["image_id"])

    assert detect_format(source) == "salicon2015_json"
    points = load_fixations(source, "auto", [stem, "not_in_file"])
    assert list(points) == [stem]
    assert points[stem].shape == (n_points, 2)
    row, col = first["fixations"][0]  # [row, col], 1-based
    assert tuple(points[stem][0]) == (row - 1, col - 1)
    kept, dropped = valid_points(points[stem], (image["height"], image["width"]))
    assert dropped == 0 and len(kept) == n_points  # this release stays inside 480x640


def test_salicon2017_mat_pools_observers_and_converts_xy(tmp_path):
    obs1 = [[10, 20], [640, 480]]  # [x, y], 1-based: the bottom-right pixel
    obs2 = [[1, 1]]
    path = tmp_path / "COCO_val2014_000000000001.mat"
    write_salicon2017_mat(path, [np.array(obs1), np.array(obs2)])
    pts = load_salicon2017_mat(path)
    np.testing.assert_array_equal(pts, [[19, 9], [479, 639], [0, 0]])  # 0-based (row, col)


def test_salicon2017_mat_directory_auto(tmp_path):
    fix_dir = tmp_path / "fixations"
    fix_dir.mkdir()
    write_salicon2017_mat(fix_dir / "a.mat", [np.array([[5, 7]])])
    write_salicon2017_mat(fix_dir / "b.mat", [np.array([[641, 3]]), np.zeros((0, 2))])
    assert detect_format(fix_dir) == "salicon2017_mat"
    points = load_fixations(fix_dir, "auto", ["a", "b", "missing"])
    assert set(points) == {"a", "b"}
    np.testing.assert_array_equal(points["a"], [[6, 4]])
    kept, dropped = valid_points(points["b"], (480, 640))  # x = 641 is off the image
    assert len(kept) == 0 and dropped == 1


def test_mat_without_gaze_names_the_file(tmp_path):
    bad = tmp_path / "x.mat"
    savemat(bad, {"something": np.ones(3)})
    with pytest.raises(FixationFormatError, match=r"x\.mat.*'gaze'"):
        load_salicon2017_mat(bad)


def test_old_xy_float_json_detected_and_out_of_image_dropped(tmp_path):
    source = coco_json(tmp_path / "old.json", {"img": (480, 640)},
                       {"img": [[10.4, 20.6], [-0.7, 5.0], [639.2, 479.4], [640.6, 10.0]]})
    assert detect_format(source) == "json_xy_float"
    pts = load_fixations(source, "auto", ["img"])["img"]
    np.testing.assert_allclose(pts[0], [20.6, 10.4])  # (row, col) from [x, y]
    kept, dropped = valid_points(pts, (480, 640))
    np.testing.assert_array_equal(kept, [[21, 10], [479, 639]])
    assert dropped == 2


def test_square_integer_json_is_ambiguous(tmp_path):
    source = coco_json(tmp_path / "sq.json", {"img": (100, 100)}, {"img": [[3, 90], [50, 4]]})
    with pytest.raises(FixationFormatError, match="ambiguous.*fixation_format"):
        load_fixations(source, "auto", ["img"])
    # An explicit format reads it.
    assert load_fixations(source, "salicon2015_json", ["img"])["img"].shape == (2, 2)


def test_unknown_format_rejected(tmp_path):
    with pytest.raises(ValueError, match="fixation_format 'salicon2099'"):
        load_fixations(tmp_path, "salicon2099", [])


def test_no_valid_fixation_gives_null_fixation_metrics(tmp_path):
    """An image whose fixations all fall off the image keeps its official map:
    distribution metrics are computed, fixation metrics are null in the JSON."""
    for name in ("good", "offside"):
        iio.imwrite(tmp_path / f"{name}.png", np.zeros((48, 64, 3), np.uint8))
        m = np.zeros((48, 64), np.uint8)
        m[20:30, 30:40] = 255
        iio.imwrite(tmp_path / f"{name}_map.png", m)
    source = coco_json(tmp_path / "fix.json", {"good": (48, 64), "offside": (48, 64)},
                       {"good": [[30.2, 22.7], [-3.5, 2.0]], "offside": [[70.5, 10.1]]})
    outputs = {i: tmp_path / "gt" / f"{i}.npz" for i in ("good", "offside")}
    ground_truth_job(["good", "offside"], {i: tmp_path / f"{i}.png" for i in outputs},
                     {i: tmp_path / f"{i}_map.png" for i in outputs}, source, "json_xy_float",
                     outputs)
    good, offside = load_npz(outputs["good"]), load_npz(outputs["offside"])
    assert int(good["n_dropped"]) == 1 and len(good["points"]) == 1
    assert "1 fixations outside" in str(good["warnings"])
    assert len(offside["points"]) == 0 and int(offside["n_dropped"]) == 1
    assert "fixation metrics not available" in str(offside["warnings"])

    from quickgaze.saliency.fixation_stats import fixation_stats

    stats = fixation_stats({"good": (good["points"], (48, 64)), "offside": (offside["points"],
                                                                          (48, 64))},
                           None, "fit", n_others=10, seed=0)
    record = evaluate_baseline_image("centre_bias", offside, 2.0, stats, "offside", seed=0)
    record.pop("smooth")
    write_json(tmp_path / "m.json", record)
    back = read_json(tmp_path / "m.json")
    assert back["status"] == "ok"
    assert back["nss_raw"] is None and back["auc_judd_smooth"] is None
    assert back["sauc_raw"] is None and back["info_gain_raw"] is None
    assert back["cc_raw"] is not None and back["kld_raw"] is not None
