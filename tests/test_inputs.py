"""Inputs read the way the user meant them (issue 14): EXIF orientation, declared
sizes, fixation conventions, file types, degenerate images, sizes, names, weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from quickgaze.io.images import image_shape, read_rgb
from quickgaze.io.records import load_npz
from quickgaze.pipeline.ground_truth import ground_truth_job
from quickgaze.saliency.fixations import FixationFormatError, detect_format, load_fixations

EXAMPLE_JSON = "fixations_train2014examples.json"


def first_example(examples: Path) -> Path:
    return min((examples / "images").glob("*.jpg"))


def one_image_json(examples: Path, stem: str, dest: Path, edit=None) -> Path:
    """The real fixation JSON cut down to image ``stem`` (its real annotations),
    optionally passed through ``edit(data)``."""
    data = json.loads((examples / EXAMPLE_JSON).read_text())
    img = next(i for i in data["images"] if Path(i["file_name"]).stem == stem)
    data["images"] = [img]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == img["id"]]
    if edit is not None:
        edit(data)
    dest.write_text(json.dumps(data))
    return dest


def rotated_with_exif(src: Path, dest: Path, orientation: int | None = 6) -> None:
    """``src`` stored turned by 90 degrees (so 640x480 for a 480x640 image), with
    the EXIF orientation tag that turns it back for display (None: no tag)."""
    with Image.open(src) as im:
        stored = im.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
        exif = Image.Exif()
        if orientation is not None:
            exif[0x0112] = orientation  # 6: rotate 90 degrees clockwise to display
        stored.save(dest, quality=95, exif=exif.tobytes())


def run_ground_truth(tmp_path: Path, images: dict[str, Path], source: Path,
                     fmt: str = "auto") -> dict[str, dict]:
    outputs = {i: tmp_path / "gt" / f"{i}.npz" for i in images}
    ground_truth_job(list(images), images, {}, source, fmt, outputs)
    return {i: load_npz(p) for i, p in outputs.items()}


# 1. EXIF orientation and declared sizes -------------------------------------------------

def test_exif_rotated_photo_is_read_as_displayed(salicon_examples, tmp_path):
    """A real SALICON image stored turned, with its orientation tag: read upright,
    and its real fixations all land as on the original."""
    src = first_example(salicon_examples)
    phone = tmp_path / f"{src.stem}.jpg"
    rotated_with_exif(src, phone)
    assert Image.open(phone).size == (480, 640)  # stored portrait (W, H)
    assert image_shape(phone) == (480, 640)
    upright, original = read_rgb(phone).astype(float), read_rgb(src).astype(float)
    assert upright.shape == original.shape
    assert np.abs(upright - original).mean() < 3.0  # JPEG re-encoding only

    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json")
    rotated = run_ground_truth(tmp_path / "r", {src.stem: phone}, source)[src.stem]
    plain = run_ground_truth(tmp_path / "p", {src.stem: src}, source)[src.stem]
    assert str(rotated["error"]) == ""
    assert tuple(rotated["shape"]) == (480, 640)
    assert int(rotated["n_dropped"]) == int(plain["n_dropped"])
    np.testing.assert_array_equal(rotated["points"], plain["points"])


def test_transposed_image_without_tag_is_an_error_saying_transposed(salicon_examples, tmp_path):
    src = first_example(salicon_examples)
    turned = tmp_path / f"{src.stem}.jpg"
    rotated_with_exif(src, turned, orientation=None)
    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json")
    rec = run_ground_truth(tmp_path, {src.stem: turned}, source)[src.stem]
    error = str(rec["error"])
    assert "640x480" in error and "declares 480x640" in error and "transposed" in error
    assert str(turned) in error


def test_orientation_tag_explains_mismatch(salicon_examples, tmp_path):
    """The fixations recorded on the stored pixels of a tagged photo: the error
    says the orientation tag is what turns it."""
    src = first_example(salicon_examples)
    tagged = tmp_path / f"{src.stem}.jpg"
    with Image.open(src) as im:
        exif = Image.Exif()
        exif[0x0112] = 8
        im.save(tagged, quality=95, exif=exif.tobytes())
    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json")
    rec = run_ground_truth(tmp_path, {src.stem: tagged}, source)[src.stem]
    assert "EXIF orientation tag (8)" in str(rec["error"])
    assert "declares 480x640" in str(rec["error"])


def test_other_size_mismatch_names_both_sizes_and_keeps_other_images(salicon_examples,
                                                                        tmp_path):
    srcs = sorted((salicon_examples / "images").glob("*.jpg"))[:2]
    small = tmp_path / f"{srcs[0].stem}.jpg"
    Image.open(srcs[0]).resize((500, 300)).save(small)

    def two(data):
        keep = {Path(s).stem for s in (srcs[0].name, srcs[1].name)}
        data["images"] = [i for i in json.loads((salicon_examples / EXAMPLE_JSON).read_text())
                          ["images"] if Path(i["file_name"]).stem in keep]
        ids = {i["id"] for i in data["images"]}
        data["annotations"] = [a for a in json.loads((salicon_examples / EXAMPLE_JSON)
                                                     .read_text())["annotations"]
                               if a["image_id"] in ids]

    source = one_image_json(salicon_examples, srcs[0].stem, tmp_path / "fix.json", two)
    recs = run_ground_truth(tmp_path, {srcs[0].stem: small, srcs[1].stem: srcs[1]}, source)
    error = str(recs[srcs[0].stem]["error"])
    assert "300x500" in error and "declares 480x640" in error
    assert str(recs[srcs[1].stem]["error"]) == ""
    assert len(recs[srcs[1].stem]["points"]) > 100


# 2. fixation_format: auto -----------------------------------------------------------------

def test_one_nan_does_not_switch_auto_to_xy_floats(salicon_examples, tmp_path):
    """A real [row, col] integer file with one NaN is still read as [row, col];
    the NaN is dropped and counted as non-finite, not as outside."""
    src = first_example(salicon_examples)

    def nan_one(data):
        data["annotations"][0]["fixations"][0] = [float("nan"), 5]

    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json", nan_one)
    clean = one_image_json(salicon_examples, src.stem, tmp_path / "clean.json")
    assert detect_format(source) == "salicon2015_json"
    rec = run_ground_truth(tmp_path / "n", {src.stem: src}, source)[src.stem]
    ref = run_ground_truth(tmp_path / "c", {src.stem: src}, clean)[src.stem]
    assert int(rec["n_nonfinite"]) == 1
    assert int(rec["n_dropped"]) == int(ref["n_dropped"])
    assert len(rec["points"]) == len(ref["points"]) - 1
    assert "1 non-finite fixations" in str(rec["warnings"])
    assert str(rec["warnings"]).count("outside") == str(ref["warnings"]).count("outside")


def test_nan_with_explicit_format_counted_as_nonfinite(salicon_examples, tmp_path):
    src = first_example(salicon_examples)

    def nan_two(data):
        data["annotations"][0]["fixations"][:2] = [[float("nan"), 5], [3, float("inf")]]

    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json", nan_two)
    rec = run_ground_truth(tmp_path, {src.stem: src}, source, "salicon2015_json")[src.stem]
    assert int(rec["n_nonfinite"]) == 2
    assert "2 non-finite" in str(rec["warnings"])


def test_auto_refuses_a_reading_that_does_not_fit_the_images(salicon_examples, tmp_path):
    """Real [row, col] fixations as floats: read as [x, y] a third of them fall
    off the image; auto stops and names the key instead of reading them."""
    src = first_example(salicon_examples)

    def as_floats(data):
        for a in data["annotations"]:
            a["fixations"] = [[r - 0.5, c - 0.5] for r, c in a["fixations"]]

    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json", as_floats)
    with pytest.raises(FixationFormatError, match="fixation_format"):
        load_fixations(source, "auto", [src.stem])


def test_empty_annotation_list_has_its_own_message(salicon_examples, tmp_path):
    src = first_example(salicon_examples)

    def empty(data):
        data["annotations"] = []

    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json", empty)
    with pytest.raises(FixationFormatError, match="no fixations to detect") as err:
        load_fixations(source, "auto", [src.stem])
    assert "ambiguous" not in str(err.value)


def test_empty_fixation_file_has_its_own_message(tmp_path):
    (tmp_path / "fix.json").write_text("")
    with pytest.raises(FixationFormatError, match=r"fix\.json: the fixation file is empty"):
        load_fixations(tmp_path / "fix.json", "salicon2015_json", ["a"])


# 3. image types and non-image files -------------------------------------------------------

@pytest.mark.parametrize("suffix", [".webp", ".bmp", ".tif", ".tiff", ".jpeg", ".png"])
def test_every_pillow_type_is_listed_and_read(salicon_examples, tmp_path, suffix):
    from quickgaze.data.layout import list_images

    src = first_example(salicon_examples)
    copy = tmp_path / f"{src.stem}{suffix.upper() if suffix == '.tif' else suffix}"
    Image.open(src).save(copy)
    found = list_images(tmp_path)
    assert found == {src.stem: copy}
    assert read_rgb(copy).shape == (480, 640, 3)


def test_non_image_files_named_once_in_a_warning(salicon_examples, tmp_path, caplog):
    from quickgaze.data import layout as datasets

    src = first_example(salicon_examples)
    Image.open(src).save(tmp_path / "a.webp")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "labels.csv").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")
    with caplog.at_level("WARNING", logger="quickgaze"):
        assert list(datasets.list_images(tmp_path)) == ["a"]
        datasets.list_images(tmp_path)  # listed again: not warned again
    warned = [r.getMessage() for r in caplog.records if "not read as images" in r.getMessage()]
    assert len(warned) == 1
    assert "labels.csv, notes.txt" in warned[0] and str(tmp_path) in warned[0]
    assert ".DS_Store" not in warned[0]


# 7. corrupt weights ---------------------------------------------------------------------

@pytest.mark.parametrize("content", ["garbage", "truncated", "whole_module"])
def test_corrupt_weights_never_suggest_unsafe_loading(tmp_path, content):
    import torch
    import torchvision

    from quickgaze.cam.models import WeightsUnavailableError, build_detector

    path = tmp_path / "detector.pth"
    if content == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif content == "truncated":
        torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
        path.write_bytes(path.read_bytes()[:100_000])
    else:
        torch.save(torchvision.models.mobilenet_v3_small(), path)
    with pytest.raises(WeightsUnavailableError) as err:
        build_detector("fasterrcnn_mobilenet_v3_large_320_fpn", str(path))
    message = str(err.value)
    assert "not a valid PyTorch checkpoint" in message and str(path) in message
    assert "weights_only=False" not in message
    assert err.value.__cause__ is None or "weights_only=False" not in str(err.value.__cause__)


# 6. names used in paths -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["..", ".", "a/b", "/tmp/x", ".hidden"])
def test_path_names_are_refused(name):
    from quickgaze.data.layout import check_path_names

    with pytest.raises(ValueError, match=r"dataset\.name") as err:
        check_path_names({"dataset.name": name, "variants.seed": "seed"})
    assert repr(name) in str(err.value) and "variants.seed" not in str(err.value)


@pytest.mark.parametrize("overrides", [
    {"dataset": {"name": ".."}},
    {"dataset": {"kind": "salicon", "name": "s", "salicon": {
        "root": "data", "split": "val", "archives": {"../../evil": {"url": "http://x/a.zip"}}}}},
    {"dataset": {"kind": "salicon", "name": "s", "salicon": {
        "root": "data", "split": "val", "archives": {"images": {
            "url": "http://x/a.zip", "extract_to": "../../outside"}}}}},
])
def test_dotdot_names_stop_the_workflow_before_writing(tmp_path, overrides):
    from conftest import snakemake, write_config

    work = tmp_path / "work"
    write_config(work, overrides)
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert ".." in output and ("name" in output or "extract_to" in output or "evil" in output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert not (work / "results").exists() and not (work / "resources").exists()


# 4. degenerate images ---------------------------------------------------------------------

def _stats_for(truths: dict[str, dict]):
    from quickgaze.saliency.fixation_stats import fixation_stats

    return fixation_stats({i: (t["points"].astype(np.int64), tuple(int(v) for v in t["shape"]))
                           for i, t in truths.items()},
                          [t["map"] for t in truths.values() if "map" in t], "fit",
                          n_others=10, seed=0)


def _cam(shape=(15, 20)) -> dict:
    rng = np.random.default_rng(0)
    return {"cam": rng.random(shape).astype(np.float32), "extent": np.array(shape, float),
            "explained_variance": 0.5, "sign_flipped": False, "error": "", "weights_label": "x"}


def test_tiny_image_few_fixations_and_constant_map_are_degenerate(salicon_examples, tmp_path):
    """A real image, an 8x8 copy of it, a copy with 3 of its fixations and one with
    an all-zero official map: each flagged with its reason; the real one not."""
    from quickgaze.io.images import write_map_png
    from quickgaze.pipeline.baseline_job import evaluate_baseline_image
    from quickgaze.pipeline.evaluate import evaluate_image

    src = first_example(salicon_examples)
    data = json.loads((salicon_examples / EXAMPLE_JSON).read_text())
    img = next(i for i in data["images"] if Path(i["file_name"]).stem == src.stem)
    anns = [a for a in data["annotations"] if a["image_id"] == img["id"]]
    images, annotations = [], []
    for k, name in enumerate(("real", "tiny", "few", "flat")):
        shape = (8, 8) if name == "tiny" else (480, 640)
        images.append({"id": k, "file_name": f"{name}.jpg", "height": shape[0],
                       "width": shape[1]})
        if name == "tiny":
            annotations.append({"id": len(annotations), "image_id": k,
                                "fixations": [[r, c] for r in range(1, 9) for c in (2, 6)]})
        elif name == "few":
            annotations.append({"id": len(annotations), "image_id": k,
                                "fixations": anns[0]["fixations"][:3]})
        else:
            annotations += [{**a, "id": len(annotations) + j, "image_id": k}
                            for j, a in enumerate(anns)]
    source = tmp_path / "fix.json"
    source.write_text(json.dumps({"images": images, "annotations": annotations}))
    paths = {n: tmp_path / f"{n}.jpg" for n in ("real", "tiny", "few", "flat")}
    for name, p in paths.items():
        Image.open(src).resize((8, 8) if name == "tiny" else (640, 480)).save(p)
    write_map_png(tmp_path / "flat.png", np.zeros((480, 640)))
    outputs = {i: tmp_path / "gt" / f"{i}.npz" for i in paths}
    ground_truth_job(list(paths), paths, {"flat": tmp_path / "flat.png"}, source, "auto",
                     outputs)
    truths = {i: load_npz(p) for i, p in outputs.items()}
    assert str(truths["real"]["degenerate"]) == ""
    assert "8x8" in str(truths["tiny"]["degenerate"])
    assert "3 fixations" in str(truths["few"]["degenerate"])
    assert "min_fixations (10)" in str(truths["few"]["degenerate"])
    assert "constant ground-truth map" in str(truths["flat"]["degenerate"])
    stats = _stats_for(truths)
    for name in paths:
        rec = evaluate_image(_cam(), truths[name], 19.0, stats, name, seed=0)
        assert rec["status"] == "ok"
        assert (rec["degenerate"] == "") == (name == "real"), (name, rec["degenerate"])
        assert rec["degenerate"] in rec["warnings"]
        base = evaluate_baseline_image("centre_bias", truths[name], 19.0, stats, name, seed=0)
        assert base["degenerate"] == rec["degenerate"]
    # min_fixations 0 turns the fixation count check off.
    ground_truth_job(["few"], paths, {}, source, "auto", outputs, min_fixations=0)
    assert str(load_npz(outputs["few"])["degenerate"]) == ""


def test_single_cell_cam_is_degenerate(salicon_examples, tmp_path):
    from quickgaze.pipeline.evaluate import evaluate_image

    src = first_example(salicon_examples)
    source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json")
    truth = run_ground_truth(tmp_path, {src.stem: src}, source)[src.stem]
    stats = _stats_for({src.stem: truth})
    one = evaluate_image(_cam((1, 1)), truth, 19.0, stats, src.stem, seed=0)
    assert "CAM of 1x1 cells" in one["degenerate"] and one["degenerate"] in one["warnings"]
    fine = evaluate_image(_cam(), truth, 19.0, stats, src.stem, seed=0)
    assert fine["degenerate"] == ""


def test_rankings_leave_degenerate_images_out_by_default():
    import pandas as pd

    from quickgaze.report.tables import deep_dive_table, ranking

    table = pd.DataFrame({"image": list("abcd"), "status": "ok", "weights_label": "",
                          "cc_smooth": [0.9, 0.5, 0.4, 0.0],
                          "degenerate": ["", "", "", "degenerate: constant ground-truth map"]})
    assert list(ranking(table, "cc_smooth", 1)["image"]) == ["a", "b", "c"]
    assert list(ranking(table, "cc_smooth", 1, exclude_degenerate=False)["image"]) == \
        ["a", "c", "d"]
    dive = deep_dive_table({"v": table}, "v", "cc_smooth", 1)
    assert list(dive["image"]) == ["c"]


# 5. size guard at input_scale: native -------------------------------------------------------

def test_native_size_guard_downscales_a_48_megapixel_image():
    from quickgaze.io.images import NATIVE_MAX_PIXELS, native_size_guard

    big = np.zeros((6000, 8000, 3), np.uint8)  # 48 megapixels, as the photo
    big[:, 4000:] = 200
    small, note = native_size_guard(big, "big.jpg", NATIVE_MAX_PIXELS)
    assert small.shape[0] * small.shape[1] <= NATIVE_MAX_PIXELS
    assert abs(small.shape[1] / small.shape[0] - 8000 / 6000) < 0.01
    assert "6000x8000" in note and f"{small.shape[0]}x{small.shape[1]}" in note
    same, none = native_size_guard(small, "small.jpg", NATIVE_MAX_PIXELS)
    assert same is small and none == ""
    with pytest.raises(Exception, match=r"big\.jpg: 6000x8000.*native_max_pixels"):
        native_size_guard(big, "big.jpg", NATIVE_MAX_PIXELS, "refuse")


@pytest.mark.slow
def test_cam_job_records_the_downscale_and_refuses_when_asked(salicon_examples, tmp_path):
    """A large generated copy of a real image at native scale: downscaled (and
    said so in the CAM record and the metrics record), or refused with a
    per-image error while the other image is kept."""
    from quickgaze.pipeline.cam_job import cam_fingerprint, cam_job
    from quickgaze.pipeline.evaluate import evaluate_image

    from conftest import FAST_VARIANT

    src = first_example(salicon_examples)
    big = tmp_path / "big.png"
    Image.open(src).resize((1600, 1200)).save(big)  # 1.92 megapixels
    images = {"big": big, "real": src}
    variant = {**FAST_VARIANT, "levels": "all", "grid": "coarsest", "sign_policy": "svd",
               "crop_padding": True, "native_max_pixels": 500_000}
    outputs = {i: tmp_path / "cam" / f"{i}.npz" for i in images}
    cam_job(list(images), images, {"v": outputs}, {"v": variant}, "cpu", 0, 1, loader_workers=0)
    rec, real = load_npz(outputs["big"]), load_npz(outputs["real"])
    assert str(rec["error"]) == "" and "1200x1600" in str(rec["warnings"])
    h, w = rec["image_shape"]
    assert h * w <= 500_000 and str(real["warnings"]) == ""
    assert cam_fingerprint("v", variant, 0) != cam_fingerprint(
        "v", {**variant, "native_max_pixels": None}, 0)

    truth_source = one_image_json(salicon_examples, src.stem, tmp_path / "fix.json")
    truth = run_ground_truth(tmp_path, {src.stem: src}, truth_source)[src.stem]
    scored = evaluate_image(rec, truth, 19.0, _stats_for({src.stem: truth}), "big", seed=0)
    assert scored["status"] == "ok" and "downscaled" in scored["warnings"]

    refused = {i: tmp_path / "refused" / f"{i}.npz" for i in images}
    cam_job(list(images), images, {"v": refused}, {"v": {**variant, "native_oversize": "refuse"}},
            "cpu", 0, 1, loader_workers=0)
    assert "native_max_pixels (500000)" in str(load_npz(refused["big"])["error"])
    assert str(load_npz(refused["real"])["error"]) == ""


@pytest.mark.slow
def test_eight_pixel_image_end_to_end_is_flagged_not_silently_ok(salicon_examples, tmp_path):
    """An 8x8 copy of a real image through the real CAM job (native scale) and
    the evaluation: scored, but degenerate for its size and its one-cell CAM."""
    from quickgaze.io.images import write_map_png
    from quickgaze.pipeline.cam_job import cam_job
    from quickgaze.pipeline.evaluate import evaluate_image

    from conftest import FAST_VARIANT

    src = first_example(salicon_examples)
    tiny = tmp_path / "tiny.png"
    Image.open(src).resize((8, 8)).save(tiny)
    m = np.zeros((8, 8))
    m[2:5, 3:6] = 1.0
    write_map_png(tmp_path / "tiny_map.png", m)
    variant = {**FAST_VARIANT, "levels": "all", "grid": "coarsest", "sign_policy": "svd",
               "crop_padding": True}
    cam_out = {"tiny": tmp_path / "cam" / "tiny.npz"}
    cam_job(["tiny"], {"tiny": tiny}, {"v": cam_out}, {"v": variant}, "cpu", 0, 1, loader_workers=0)
    cam = load_npz(cam_out["tiny"])
    assert str(cam["error"]) == "" and cam["cam"].size == 1
    gt_out = {"tiny": tmp_path / "gt" / "tiny.npz"}
    ground_truth_job(["tiny"], {"tiny": tiny}, {"tiny": tmp_path / "tiny_map.png"}, None,
                     "auto", gt_out)
    truth = load_npz(gt_out["tiny"])
    rec = evaluate_image(cam, truth, 2.0, _stats_for({"tiny": truth}), "tiny", seed=0)
    assert rec["status"] == "ok"
    assert "8x8" in rec["degenerate"] and "CAM of 1x1 cells" in rec["degenerate"]
