"""COCO instance annotations (quickgaze.report.categories): a small hand-made file in COCO's
format for the ten SALICON example images (their COCO ids), and metrics by cell; the
`categories` rule run by Snakemake on a folder study and on the salicon layout."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quickgaze.report.categories import (
    AnnotationError,
    image_objects,
    largest_share_cell,
    load_objects,
    metric_by_category,
    object_count_cell,
    table_objects,
)

from conftest import snakemake
from test_workflow import folder_study, place_salicon_archives, salicon_config

CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 17, "name": "cat", "supercategory": "animal"},
              {"id": 18, "name": "dog", "supercategory": "animal"},
              {"id": 3, "name": "car", "supercategory": "vehicle"}]


def annotation(ann_id, image_id, category, area, crowd=0):
    side = float(np.sqrt(area))
    return {"id": ann_id, "image_id": image_id, "category_id": category, "area": area,
            "bbox": [10.0, 20.0, side, side], "iscrowd": crowd,
            "segmentation": {"counts": [0], "size": [480, 640]} if crowd else [[10, 20, 30, 40,
                                                                                 50, 60]]}


def write_instances(salicon_examples: Path, path: Path) -> tuple[Path, list[str]]:
    """COCO-format instances for the example images at ``path``: the first holds a cat
    (30% of the image) and a dog, the second 9 people and a crowd of people, the third
    nothing, the others one car of 1000 px each. Returns the path and the image stems,
    sorted."""
    fix = json.loads((salicon_examples / "fixations_train2014examples.json").read_text())
    images = sorted(fix["images"], key=lambda img: img["file_name"])
    ids = [img["id"] for img in images]
    anns = [annotation(1, ids[0], 17, 0.3 * 480 * 640), annotation(2, ids[0], 18, 5000.0)]
    anns += [annotation(10 + k, ids[1], 1, 100.0 * (k + 1)) for k in range(9)]
    anns.append(annotation(30, ids[1], 1, 200000.0, crowd=1))
    anns += [annotation(40 + k, i, 3, 1000.0) for k, i in enumerate(ids[3:])]
    path.write_text(json.dumps({
        "info": {"description": "hand-made for quickgaze tests"}, "licenses": [],
        "images": [{k: img[k] for k in ("id", "file_name", "height", "width")}
                   for img in images],
        "annotations": anns, "categories": CATEGORIES}))
    return path, [Path(img["file_name"]).stem for img in images]


def instances_as_table(instances_json: Path, path: Path) -> Path:
    """The same objects as an object table (CSV or parquet by ``path``'s suffix): an
    ``area`` column for even annotation ids, only a ``box`` (whose ``w * h`` is the
    area) for odd ones, the crowd as ``iscrowd`` 1, and one row with an empty category
    for each image without objects."""
    data = json.loads(instances_json.read_text())
    cats = {c["id"]: c for c in data["categories"]}
    stems = {img["id"]: Path(img["file_name"]).stem for img in data["images"]}
    rows = [{"image": stems[a["image_id"]], "category": cats[a["category_id"]]["name"],
             "supercategory": cats[a["category_id"]]["supercategory"],
             "area": a["area"] if a["id"] % 2 == 0 else None,
             "box": json.dumps(a["bbox"]), "iscrowd": a["iscrowd"]}
            for a in data["annotations"]]
    for image in sorted(set(stems.values()) - {r["image"] for r in rows}):
        rows.append({"image": image, "category": "", "supercategory": "", "area": None,
                     "box": "", "iscrowd": 0})
    table = pd.DataFrame(rows)
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


@pytest.fixture
def instances(salicon_examples, tmp_path):
    return write_instances(salicon_examples, tmp_path / "instances_train2014.json")


def test_objects_per_image_from_coco_instances(instances):
    path, stems = instances
    objects = image_objects(path).set_index("image")
    assert list(objects.index) == stems
    first = objects.loc[stems[0]]
    assert (first["categories"], first["supercategories"]) == ("cat;dog", "animal")
    assert first["n_objects"] == 2 and first["largest_share"] == pytest.approx(0.3)
    crowd = objects.loc[stems[1]]  # the crowd names its category, is not an object
    assert crowd["n_objects"] == 9 and crowd["largest_share"] == pytest.approx(900 / 307200)
    empty = objects.loc[stems[2]]
    assert (empty["categories"], empty["n_objects"], empty["largest_share"]) == ("", 0, 0.0)
    assert (objects.loc[stems[3:], "supercategories"] == "vehicle").all()


def test_cells():
    assert [object_count_cell(n) for n in (0, 1, 2, 3, 4, 7, 8, 60)] == [
        "0", "1", "2-3", "2-3", "4-7", "4-7", "8+", "8+"]
    assert [largest_share_cell(s) for s in (0.0, 0.005, 0.01, 0.2, 0.3, 1.0)] == [
        "none", "<1%", "1-10%", "10-30%", ">=30%", ">=30%"]


def test_metric_by_category_cells_and_counts(instances):
    path, stems = instances
    objects = image_objects(path)
    values = np.arange(len(stems), dtype=float) / 10  # 0.0, 0.1, ..., 0.9
    table = pd.DataFrame({"image": stems, "status": "ok", "cc_smooth": values})
    table.loc[9, "status"] = "error"  # left out
    out = metric_by_category({"v": table}, objects, "cc_smooth", n_boot=200, seed=0)
    cell = out.set_index(["grouping", "cell"])
    assert cell.loc[("supercategory", "animal"), "n_images"] == 1
    assert cell.loc[("supercategory", "animal"), "mean"] == 0.0
    assert cell.loc[("supercategory", "person"), "mean"] == pytest.approx(0.1)
    vehicle = cell.loc[("supercategory", "vehicle")]
    assert vehicle["n_images"] == 6 and vehicle["mean"] == pytest.approx(np.mean(values[3:9]))
    assert vehicle["ci_low"] <= vehicle["mean"] <= vehicle["ci_high"]
    counts = out[out["grouping"] == "n_objects"]
    assert counts["cell"].tolist() == ["0", "1", "2-3", "8+"]  # COCO order, empty cells out
    assert counts["n_images"].tolist() == [1, 6, 1, 1]
    sizes = out[out["grouping"] == "largest_object"].set_index("cell")
    assert sizes["n_images"].to_dict() == {"none": 1, "<1%": 7, ">=30%": 1}


def test_a_file_that_is_not_coco_instances_is_named(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(AnnotationError, match=r"instances\.json: not a COCO instance-annotation"
                                              r" JSON .*KeyError: 'categories'"):
        image_objects(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_object_table_gives_what_the_coco_json_gives(instances, tmp_path, suffix):
    path, stems = instances
    table = instances_as_table(path, tmp_path / f"objects{suffix}")
    sizes = {s: (480, 640) for s in stems}
    from_json = image_objects(path)
    from_table = table_objects(table, {**sizes, "not_in_the_table": (10, 10)})
    pd.testing.assert_frame_equal(from_table, from_json, check_exact=False, rtol=1e-9)
    assert load_objects(table, lambda: sizes).equals(from_table)
    # only the images the table names: one without rows is in no cell
    dropped = pd.read_csv(table) if suffix == ".csv" else pd.read_parquet(table)
    dropped = dropped[dropped["image"] != stems[2]]
    dropped.to_csv(tmp_path / "fewer.csv", index=False)
    assert stems[2] not in set(table_objects(tmp_path / "fewer.csv", sizes)["image"])


def test_an_object_table_without_supercategory_uses_the_category(tmp_path):
    (tmp_path / "t.csv").write_text("image,category,area\na,cat,10\na,dog,30\nb,,\n")
    out = table_objects(tmp_path / "t.csv", {"a": (10, 10), "b": (10, 10)}).set_index("image")
    assert out.loc["a", "supercategories"] == "cat;dog"
    assert (out.loc["a", "n_objects"], out.loc["a", "largest_share"]) == (2, 0.3)
    assert (out.loc["b", "categories"], out.loc["b", "n_objects"]) == ("", 0)


@pytest.mark.parametrize(("text", "message"), [
    ("image,category\na,cat\n", r"t\.csv: object table lacks column\(s\) \['area or box'\]"),
    ("image,area\na,3\n", r"lacks column\(s\) \['category'\]"),
    ("image,category,area\na,cat,big\n", r"column 'area' row 0 is 'big', not a number"),
    ("image,category,box\na,cat,\"[1, 2, 3]\"\n", r"column 'box' row 0 is '\[1, 2, 3\]'"),
    ("image,category,area,box\na,cat,,\n", r"row 0 \(a, cat\) has neither an area nor a box"),
    ("image,category,area,iscrowd\na,cat,3,maybe\n", r"column 'iscrowd' row 0 is 'maybe'"),
])
def test_a_bad_object_table_names_file_column_and_row(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(AnnotationError, match=message):
        table_objects(tmp_path / "t.csv", {"a": (10, 10)})


def test_an_annotation_source_of_another_type_is_named(tmp_path):
    with pytest.raises(AnnotationError, match=r"objects\.txt: categories come from a COCO"):
        load_objects(tmp_path / "objects.txt", dict)


# Workflow runs: one fast variant, the baselines and the split-half ceiling only.
SMALL = {"ceiling": {"names": ["humans"], "repeats": 2}, "ranking": {"bootstrap": 200}}
GROUPINGS = ("supercategory", "n_objects", "largest_object")


def expected_cells(objects: pd.DataFrame, table: pd.DataFrame, grouping: str,
                   metric: str = "cc_smooth") -> dict[str, tuple[int, float]]:
    """Per cell of ``grouping``: the number of ``table``'s ok images in it and their mean
    ``metric``, computed here from the per-image table and the hand-made objects."""
    scores = table[table["status"] == "ok"].set_index("image")[metric].dropna()
    members: dict[str, list[float]] = {}
    for r in objects.itertuples(index=False):
        if r.image not in scores.index:
            continue
        cells = ([c for c in r.supercategories.split(";") if c] if grouping == "supercategory"
                 else [object_count_cell(r.n_objects)] if grouping == "n_objects"
                 else [largest_share_cell(r.largest_share)])
        for cell in cells:
            members.setdefault(cell, []).append(float(scores[r.image]))
    return {c: (len(v), float(np.mean(v))) for c, v in members.items()}


def check_category_outputs(out: Path, objects: pd.DataFrame, names: list[str]) -> None:
    """The tables in ``out`` (results/<dataset>) hold, for every name, the cells and
    counts of the hand-made annotations and the means of its own per-image table."""
    images = pd.read_csv(out / "comparison/categories_images.csv", keep_default_na=False)
    study = sorted(pd.read_parquet(out / names[0] / "metrics.parquet")["image"])
    assert images["image"].tolist() == study
    mine = objects.set_index("image").loc[study]
    assert images["categories"].tolist() == mine["categories"].tolist()
    assert images["n_objects"].tolist() == mine["n_objects"].tolist()
    assert np.allclose(images["largest_share"], mine["largest_share"])
    assert images["n_objects_cell"].tolist() == [object_count_cell(n) for n in mine["n_objects"]]
    for grouping in GROUPINGS:
        cells = pd.read_csv(out / f"comparison/categories_{grouping}.csv")
        assert set(cells["grouping"]) == {grouping} and set(cells["metric"]) == {"cc_smooth"}
        assert set(cells["name"]) == set(names)
        for name in names:
            table = pd.read_parquet(out / name / "metrics.parquet")
            mine = cells[cells["name"] == name].set_index("cell")
            want = expected_cells(objects, table, grouping)
            assert mine["n_images"].to_dict() == {c: n for c, (n, _) in want.items()}, name
            assert np.allclose(mine.loc[list(want), "mean"], [m for _, m in want.values()])
            assert (mine["ci_low"] <= mine["mean"] + 1e-12).all()
            assert (mine["mean"] <= mine["ci_high"] + 1e-12).all()
        assert (out / f"comparison/categories_{grouping}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_folder_study_categories_from_coco_json_then_from_a_csv_table(tmp_path,
                                                                      salicon_examples):
    images = sorted((salicon_examples / "images").glob("*.jpg"))
    work = tmp_path / "work"
    path, _ = write_instances(salicon_examples, tmp_path / "instances_train2014.json")
    folder_study(work, images, salicon_examples / "fixations_train2014examples.json",
                 figure_formats=["png", "svg"], **SMALL)
    config = work / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("    fixations: ", f"    categories: {path}\n    fixations: "))
    snakemake(work)
    out = work / "results/examples"
    names = ["fast", "centre_bias", "uniform", "humans"]
    objects = image_objects(path)
    check_category_outputs(out, objects, names)
    # The cells the hand-made file defines, whatever the scores: 10 images, all ok.
    counts = pd.read_csv(out / "comparison/categories_n_objects.csv")
    fast = counts[counts["name"] == "fast"]
    assert dict(zip(fast["cell"], fast["n_images"])) == {"0": 1, "1": 7, "2-3": 1, "8+": 1}
    supers = pd.read_csv(out / "comparison/categories_supercategory.csv")
    assert dict(zip(supers.loc[supers["name"] == "humans", "cell"],
                    supers.loc[supers["name"] == "humans", "n_images"])) == {
        "animal": 1, "person": 1, "vehicle": 7}
    assert set(supers["kind"]) == {"variant", "baseline", "ceiling"}
    assert (out / "comparison/categories_largest_object.svg").read_bytes().startswith(b"<?xml")
    page = (out / "comparison/methods.html").read_text()
    assert f"categories: from {path}" in page

    # The same objects as a CSV table: the same tables, and no CAM or evaluation again.
    table = instances_as_table(path, tmp_path / "objects.csv")
    config.write_text(config.read_text().replace(str(path), str(table)))
    before = (out / "fast/metrics.parquet").stat().st_mtime
    proc = snakemake(work)  # the new source reruns the categories rule (and methods)
    assert (out / "fast/metrics.parquet").stat().st_mtime == before
    assert "rule categories:" in proc.stderr and "rule cam_" not in proc.stderr
    check_category_outputs(out, objects, names)
    assert f"categories: from {table}" in (out / "comparison/methods.html").read_text()
    snakemake(work, "--report", "report.zip")
    with zipfile.ZipFile(work / "report.zip") as z:
        listed = {n.rsplit("/", 1)[-1] for n in z.namelist()}
        html = z.read("report/report.html").decode()
    assert "5. Categories" in html
    for grouping in GROUPINGS:
        assert {f"categories_{grouping}.csv", f"categories_{grouping}.png"} <= listed
    assert "categories_images.csv" in listed


@pytest.mark.slow
def test_salicon_annotations_offline_name_the_archive_then_hand_placed(tmp_path,
                                                                       salicon_examples):
    """Offline, the run keeps going and stops naming the annotation archive and where to
    place it; the archive placed by hand (checksum pinned) gives the category tables."""
    instances, _ = write_instances(salicon_examples, tmp_path / "instances_val2014.json")
    archive = tmp_path / "annotations_trainval2014.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(instances, "annotations/instances_val2014.json")
        zf.writestr("annotations/captions_val2014.json", "{}")
    work = tmp_path / "work"
    images = place_salicon_archives(work, salicon_examples)
    salicon_config(work, "http://127.0.0.1:9", annotations={
        "url": "http://127.0.0.1:9/annotations/annotations_trainval2014.zip",
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "member": "annotations/instances_val2014.json"}, **SMALL)
    place = (work / "resources/salicon/archives/annotations_trainval2014.zip").resolve()
    for run in ("extracts", "processes"):
        proc = snakemake(work, "--keep-going", check=False)
        assert proc.returncode != 0, run
        assert "http://127.0.0.1:9/annotations/annotations_trainval2014.zip" in proc.stderr
        assert f"place it at '{place}'" in proc.stderr, proc.stderr[-3000:]
        log = (work / "logs/sal/download_coco_annotations.log").read_text()
        assert f"place it at '{place}'" in log
    out = work / "results/sal"
    # the other outputs are kept: every table, the comparison, no category table
    assert sorted(pd.read_parquet(out / "fast/metrics.parquet")["image"]) == [
        p.stem for p in images]
    assert (out / "comparison/headline.md").is_file()
    assert not (out / "comparison/categories_images.csv").exists()

    place.write_bytes(archive.read_bytes())
    snakemake(work)
    member = work / "resources/salicon/annotations/instances_val2014.json"
    assert member.read_bytes() == instances.read_bytes()
    assert not (work / "resources/salicon/annotations/captions_val2014.json").exists()
    check_category_outputs(out, image_objects(instances),
                           ["fast", "centre_bias", "uniform", "humans"])
    counts = pd.read_csv(out / "comparison/categories_n_objects.csv")
    fast = counts[counts["name"] == "fast"]
    assert dict(zip(fast["cell"], fast["n_images"])) == {"0": 1, "2-3": 1, "8+": 1}
