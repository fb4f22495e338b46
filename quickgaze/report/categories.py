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

Sources (:func:`load_objects`): a COCO instance-annotation JSON (``.json``,
as above), or a table (``.csv`` or ``.parquet``, :func:`table_objects`) with
one row per object: ``image`` (the file stem), ``category``,
``supercategory`` (optional), and ``area`` (pixels) or ``box`` (COCO's
``[x, y, w, h]`` in pixels; in a CSV as JSON text, ``"[10, 20, 30, 40]"``),
``iscrowd`` optional. A table holds no image size: the share is of the
study's image (its header, as displayed).

In the workflow (``rules/categories.smk``), :func:`write_categories` writes
the tables and plots of the ``categories`` stage: SALICON's annotations come from COCO's official
``annotations_trainval2014.zip``, a folder dataset's from
``dataset.folder.categories``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from quickgaze.io.images import image_shape
from quickgaze.io.tables import TABLE_SUFFIXES, read_table
from quickgaze.report import figures as figures_
from quickgaze.report import stats
from quickgaze.report.tables import read_tables, with_provenance

#: Object-count cells: (label, lowest count, highest count).
OBJECT_COUNT_BINS = (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3), ("4-7", 4, 7), ("8+", 8, None))
#: Largest-object cells by its share of the image: (label, low <= share < high).
LARGEST_SHARE_BINS = (("none", 0.0, 1e-12), ("<1%", 1e-12, 0.01), ("1-10%", 0.01, 0.10),
                      ("10-30%", 0.10, 0.30), (">=30%", 0.30, np.inf))


class AnnotationError(ValueError):
    """An instance-annotation file that does not match COCO's format; names the file."""


#: One object: (image stem, category, supercategory, area in pixels, crowd).
Annotation = tuple[str, str, str, float, bool]
#: Columns of :func:`objects_per_image`.
OBJECT_COLUMNS = ("image", "categories", "supercategories", "n_objects", "largest_share")


def objects_per_image(sizes: Mapping[str, tuple[int, int]],
                      annotations: Iterable[Annotation]) -> pd.DataFrame:
    """One row per image of ``sizes`` (stem -> ``(height, width)``), sorted by image:
    ``image``, ``categories`` and ``supercategories`` (sorted, ``;``-joined, each
    once), ``n_objects`` (non-crowd objects), ``largest_share`` (the largest
    non-crowd area over ``height * width``; 0 without one). An annotation of an
    image not in ``sizes`` is a KeyError naming it; an empty category names no
    category (a table's row for an image without objects)."""
    found = {i: {"cats": set(), "supers": set(), "n": 0, "largest": 0.0} for i in sizes}
    for image, category, supercategory, area, crowd in annotations:
        entry = found[image]
        if category:
            entry["cats"].add(category)
            entry["supers"].add(supercategory)
        if category and not crowd:
            entry["n"] += 1
            entry["largest"] = max(entry["largest"], float(area))
    rows = [{"image": image, "categories": ";".join(sorted(e["cats"])),
             "supercategories": ";".join(sorted(e["supers"])), "n_objects": e["n"],
             "largest_share": e["largest"] / (int(sizes[image][0]) * int(sizes[image][1]))}
            for image, e in found.items()]
    return pd.DataFrame(rows, columns=list(OBJECT_COLUMNS)).sort_values(
        "image", kind="stable").reset_index(drop=True)


