"""Datasets: which images a study has, where they and their ground truth live,
and the embedded synthetic demo.

Three kinds, selected by ``dataset.kind`` in config.yaml:
- ``demo``: generated offline by :func:`write_demo_dataset` (images, official-
  style maps and a SALICON 2015 fixation JSON);
- ``folder``: an images directory, optional maps directory and optional
  fixation source, matched by file stem;
- ``salicon``: the official layout ``images/<split>``, ``maps/<split>``,
  ``fixations/<split>``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from quickgaze.data.demo import DEMO_IMAGES, demo_ids
from quickgaze.io.images import broken_link

# Pillow formats registered for reading that cannot decode pixels here:
# stubs that need an external handler (BUFR, GRIB, HDF5), Windows-only
# metafiles (WMF/EMF), PostScript (needs Ghostscript) and MPEG (header only).
_UNDECODABLE_FORMATS = frozenset({"BUFR", "GRIB", "HDF5", "WMF", "EPS", "MPEG"})


def _image_suffixes() -> tuple[str, ...]:
    """Every file suffix Pillow opens and decodes (JPEG, PNG, WebP, BMP, TIFF,
    GIF, ... as installed), lower case, sorted."""
    from PIL import Image

    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                        if fmt in Image.OPEN and fmt not in _UNDECODABLE_FORMATS))


IMAGE_SUFFIXES = _image_suffixes()
_warned_non_images: set[tuple[str, tuple[str, ...]]] = set()


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset's files are, and the one place that knows what each
    ``dataset.kind`` has (the workflow's rules ask this object, never the kind).

    ``maps`` and ``fixations`` may be None; ``fixations`` is a file (one for all
    images) or a directory (one per image). ``demo_ids``: the images the
    workflow generates (``demo`` only); ``archives``: the downloads that
    create the files (``salicon`` only). ``categories``: the object
    annotations (:func:`quickgaze.report.categories.load_objects`), or None and
    ``categories_note`` says why; ``annotations``: the archive that holds them
    and is downloaded (``salicon``: ``url``, ``sha256``, ``member``, and
    ``archive``, where the download goes), else None.
    """

    kind: str
    images: Path
    maps: Path | None
    fixations: Path | None
    demo_ids: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()
    categories: Path | None = None
    categories_note: str = ""
    annotations: dict | None = None

    @property
    def generated(self) -> bool:
        """The workflow writes the images, maps and fixations itself (the demo)."""
        return self.kind == "demo"

    @property
    def downloaded(self) -> bool:
        """The files come from archives that the workflow downloads and extracts."""
        return bool(self.archives)

    def image_files(self) -> dict[str, Path]:
        """Every image by id, sorted: the demo's (to be generated), else those in
        :attr:`images` (:func:`list_images`); none while a downloaded dataset's
        archives are not extracted yet."""
        if self.generated:
            return {i: self.images / f"{i}.png" for i in self.demo_ids}
        if self.downloaded and not self.images.is_dir():
            return {}
        return list_images(self.images)

    def map_file(self, image: str) -> Path | None:
        """The dataset's own ground-truth map of ``image`` (``<maps>/<id>.png``), None
        without a maps folder or, for data on disk, without that file."""
        if self.maps is None:
            return None
        candidate = self.maps / f"{image}.png"
        return candidate if self.generated or candidate.exists() else None


# A name that becomes one path component: no separator, not . or .., not hidden.
PATH_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def check_path_names(names: dict[str, str]) -> None:
    """Raise ValueError naming the config key and value of every name (a
    ``{key: value}`` mapping) that is not one safe path component (letters,
    digits, ``_ . -``, not starting with a dot), so that ``results/<name>``,
    ``logs/<name>`` and ``resources/<name>`` never leave their folder."""
    bad = [f"{key}: {value!r}" for key, value in names.items()
           if not PATH_NAME.fullmatch(str(value))]
    if bad:
        raise ValueError("config.yaml: not a valid name for a path component (letters, digits, "
                         "_ . -, not starting with a dot; no / or ..): " + "; ".join(bad))


#: Suffixes of an object-annotation source (quickgaze.report.categories.load_objects).
CATEGORY_SUFFIXES = (".json", ".csv", ".parquet")


def _folder_categories(value: str | None) -> tuple[Path | None, str]:
    """``dataset.folder.categories`` checked: the path, or None and why not."""
    if not value:
        return None, "dataset.folder.categories is not set"
    path = Path(value)
    if path.suffix.lower() not in CATEGORY_SUFFIXES:
        raise ValueError(f"config.yaml: dataset.folder.categories: '{value}' is not a COCO "
                         f"instances .json or a .csv or .parquet table")
    if not path.is_file():
        raise ValueError(f"config.yaml: dataset.folder.categories: '{value}' does not exist "
                         "(or is not a file)")
    return path, ""


