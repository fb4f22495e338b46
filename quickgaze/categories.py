"""What is in each image (COCO instance annotations), and metrics by category.

SALICON's images are COCO's, so COCO's instance annotations say what each
image holds. Per image (:func:`image_objects`): the categories and
supercategories present, the number of objects and the area share of the
largest object; then every scored name's metric by supercategory, by object
count and by the largest object's size (:func:`metric_by_category`), a mean
with its bootstrap CI and the number of images per cell.

COCO's format (``instances_<split>2014.json``): ``images`` (``id``,
``file_name``, ``height``, ``width``), ``annotations`` (``image_id``,
``category_id``, ``area`` in pixels, ``bbox`` ``[x, y, w, h]``,
``iscrowd``), ``categories`` (``id``, ``name``, ``supercategory``).

Choices: an object's area is its annotation's ``area`` (the segmentation's
pixels, as COCO defines it), the share is of ``height * width``; a crowd
annotation (``iscrowd: 1``: many objects in one mask) names its category but
is not counted as an object nor as the largest one; an image with no
annotation has no category, 0 objects and a largest share of 0.

Not yet wired into the workflow (issue 16, item 3): the download rule and the
tables and plots per study are still to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from quickgaze import stats

#: Object-count cells: (label, lowest count, highest count).
OBJECT_COUNT_BINS = (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3), ("4-7", 4, 7), ("8+", 8, None))
#: Largest-object cells by its share of the image: (label, low <= share < high).
LARGEST_SHARE_BINS = (("none", 0.0, 1e-12), ("<1%", 1e-12, 0.01), ("1-10%", 0.01, 0.10),
                      ("10-30%", 0.10, 0.30), (">=30%", 0.30, np.inf))


class AnnotationError(ValueError):
    """An instance-annotation file that does not match COCO's format; names the file."""


def image_objects(path: str | os.PathLike) -> pd.DataFrame:
    """Per image of a COCO instance-annotation JSON, one row: ``image`` (file
    stem), ``categories`` and ``supercategories`` (sorted, ``;``-joined, each
    once), ``n_objects`` (non-crowd annotations), ``largest_share`` (the largest
    non-crowd ``area`` over ``height * width``, in [0, 1]), sorted by image."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        cats = {c["id"]: (c["name"], c["supercategory"]) for c in data["categories"]}
        images = {img["id"]: img for img in data["images"]}
        found: dict[int, dict] = {i: {"cats": set(), "supers": set(), "n": 0, "largest": 0.0}
                                  for i in images}
        for ann in data["annotations"]:
            entry = found[ann["image_id"]]
            name, supercategory = cats[ann["category_id"]]
            entry["cats"].add(name)
            entry["supers"].add(supercategory)
            if not ann.get("iscrowd", 0):
                entry["n"] += 1
                entry["largest"] = max(entry["largest"], float(ann["area"]))
        rows = []
        for image_id, img in images.items():
            entry = found[image_id]
            rows.append({"image": Path(img["file_name"]).stem,
                         "categories": ";".join(sorted(entry["cats"])),
                         "supercategories": ";".join(sorted(entry["supers"])),
                         "n_objects": entry["n"],
                         "largest_share": entry["largest"] / (int(img["height"])
                                                              * int(img["width"]))})
    except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise AnnotationError(f"{path}: not a COCO instance-annotation JSON with images, "
                              f"annotations and categories ({type(err).__name__}: {err})"
                              ) from err
    return pd.DataFrame(rows).sort_values("image", kind="stable").reset_index(drop=True)


def object_count_cell(n: int) -> str:
    """The :data:`OBJECT_COUNT_BINS` label of ``n`` objects."""
    for label, low, high in OBJECT_COUNT_BINS:
        if n >= low and (high is None or n <= high):
            return label
    raise ValueError(f"object count {n} is negative")


def largest_share_cell(share: float) -> str:
    """The :data:`LARGEST_SHARE_BINS` label of a largest-object share."""
    for label, low, high in LARGEST_SHARE_BINS:
        if low <= share < high:
            return label
    raise ValueError(f"largest-object share {share} is not in [0, inf)")


def metric_by_category(tables: Mapping[str, pd.DataFrame], objects: pd.DataFrame, metric: str,
                       n_boot: int, seed: int) -> pd.DataFrame:
    """Each name's ``metric`` (ok images, finite values) by cell of three groupings.

    ``grouping`` is ``supercategory`` (an image is in the cell of every
    supercategory it holds, so cells overlap), ``n_objects``
    (:data:`OBJECT_COUNT_BINS`) or ``largest_object``
    (:data:`LARGEST_SHARE_BINS`). Columns: ``name``, ``grouping``, ``cell``,
    ``n_images``, ``mean``, ``ci_low``, ``ci_high``, ``ci_method``
    (:func:`quickgaze.stats.summarise`), ``median``. Images without a row in
    ``objects`` are left out.
    """
    info = objects.set_index("image")
    cells = {
        "supercategory": {i: [c for c in str(s).split(";") if c]
                          for i, s in info["supercategories"].items()},
        "n_objects": {i: [object_count_cell(int(n))] for i, n in info["n_objects"].items()},
        "largest_object": {i: [largest_share_cell(float(s))]
                           for i, s in info["largest_share"].items()},
    }
    order = {"n_objects": [b[0] for b in OBJECT_COUNT_BINS],
             "largest_object": [b[0] for b in LARGEST_SHARE_BINS]}
    rows = []
    for name, t in tables.items():
        scores = stats.aligned_scores({name: t}, metric)[name].dropna()
        for grouping, per_image in cells.items():
            members: dict[str, list[float]] = {}
            for image, value in scores.items():
                for cell in per_image.get(image, []):
                    members.setdefault(cell, []).append(float(value))
            labels = order.get(grouping, sorted(members))
            for cell in labels:
                if cell not in members:
                    continue
                s = stats.summarise(members[cell], n_boot=n_boot, seed=seed)
                rows.append({"name": name, "grouping": grouping, "cell": cell,
                             "n_images": s["n"], "mean": s["mean"], "ci_low": s["ci_low"],
                             "ci_high": s["ci_high"], "ci_method": s["ci_method"],
                             "median": s["median"]})
    return pd.DataFrame(rows, columns=["name", "grouping", "cell", "n_images", "mean", "ci_low",
                                       "ci_high", "ci_method", "median"])