def image_objects(path: str | os.PathLike) -> pd.DataFrame:
    """Per image of a COCO instance-annotation JSON, one row of
    :func:`objects_per_image` (the image by its ``file_name``'s stem, its size
    from ``height`` and ``width``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        cats = {c["id"]: (c["name"], c["supercategory"]) for c in data["categories"]}
        images = {img["id"]: Path(img["file_name"]).stem for img in data["images"]}
        sizes = {Path(img["file_name"]).stem: (int(img["height"]), int(img["width"]))
                 for img in data["images"]}
        anns = [(images[a["image_id"]], *cats[a["category_id"]], float(a["area"]),
                 bool(a.get("iscrowd", 0))) for a in data["annotations"]]
        return objects_per_image(sizes, anns)
    except (OSError, KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise AnnotationError(f"{path}: not a COCO instance-annotation JSON with images, "
                              f"annotations and categories ({type(err).__name__}: {err})"
                              ) from err


def _box_area(value: object, path: Path, row: int) -> float:
    """``w * h`` of a COCO box ``[x, y, w, h]`` (a sequence, or its JSON text)."""
    try:
        box = json.loads(value) if isinstance(value, str) else list(value)
        _x, _y, w, h = (float(v) for v in box)
    except (TypeError, ValueError) as err:
        raise AnnotationError(f"{path}: column 'box' row {row} is {value!r}, not a box "
                              f"[x, y, w, h] ({err})") from err
    if not (np.isfinite(w) and np.isfinite(h)) or w < 0 or h < 0:
        raise AnnotationError(f"{path}: column 'box' row {row} is {value!r}: width and height "
                              "must be finite and not negative")
    return w * h


def table_objects(path: str | os.PathLike, sizes: Mapping[str, tuple[int, int]]) -> pd.DataFrame:
    """:func:`objects_per_image` of an object table (see the module docstring), for
    the images of ``sizes`` (stem -> ``(height, width)``) that the table names.

    Choices: a table names the images it annotates, so an image it does not
    name has no row (it is left out of every cell) and a row with an empty
    ``category`` marks an annotated image without objects; without a
    ``supercategory`` column each category is its own supercategory; ``area``
    wins over ``box`` where both are given, a box's area is ``w * h`` (larger
    than the object's mask); rows of images outside ``sizes`` are ignored.
    Errors name the file, the column and the first bad row.
    """
    path = Path(path)
    table = read_table(path, "an object table", AnnotationError,
                       dtype={"image": str, "category": str, "supercategory": str, "box": str},
                       na_values={"area": ["", "nan", "NaN"]})
    missing = [c for c in ("image", "category") if c not in table.columns]
    if missing or not {"area", "box"} & set(table.columns):
        raise AnnotationError(f"{path}: object table lacks column(s) "
                              f"{missing or ['area or box']}; it needs image, category and "
                              f"area or box (+ optional supercategory, iscrowd), has "
                              f"{list(table.columns)}")
    anns = []
    for row, r in enumerate(table.to_dict("records")):
        image = str(r["image"])
        if image not in sizes:
            continue
        category = "" if r["category"] is None else str(r["category"])
        area = pd.to_numeric(r.get("area", np.nan), errors="coerce")
        if "area" in r and str(r["area"]).strip() not in ("", "nan", "None") and pd.isna(area):
            raise AnnotationError(f"{path}: column 'area' row {row} is {r['area']!r}, "
                                  "not a number")
        if pd.isna(area) and category:
            if "box" not in r or r["box"] in ("", None):
                raise AnnotationError(f"{path}: row {row} ({image}, {category}) has neither "
                                      "an area nor a box")
            area = _box_area(r["box"], path, row)
        if category and (not np.isfinite(area) or area < 0):
            raise AnnotationError(f"{path}: column 'area' row {row} is {area}: an area must "
                                  "be finite and not negative")
        supercategory = str(r.get("supercategory") or category)
        crowd = str(r.get("iscrowd") or 0).strip()
        if crowd not in ("0", "1", "0.0", "1.0", "False", "True"):
            raise AnnotationError(f"{path}: column 'iscrowd' row {row} is {r['iscrowd']!r}, "
                                  "not 0 or 1")
        anns.append((image, category, supercategory, float(area) if category else 0.0,
                     crowd in ("1", "1.0", "True")))
    named = {a[0] for a in anns}
    return objects_per_image({i: s for i, s in sizes.items() if i in named}, anns)


def load_objects(path: str | os.PathLike,
                 sizes: Callable[[], Mapping[str, tuple[int, int]]]) -> pd.DataFrame:
    """:func:`image_objects` of a ``.json``, :func:`table_objects` of a ``.csv`` or
    ``.parquet`` with the image sizes ``sizes()`` (called for a table only: it
    reads every image's header)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return image_objects(path)
    if suffix in TABLE_SUFFIXES:
        return table_objects(path, sizes())
    raise AnnotationError(f"{path}: categories come from a COCO instances .json or a .csv or "
                          f".parquet table, not '{Path(path).suffix}'")


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
    (:func:`quickgaze.report.stats.summarise`), ``median``. Images without a row in
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


#: The groupings of :func:`metric_by_category`, in the order of the outputs.
GROUPINGS = ("supercategory", "n_objects", "largest_object")


def study_objects(objects: pd.DataFrame, images: Iterable[str]) -> pd.DataFrame:
    """The rows of ``objects`` for the study's ``images``, with each image's cells
    ``n_objects_cell`` and ``largest_object_cell``; the study's images that
    ``objects`` lacks are named in a warning (they are in no cell)."""
    images = sorted(set(images))
    out = objects[objects["image"].isin(images)].reset_index(drop=True)
    lacking = sorted(set(images) - set(out["image"]))
    if lacking:
        logging.getLogger("quickgaze").warning(
            "categories: %d of %d images have no annotation entry and are in no cell: %s%s",
            len(lacking), len(images), ", ".join(lacking[:10]),
            " ..." if len(lacking) > 10 else "")
    return out.assign(n_objects_cell=[object_count_cell(int(n)) for n in out["n_objects"]],
                      largest_object_cell=[largest_share_cell(float(s))
                                           for s in out["largest_share"]])


def write_categories(table_paths: Mapping[str, str | os.PathLike], source: str | os.PathLike,
                     kinds: Mapping[str, str], metric: str, n_boot: int, seed: int,
                     tables_csv: Mapping[str, str | os.PathLike],
                     images_csv: str | os.PathLike,
                     figures: Mapping[str, Sequence[str | os.PathLike]]) -> pd.DataFrame:
    """The per-category analysis of a study: what each image holds, read from
    ``source`` (:func:`quickgaze.load_objects`; a table's shares are
    of the image sizes read from the per-image tables' ``image_path``), written
    to ``images_csv`` (:func:`quickgaze.study_objects`), and every
    name's ``metric`` by cell (:func:`quickgaze.metric_by_category`,
    ``kind`` from ``kinds``, ``metric`` as a column) as one CSV per grouping of
    ``tables_csv`` and figures (:func:`quickgaze.report.figures.category_plot`, one file per path) per
    grouping of ``figures``. Returns the cells of every grouping."""
    tables = read_tables(table_paths)
    images = sorted({str(i) for t in tables.values() if "image" in t for i in t["image"]})

    def sizes() -> dict[str, tuple[int, int]]:
        paths = {}
        for t in tables.values():
            if "image_path" in t:
                paths.update(zip(t["image"].astype(str), t["image_path"].astype(str)))
        return {i: image_shape(p) for i, p in sorted(paths.items())}

    objects = study_objects(load_objects(source, sizes), images)
    with_provenance(objects, "categories", {}).to_csv(images_csv, index=False)
    cells = metric_by_category(tables, objects, metric, n_boot, seed)
    cells.insert(1, "kind", [kinds.get(n, "variant") for n in cells["name"]])
    cells.insert(2, "metric", metric)
    for grouping in GROUPINGS:
        part = cells[cells["grouping"] == grouping].reset_index(drop=True)
        if grouping in tables_csv:
            with_provenance(part, "categories", tables, by="name").to_csv(
                tables_csv[grouping], index=False)
        fig = figures_.category_plot(part, grouping, metric)
        for path in figures.get(grouping, ()):
            figures_.save_figure(fig, path)
    return cells
