"""Human fixations: parsing SALICON annotation files and building maps from them.

Inside quickgaze, fixations of one image are a ``(N, 2)`` array of 0-based
``(row, col)`` pixel coordinates; after :func:`valid_points` they are int
pixel indices, all inside the image.

Formats (``dataset.fixation_format`` in config.yaml), each naming its convention:

- ``salicon2015_json``: one COCO-style JSON (``images``, ``annotations``), each
  annotation's ``fixations`` a list of ``[row, col]``, 1-based integers;
- ``salicon2017_mat``: a directory of ``<image id>.mat`` files, one per image,
  each with a ``gaze`` struct array (one entry per observer: ``location``,
  ``timestamp``, ``fixations``), ``fixations`` an ``(n, 2)`` array of
  ``[x, y]``, 1-based;
- ``json_xy_float``: the older COCO-style JSON whose ``fixations`` are
  ``[x, y]`` floats, 0-based pixel coordinates (pixel centres at integers),
  some slightly outside the image;
- ``table``: a CSV (``.csv``) or parquet (``.parquet``) table with one row per
  fixation and columns ``image`` (the image id, i.e. its file stem), ``x``
  (column) and ``y`` (row), 0-based pixel coordinates with pixel centres at
  integers (the convention of :func:`valid_points`: a point is rounded to its
  pixel), ``observer`` (optional: who made the fixation, any string) and
  ``time`` (optional, not used); other columns are ignored;
- ``auto``: the format detected by :func:`detect_format` where unambiguous.

Observers: the COCO-style JSONs name the observer of each annotation
(``worker_id``), a ``.mat`` file has one ``gaze`` entry per observer, a table
its ``observer`` column. :func:`load_fixation_records` returns them, one
string per fixation (``(N,)``), or None for an image whose source does not
name every fixation's observer; the human ceiling (:mod:`quickgaze.saliency.ceiling`)
needs them.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from quickgaze.io.tables import TABLE_SUFFIXES, read_table
from quickgaze.maps.smoothing import gaussian_smooth

SALICON_SIGMA = 19.0
FORMATS = ("salicon2015_json", "salicon2017_mat", "json_xy_float", "table")
TABLE_COLUMNS = ("image", "x", "y")


class FixationFormatError(ValueError):
    """A fixation source that does not match its format; the message names the file."""


def _coco_points(path: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """Raw ``(N, 2)`` float coordinates (as stored) and ``(H, W)`` per image stem
    of a COCO-style fixation JSON."""
    points, _, shapes = _coco_records(path)
    return points, shapes


def _coco_records(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None],
                                       dict[str, tuple[int, int]]]:
    """As :func:`_coco_points`, with each fixation's observer: the ``worker_id`` of
    its annotation as a string, ``(N,)``; None for an image with an annotation
    without ``worker_id``.

    Choices: an annotation whose ``image_id`` no ``images`` entry has is a
    FixationFormatError naming the file, the annotation and the id (the file
    is inconsistent; nothing says which image it meant). Two or more
    ``images`` entries of one image (the same file stem, as files joined from
    parts leave) are merged: their fixations and observers are concatenated
    in file order, with a warning naming the file, the image and the entries'
    ids, since each entry's fixations are real and dropping any would
    silently lose observers; entries of one image that declare different
    sizes are a FixationFormatError naming both, since they cannot be the same
    image.
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise FixationFormatError(f"{path}: cannot read fixation file ({err})") from err
    if not text.strip():
        raise FixationFormatError(f"{path}: the fixation file is empty (0 bytes of JSON)")
    try:
        data = json.loads(text)
        images = {img["id"]: img for img in data["images"]}
        pts: dict[int, list] = {i: [] for i in images}
        who: dict[int, list | None] = {i: [] for i in images}
        for k, ann in enumerate(data["annotations"]):
            image_id = ann["image_id"]
            if image_id not in images:
                raise FixationFormatError(
                    f"{path}: annotation {k} (id {ann.get('id', '?')}) has image_id "
                    f"{image_id!r}, which no entry of 'images' has")
            pts[image_id].extend(ann["fixations"])
            n = len(np.asarray(ann["fixations"], dtype=np.float64).reshape(-1, 2))
            if who[image_id] is not None:
                who[image_id] = (who[image_id] + [str(ann["worker_id"])] * n
                                 if "worker_id" in ann else None)
        by_stem: dict[str, list[int]] = {}
        for image_id, img in images.items():
            by_stem.setdefault(Path(img["file_name"]).stem, []).append(image_id)
        points, observers, shapes = {}, {}, {}
        for stem, ids in by_stem.items():
            sizes = {image_id: (int(images[image_id]["height"]), int(images[image_id]["width"]))
                     for image_id in ids}
            if len(set(sizes.values())) > 1:
                raise FixationFormatError(
                    f"{path}: entries of 'images' for '{stem}' declare different sizes (HxW): "
                    + ", ".join(f"id {i} {h}x{w}" for i, (h, w) in sizes.items()))
            if len(ids) > 1:
                _warn_merged(path, stem, ids, [len(pts[i]) for i in ids])
            points[stem] = np.asarray([q for i in ids for q in pts[i]],
                                      dtype=np.float64).reshape(-1, 2)
            observers[stem] = (None if any(who[i] is None for i in ids)
                               else np.asarray([w for i in ids for w in who[i]],
                                               dtype=str).reshape(-1))
            shapes[stem] = sizes[ids[0]]
    except FixationFormatError:
        raise
    except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise FixationFormatError(
            f"{path}: not a COCO-style fixation JSON with images/annotations/fixations "
            f"({type(err).__name__}: {err})") from err
    return points, observers, shapes


