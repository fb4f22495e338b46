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
- ``auto``: the format detected by :func:`detect_format` where unambiguous.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from quickgaze.smoothing import gaussian_smooth

SALICON_SIGMA = 19.0
FORMATS = ("salicon2015_json", "salicon2017_mat", "json_xy_float")


class FixationFormatError(ValueError):
    """A fixation source that does not match its format; the message names the file."""


def _coco_points(path: Path) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """Raw ``(N, 2)`` float coordinates (as stored) and ``(H, W)`` per image stem
    of a COCO-style fixation JSON."""
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
        for ann in data["annotations"]:
            pts[ann["image_id"]].extend(ann["fixations"])
        points, shapes = {}, {}
        for image_id, img in images.items():
            stem = Path(img["file_name"]).stem
            points[stem] = np.asarray(pts[image_id], dtype=np.float64).reshape(-1, 2)
            shapes[stem] = (int(img["height"]), int(img["width"]))
    except (KeyError, TypeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise FixationFormatError(
            f"{path}: not a COCO-style fixation JSON with images/annotations/fixations "
            f"({type(err).__name__}: {err})") from err
    return points, shapes


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
    return xy[:, ::-1] - 1.0


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


def valid_points(points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Round ``(N, 2)`` 0-based (row, col) points to pixels, drop those outside ``shape``.

    Returns the ``(M, 2)`` int array of kept pixels and the number dropped.
    Non-finite points must be removed first (:func:`finite_points`): here
    they are dropped and counted with the outside ones.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(pts).all(axis=1)
    px = np.zeros(pts.shape, dtype=np.int64)
    px[finite] = np.round(pts[finite]).astype(np.int64)
    inside = finite & (px[:, 0] >= 0) & (px[:, 0] < shape[0]) & (px[:, 1] >= 0) & (px[:, 1] < shape[1])
    return px[inside], int((~inside).sum())


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
    have by the source (JSON ``images[].height/width``; none for ``.mat``)."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"fixation_format '{fmt}' unknown; allowed: auto, {', '.join(FORMATS)}")
    src = Path(source)
    if src.is_dir() and not any(src.glob("*.mat")):
        found = sorted(src.glob("*.json"))
        if len(found) != 1:
            raise FixationFormatError(f"fixation folder '{src}' must hold one .json file "
                                      f"or .mat files, found {[p.name for p in found]}")
        src = found[0]
    if fmt == "auto" and (src.is_dir() or src.suffix.lower() == ".mat"):
        fmt = detect_format(src)
    if fmt == "salicon2017_mat":
        files = {src.stem: src} if src.is_file() else {i: src / f"{i}.mat" for i in ids}
        return {i: load_salicon2017_mat(files[i]) for i in ids
                if i in files and files[i].exists()}, {}
    if src.is_dir():
        raise FixationFormatError(f"{src}: a directory, but fixation_format '{fmt}' reads "
                                  f"one JSON file")
    raw, shapes = _coco_points(src)
    if fmt == "auto":
        fmt = _detect_json(src, raw, shapes)
    declared = {i: shapes[i] for i in ids if i in shapes}
    if fmt == "salicon2015_json":
        return {i: raw[i] - 1.0 for i in ids if i in raw}, declared
    return {i: raw[i][:, ::-1].copy() for i in ids if i in raw}, declared
