"""COCO instance annotations (quickgaze.categories): a small hand-made file in COCO's
format for the ten SALICON example images (their COCO ids), and metrics by cell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quickgaze.categories import (
    AnnotationError,
    image_objects,
    largest_share_cell,
    metric_by_category,
    object_count_cell,
)

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


@pytest.fixture
def instances(salicon_examples, tmp_path):
    """COCO-format instances for the example images: the first holds a cat (30% of the
    image) and a dog, the second 9 people and a crowd of people, the third nothing,
    the others one car of 1000 px each."""
    fix = json.loads((salicon_examples / "fixations_train2014examples.json").read_text())
    images = sorted(fix["images"], key=lambda img: img["file_name"])
    ids = [img["id"] for img in images]
    anns = [annotation(1, ids[0], 17, 0.3 * 480 * 640), annotation(2, ids[0], 18, 5000.0)]
    anns += [annotation(10 + k, ids[1], 1, 100.0 * (k + 1)) for k in range(9)]
    anns.append(annotation(30, ids[1], 1, 200000.0, crowd=1))
    anns += [annotation(40 + k, i, 3, 1000.0) for k, i in enumerate(ids[3:])]
    path = tmp_path / "instances_train2014.json"
    path.write_text(json.dumps({
        "info": {"description": "hand-made for quickgaze tests"}, "licenses": [],
        "images": [{k: img[k] for k in ("id", "file_name", "height", "width")}
                   for img in images],
        "annotations": anns, "categories": CATEGORIES}))
    return path, [Path(img["file_name"]).stem for img in images]


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