def layout(dataset: dict, demo_root: str | os.PathLike) -> DatasetLayout:
    """The layout of the dataset described by the ``dataset`` block of config.yaml.

    Categories: the demo has none; a folder dataset those of
    ``dataset.folder.categories`` (checked here: a ``.json``, ``.csv`` or
    ``.parquet`` file that exists; ValueError naming the key and value); a
    SALICON dataset the ``member`` of ``dataset.salicon.annotations``'s
    archive, extracted under its root (the archive goes to
    ``<root>/archives/<the URL's file name>``).
    """
    kind = dataset["kind"]
    if kind == "demo":
        root = Path(demo_root)
        ids = demo_ids(dataset.get("demo", {}).get("n_images", DEMO_IMAGES))
        return DatasetLayout(kind, root / "images", root / "maps", root / "fixations.json",
                             demo_ids=tuple(ids),
                             categories_note="the demo dataset has no object annotations")
    if kind == "folder":
        f = dataset["folder"]
        cats, note = _folder_categories(f.get("categories"))
        return DatasetLayout(
            kind,
            Path(f["images"]),
            Path(f["maps"]) if f.get("maps") else None,
            Path(f["fixations"]) if f.get("fixations") else None,
            categories=cats,
            categories_note=note,
        )
    if kind == "salicon":
        s = dataset["salicon"]
        root, split = Path(s["root"]), s["split"]
        fix = root / "fixations" / split
        ann = s.get("annotations")
        if ann and Path(ann["member"]).suffix.lower() not in CATEGORY_SUFFIXES:
            raise ValueError(f"config.yaml: dataset.salicon.annotations.member: "
                             f"'{ann['member']}' is not a COCO instances .json (or a .csv or "
                             ".parquet table)")
        annotations = None if not ann else {
            "url": ann["url"], "sha256": ann.get("sha256"), "member": ann["member"],
            "archive": str(root / "archives" / ann["url"].rstrip("/").rsplit("/", 1)[-1])}
        if annotations and Path(annotations["archive"]).name in s["archives"]:
            raise ValueError(f"config.yaml: dataset.salicon.annotations.url: its file name "
                             f"'{Path(annotations['archive']).name}' is also the name of an "
                             "archive in dataset.salicon.archives (both would be "
                             f"{annotations['archive']})")
        return DatasetLayout(kind, root / "images" / split, root / "maps" / split,
                             fix if fix.exists() else None, archives=tuple(s["archives"]),
                             categories=root / ann["member"] if ann else None,
                             categories_note="" if ann else
                             "dataset.salicon.annotations is not set",
                             annotations=annotations)
    raise ValueError(f"dataset.kind '{kind}' unknown; allowed: demo, folder, salicon")


def list_images(images_dir: str | os.PathLike) -> dict[str, Path]:
    """Image files of a directory by stem, sorted by stem.

    An image is a file with a suffix Pillow reads (:data:`IMAGE_SUFFIXES`,
    any case). Hidden files (``.name``) and subfolders are ignored; every other
    file is named in one warning per process and directory (not an error: a
    README beside the images is common), never skipped silently. A file with an
    image suffix that does not decode becomes that image's error later.
    """
    d = Path(images_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"images directory '{d}' does not exist")
    found: dict[str, Path] = {}
    others: list[str] = []
    for p in sorted(d.iterdir()):
        if p.name.startswith(".") or p.is_dir():
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            others.append(p.name)
            continue
        if p.stem in found:
            raise ValueError(f"two images share the stem '{p.stem}': {found[p.stem]}, {p}")
        found[p.stem] = p
    key = (str(d.resolve()), tuple(others))
    if others and key not in _warned_non_images:
        _warned_non_images.add(key)
        shown = ", ".join(others[:20]) + (f" and {len(others) - 20} more" if len(others) > 20
                                           else "")
        logging.getLogger("quickgaze").warning(
            "%s: %d file(s) not read as images (suffix not an image type Pillow reads): %s",
            d, len(others), shown)
    if not found:
        raise FileNotFoundError(f"no .jpg, .png, .webp, .bmp, .tif or other image Pillow reads "
                                f"in '{d}' (other files: {others[:20]})")
    return found


def not_workflow_inputs(files: Mapping[str, Path], now: float | None = None) -> dict[str, str]:
    """The files of ``files`` (image id -> path) that a Snakemake rule cannot take
    as an input, by id, with why; one warning names them all.

    - A symbolic link that does not resolve
      (:func:`quickgaze.io.images.broken_link`): as an
      input, Snakemake stops the whole run at DAG build (MissingInputException).
      The jobs still get its path, so the image gets an error record naming
      the file and every other image is processed.
    - A file dated in the future (modification time after ``now``, by default
      the time of this call): Snakemake fails every job that reads it (the
      job's outputs, dated now, are older than an input: its clock-skew
      check), and reruns them on every run. The jobs still read it, so it is
      processed like any image (its records hold its content identity, which
      decides when it is recomputed); ``touch <file>`` gives it the current
      date and makes it an input again.

    A path that does not exist and is no link (an image a rule will write,
    such as the demo's) is an input.
    """
    now = time.time() if now is None else now
    why: dict[str, str] = {}
    for i, path in files.items():
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            link = broken_link(path)
            if link:
                why[i] = f"{link}: its image gets an error record; fix or remove the link"
            continue
        if mtime > now:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime))
            why[i] = (f"dated in the future ({when}): processed, but not a Snakemake input "
                      f"until its date has passed (its clock-skew check would fail every job "
                      f"reading it); `touch {path}` fixes the date")
    if why:
        shown = [f"{files[i]}: {reason}" for i, reason in list(why.items())[:20]]
        more = f"; and {len(why) - 20} more" if len(why) > 20 else ""
        logging.getLogger("quickgaze").warning(
            "%d image file(s) that Snakemake cannot take as inputs: %s%s", len(why),
            "; ".join(shown), more)
    return why