_warned_merged: set[tuple[str, str]] = set()


def _warn_merged(path: Path, stem: str, ids: list[int], counts: list[int]) -> None:
    """One warning per process, file and image: entries of one image were merged."""
    if (str(path), stem) in _warned_merged:
        return
    _warned_merged.add((str(path), stem))
    logging.getLogger("quickgaze").warning(
        "%s: %d entries of 'images' for '%s' (ids %s, with %s fixation rows): their "
        "fixations are merged", path, len(ids), stem, ", ".join(map(str, ids)),
        " + ".join(map(str, counts)))


def finite_points(points: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop the rows of ``(N, 2)`` points with a NaN or infinite coordinate.

    Returns the finite rows and how many were dropped (counted as
    "non-finite", never as "outside the image").
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(pts).all(axis=1)
    return pts[finite], int((~finite).sum())


def load_salicon2015_json(path: str | os.PathLike) -> dict[str, dict]:
    """Parse a SALICON 2015 COCO-style fixation JSON.

    ``annotations[i]["fixations"]`` are ``[row, col]``, 1-based. Returns, per
    image stem, ``{"points": (N, 2) float array of 0-based (row, col),
    "shape": (H, W)}``; points are not yet checked against the image.
    """
    points, shapes = _coco_points(Path(path))
    return {s: {"points": p - 1.0, "shape": shapes[s]} for s, p in points.items()}


def load_json_xy_float(path: str | os.PathLike) -> dict[str, dict]:
    """Parse the older COCO-style JSON with ``[x, y]`` float, 0-based fixations.

    Same return as :func:`load_salicon2015_json` (0-based (row, col), so the
    columns are swapped); points outside the image are kept here and dropped
    by :func:`valid_points`.
    """
    points, shapes = _coco_points(Path(path))
    return {s: {"points": p[:, ::-1].copy(), "shape": shapes[s]} for s, p in points.items()}


def load_salicon2017_mat(path: str | os.PathLike) -> np.ndarray:
    """Fixations of one SALICON 2017 ``.mat`` file, all observers pooled.

    The file holds ``gaze``, a struct array with one entry per observer whose
    ``fixations`` field is ``(n, 2)`` ``[x, y]``, 1-based (``location`` holds
    the raw mouse samples and is not used). Returns ``(N, 2)`` float 0-based
    (row, col).
    """
    return _salicon2017_records(path)[0]


def _salicon2017_records(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`load_salicon2017_mat`, with each fixation's observer: the index
    of its ``gaze`` entry as a string, ``(N,)``."""
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except Exception as err:  # scipy raises several types for non-.mat files
        raise FixationFormatError(f"{path}: cannot read as a .mat file ({err})") from err
    if "gaze" not in data:
        raise FixationFormatError(f"{path}: no 'gaze' struct array (SALICON 2017 .mat expected); "
                                  f"variables: {sorted(k for k in data if not k.startswith('__'))}")
    gaze = data["gaze"]
    if gaze.dtype.names is None or "fixations" not in gaze.dtype.names:
        raise FixationFormatError(f"{path}: 'gaze' has no 'fixations' field "
                                  f"(fields: {gaze.dtype.names})")
    per_observer = [np.asarray(g["fixations"], dtype=np.float64).reshape(-1, 2)
                    for g in gaze.ravel()]
    xy = np.concatenate(per_observer) if per_observer else np.zeros((0, 2))
    who = np.asarray([str(k) for k, f in enumerate(per_observer) for _ in range(len(f))],
                     dtype=str).reshape(-1)
    return xy[:, ::-1] - 1.0, who


def load_fixation_table(path: str | os.PathLike) -> tuple[dict[str, np.ndarray],
                                                          dict[str, np.ndarray | None]]:
    """Read a fixation table (format ``table``, see the module docstring).

    Returns, per image id, ``(N, 2)`` float 0-based (row, col), that is
    ``(y, x)``, in the table's row order, and the ``(N,)`` observer strings
    (None for every image when the table has no ``observer`` column). Non-finite
    coordinates are kept (see :func:`finite_points`). A missing required column,
    a non-numeric coordinate or an empty observer raises FixationFormatError
    naming the file, the column and the first bad row.
    """
    import pandas as pd

    path = Path(path)
    table = read_table(path, "a fixation table", FixationFormatError,
                       dtype={"image": str, "observer": str},
                       na_values={"x": ["", "nan", "NaN"], "y": ["", "nan", "NaN"]})
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise FixationFormatError(f"{path}: fixation table lacks column(s) {missing}; it needs "
                                  f"{list(TABLE_COLUMNS)} (+ optional observer, time), has "
                                  f"{list(table.columns)}")
    coords = {}
    for column in ("x", "y"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna() & (table[column].astype(str) != "")
        bad &= ~table[column].astype(str).str.lower().isin(["nan", "inf", "-inf"])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise FixationFormatError(f"{path}: column '{column}' row {row} is "
                                      f"'{table[column].iloc[row]}', not a number")
        coords[column] = values.to_numpy(dtype=np.float64)
    images = table["image"].astype(str).to_numpy()
    observers = None
    if "observer" in table.columns:
        observers = table["observer"].astype(str).to_numpy()
        empty = (observers == "") | table["observer"].isna().to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise FixationFormatError(f"{path}: column 'observer' row {row} is empty; name "
                                      f"every fixation's observer or drop the column")
    yx = np.stack([coords["y"], coords["x"]], axis=1)
    points, who = {}, {}
    for image in dict.fromkeys(images):
        rows = images == image
        points[image] = yx[rows]
        who[image] = None if observers is None else observers[rows].astype(str)
    return points, who


def _integer_valued(points: dict[str, np.ndarray]) -> bool:
    return all(np.all(p == np.round(p)) for p in points.values())


def _count_outside(points: dict[str, np.ndarray], shapes: dict[str, tuple[int, int]]) -> int:
    """Points outside ``[0, H) x [0, W)`` of 0-based (row, col) points, after rounding."""
    return sum(valid_points(p, shapes[s])[1] for s, p in points.items())


# ``auto`` accepts a reading only when it places the points inside the
# declared sizes for nearly every image: at most this share of the images with
# fixations may have more than half of their points outside.
AUTO_MAX_BAD_IMAGES = 0.02


def _bad_images(points: dict[str, np.ndarray], shapes: dict[str, tuple[int, int]]) -> int:
    """Images with fixations, more than half of them outside the declared size."""
    return sum(1 for s, p in points.items()
               if len(p) and valid_points(p, shapes[s])[1] > 0.5 * len(p))


def detect_format(source: str | os.PathLike) -> str:
    """The format of a fixation source, where the data leave no doubt.

    - a ``.mat`` file or a directory of ``.mat`` files: ``salicon2017_mat``;
    - a ``.csv`` or ``.parquet`` file: ``table``;
    - a JSON whose finite coordinates include a non-integer: ``json_xy_float``
      (the 2015 release stores integers);
    - a JSON of integers: ``salicon2015_json`` when read as 1-based
      ``[row, col]`` at most 5% of the points fall outside their image, and at
      least five times as many (and at least 5) would as ``[x, y]``.

    Non-finite values (NaN, inf) are left out before deciding: one NaN does
    not make a file of integers "floats". The reading chosen must also be
    plausible: at most 2% of the images may have more than half of their
    points outside the declared image size; and floats are read as ``[x, y]``
    only when reading them as ``[row, col]`` does not fit clearly better
    (five times fewer points outside, the ``[x, y]`` reading with at least 5).

    Anything else (square images where both readings fit, a file without any
    fixation, a reading that does not fit the images) raises
    FixationFormatError with what was seen and asks for an explicit
    ``dataset.fixation_format``.
    """
    src = Path(source)
    if src.is_dir():
        if any(src.glob("*.mat")):
            return "salicon2017_mat"
        raise FixationFormatError(f"{src}: directory without .mat files; set "
                                  f"dataset.fixation_format to one of {', '.join(FORMATS)}")
    if src.suffix.lower() == ".mat":
        return "salicon2017_mat"
    if src.suffix.lower() in TABLE_SUFFIXES:
        return "table"
    return _detect_json(src, *_coco_points(src))


def _detect_json(src: Path, raw: dict[str, np.ndarray], shapes: dict[str, tuple[int, int]]) -> str:
    finite = {s: finite_points(p)[0] for s, p in raw.items()}
    n = sum(len(p) for p in finite.values())
    n_nonfinite = sum(len(p) for p in raw.values()) - n
    ask = f"set dataset.fixation_format to one of {', '.join(FORMATS)}"
    if not n:
        raise FixationFormatError(
            f"{src}: no fixations to detect the format from ({len(raw)} images, "
            f"{n_nonfinite} non-finite values, no finite fixation); check the file, or {ask}")
    as_rowcol = {s: p - 1.0 for s, p in finite.items()}
    as_xy = {s: p[:, ::-1] - 1.0 for s, p in finite.items()}
    as_xy0 = {s: p[:, ::-1].copy() for s, p in finite.items()}
    seen = (f"{n} finite fixations in {len(raw)} images, {n_nonfinite} non-finite left out")
    n_images = sum(1 for p in finite.values() if len(p))

    def plausible(reading: dict[str, np.ndarray], name: str) -> str:
        out, bad = _count_outside(reading, shapes), _bad_images(reading, shapes)
        if bad <= AUTO_MAX_BAD_IMAGES * n_images:
            return name
        raise FixationFormatError(
            f"{src}: the fixations look like {name} but do not fit the declared image sizes "
            f"read that way ({out} of {n} points outside, {bad} of {n_images} images with "
            f"most of their points outside; {seen}); {ask}")

    if not _integer_valued(finite):
        out_xy0 = _count_outside(as_xy0, shapes)
        out_rowcol0 = _count_outside({s: p.copy() for s, p in finite.items()}, shapes)
        if out_xy0 >= 5 and 5 * out_rowcol0 <= out_xy0:
            raise FixationFormatError(
                f"{src}: float fixations fit the images better as 0-based [row, col] "
                f"({out_rowcol0} points outside) than as [x, y] ({out_xy0} outside), "
                f"which json_xy_float reads; {seen}; {ask}")
        return plausible(as_xy0, "json_xy_float")
    out_rowcol, out_xy = _count_outside(as_rowcol, shapes), _count_outside(as_xy, shapes)
    # Real data has a few points off the image whatever the reading; the right
    # reading has few, the wrong one many more.
    if out_rowcol <= 0.05 * n and out_xy >= 5 * max(out_rowcol, 1):
        return plausible(as_rowcol, "salicon2015_json")
    raise FixationFormatError(
        f"{src}: integer fixations are ambiguous ({out_rowcol} points fall outside the image "
        f"read as 1-based [row, col], {out_xy} read as 1-based [x, y]; {seen}); {ask}")


def valid_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(N,)`` bool: which of ``(N, 2)`` 0-based (row, col) points are finite and,
    rounded to pixels, inside ``shape`` (the rows :func:`valid_points` keeps)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(pts).all(axis=1)
    px = np.zeros(pts.shape, dtype=np.int64)
    px[finite] = np.round(pts[finite]).astype(np.int64)
    return (finite & (px[:, 0] >= 0) & (px[:, 0] < shape[0]) & (px[:, 1] >= 0)
            & (px[:, 1] < shape[1]))


def valid_points(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Round ``(N, 2)`` 0-based (row, col) points to pixels, drop those outside ``shape``.

    Returns the ``(M, 2)`` int array of kept pixels and the number dropped.
    Non-finite points must be removed first (:func:`finite_points`): here
    they are dropped and counted with the outside ones.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = valid_mask(pts, shape)
    return np.round(pts[inside]).astype(np.int64), int((~inside).sum())


def fixation_map(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Binary ``(H, W)`` bool map, True at each fixated pixel of ``(N, 2)`` (row, col)."""
    fmap = np.zeros(shape, dtype=bool)
    fmap[points[:, 0], points[:, 1]] = True
    return fmap


def saliency_from_fixations(points: np.ndarray, shape: tuple[int, int],
                            sigma: float = SALICON_SIGMA) -> np.ndarray:
    """Ground-truth map the SALICON way: 1 at each fixated pixel, Gaussian blur of
    ``sigma`` px, min-max to [0, 1]. Returns ``(H, W)`` float32."""
    return gaussian_smooth(fixation_map(points, shape).astype(np.float64), sigma)


def load_fixations(source: str | os.PathLike, fmt: str, ids: list[str]) -> dict[str, np.ndarray]:
    """Fixations of ``ids`` from ``source`` as ``(N, 2)`` float 0-based (row, col).

    fmt: ``auto`` or one of :data:`FORMATS`. ``source`` is the JSON file (or a
    folder holding exactly one, as the SALICON 2015 archive extracts), or for
    ``salicon2017_mat`` the directory of ``<id>.mat`` files (a single ``.mat``
    file serves the image of its stem). Images absent from the source get no
    entry. Non-finite values are kept (see :func:`finite_points`).
    """
    return load_fixation_source(source, fmt, ids)[0]


def load_fixation_source(source: str | os.PathLike, fmt: str, ids: list[str]
                         ) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """As :func:`load_fixations`, with the ``(H, W)`` each image is declared to
    have by the source (JSON ``images[].height/width``; none for ``.mat`` and tables)."""
    points, _, declared = load_fixation_records(source, fmt, ids)
    return points, declared


def load_fixation_records(source: str | os.PathLike, fmt: str, ids: list[str]
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None],
                                     dict[str, tuple[int, int]]]:
    """As :func:`load_fixation_source`, with each image's observers: ``(N,)``
    strings aligned with its points, or None where the source does not name
    every fixation's observer (a JSON annotation without ``worker_id``, a table
    without an ``observer`` column)."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"fixation_format '{fmt}' unknown; allowed: auto, {', '.join(FORMATS)}")
    src = Path(source)
    if src.is_dir() and not any(src.glob("*.mat")):
        found = sorted(src.glob("*.json"))
        if len(found) != 1:
            raise FixationFormatError(f"fixation folder '{src}' must hold one .json file "
                                      f"or .mat files, found {[p.name for p in found]}")
        src = found[0]
    if fmt == "auto" and (src.is_dir() or src.suffix.lower() in (".mat", *TABLE_SUFFIXES)):
        fmt = detect_format(src)
    if fmt == "salicon2017_mat":
        files = {src.stem: src} if src.is_file() else {i: src / f"{i}.mat" for i in ids}
        records = {i: _salicon2017_records(files[i]) for i in ids
                   if i in files and files[i].exists()}
        return ({i: r[0] for i, r in records.items()},
                {i: r[1] for i, r in records.items()}, {})
    if src.is_dir():
        raise FixationFormatError(f"{src}: a directory, but fixation_format '{fmt}' reads "
                                  f"one file")
    if fmt == "table":
        points, who = load_fixation_table(src)
        return ({i: points[i] for i in ids if i in points},
                {i: who[i] for i in ids if i in who}, {})
    raw, observers, shapes = _coco_records(src)
    if fmt == "auto":
        fmt = _detect_json(src, raw, shapes)
    declared = {i: shapes[i] for i in ids if i in shapes}
    who = {i: observers[i] for i in ids if i in raw}
    if fmt == "salicon2015_json":
        return {i: raw[i] - 1.0 for i in ids if i in raw}, who, declared
    return {i: raw[i][:, ::-1].copy() for i in ids if i in raw}, who, declared
