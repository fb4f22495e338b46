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

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from quickgaze.fixations import saliency_from_fixations, valid_points
from quickgaze.io import write_map_png

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
    annotations (:func:`quickgaze.categories.load_objects`), or None and
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


# Images of the demo when config.yaml does not say.
DEMO_IMAGES = 12


def demo_ids(n_images: int) -> list[str]:
    return [f"demo_{i:03d}" for i in range(n_images)]


#: Suffixes of an object-annotation source (quickgaze.categories.load_objects).
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


def demo_scene(rng: np.random.Generator, shape: tuple[int, int] = (480, 640),
               n_observers: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic scene: a few salient objects on a textured background.

    Returns the ``(H, W, 3)`` uint8 image and ``(N, 2)`` float fixations, 0-based
    (row, col): 85% drawn around the objects (in proportion to their size), 15%
    from a centre-biased Gaussian; a few fall outside the image, as in real data.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # Background: low-contrast colour gradient plus fine noise texture.
    base = rng.uniform(60, 140, size=3)
    tilt = rng.uniform(-40, 40, size=3)
    texture = rng.normal(0, 12, size=(h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
    img = base + tilt * (xx / w)[..., None] + texture
    objects = []
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.uniform(0.15 * h, 0.85 * h), rng.uniform(0.15 * w, 0.85 * w)
        ry, rx = rng.uniform(25, 70), rng.uniform(25, 90)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        if rng.random() < 0.5:  # rectangles as well as ellipses
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        colour = rng.choice([0.0, 255.0], size=3)
        colour[rng.integers(3)] = 255.0 - colour[rng.integers(3)]
        stripes = 40 * np.sin(xx / rng.uniform(3, 8))[..., None] * (rng.random() < 0.5)
        img = np.where(inside[..., None], colour + stripes, img)
        objects.append((cy, cx, ry, rx))
    n = n_observers * 8
    weights = np.array([ry * rx for _, _, ry, rx in objects])
    which = rng.choice(len(objects), size=n, p=weights / weights.sum())
    centre = rng.random(n) < 0.15
    pts = np.empty((n, 2))
    for k in range(n):
        if centre[k]:
            pts[k] = rng.normal((h / 2, w / 2), (h / 5, w / 5))
        else:
            cy, cx, ry, rx = objects[which[k]]
            pts[k] = rng.normal((cy, cx), (ry / 2.5, rx / 2.5))
    return np.clip(img, 0, 255).astype(np.uint8), pts


def write_demo_dataset(root: str | os.PathLike, n_images: int, seed: int) -> None:
    """Write the demo dataset under ``root``: ``images/<id>.png``, ``maps/<id>.png``
    (SALICON-style ground truth) and ``fixations.json`` (SALICON 2015 format,
    [row, col] 1-based; one annotation per observer, 40 per image, each with
    its ``worker_id``, so the human ceiling is available). Deterministic for a
    given ``seed``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "maps").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for num, image_id in enumerate(demo_ids(n_images)):
        img, pts = demo_scene(rng)
        iio.imwrite(root / "images" / f"{image_id}.png", img)
        kept, _ = valid_points(pts, img.shape[:2])
        gt = saliency_from_fixations(kept, img.shape[:2])
        write_map_png(root / "maps" / f"{image_id}.png", gt)
        images.append({"id": num, "file_name": f"{image_id}.png",
                       "height": img.shape[0], "width": img.shape[1]})
        # One annotation per observer (8 fixations each), its worker_id the
        # observer's identity, as in SALICON: the human ceiling splits them.
        px = np.round(pts).astype(int) + 1
        for k in range(0, len(px), 8):
            annotations.append({"id": len(annotations), "image_id": num, "worker_id": k // 8,
                                "fixations": px[k:k + 8].tolist()})
    (root / "fixations.json").write_text(
        json.dumps({"info": {"description": "quickgaze synthetic demo", "seed": seed},
                    "images": images, "annotations": annotations}))


class DownloadError(RuntimeError):
    """An archive could not be fetched or failed its checksum; the message says what to do."""


def sha256_of(path: str | os.PathLike) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_archive(url: str, dest: str | os.PathLike, sha256: str | None) -> None:
    """Fetch ``url`` to ``dest`` (through a temporary name) and check its sha256.

    A file already at ``dest`` (placed by hand) is only checked. Offline, the
    error names the URL and the exact path to put the file at.
    """
    import urllib.request

    from quickgaze.io import atomic_path

    dest = Path(dest)
    if not dest.exists():
        try:
            with (atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=60) as resp,
                  open(tmp, "wb") as fh):
                while block := resp.read(1 << 20):
                    fh.write(block)
        except Exception as err:
            raise DownloadError(
                f"could not download {url} ({type(err).__name__}: {err}). Download it on a "
                f"machine with internet access and place it at '{dest.resolve()}', then rerun."
            ) from err
    actual = sha256_of(dest)
    logging.getLogger("quickgaze").info("%s: sha256 %s", dest, actual)
    if sha256 and actual != sha256.lower():
        raise DownloadError(f"'{dest}' has sha256 {actual}, expected {sha256}; "
                            f"delete it and download {url} again")


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike,
                    file_name: str | None = None, members: list[str] | None = None) -> None:
    """Unzip ``archive`` into the folder ``dest``, only its ``members`` when given
    (paths inside the archive, kept below ``dest``; a missing one is a
    DownloadError naming the archive, the member and what it holds); a file
    that is not a zip (a fixation JSON, say) is copied there as ``file_name``
    (default: its own name)."""
    import shutil
    import zipfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            if members is None:
                zf.extractall(dest)
                return
            names = zf.namelist()
            for member in members:
                if member not in names:
                    raise DownloadError(f"'{archive}' has no member '{member}'; it holds "
                                        f"{', '.join(names[:20])}"
                                        f"{' ...' if len(names) > 20 else ''}")
                zf.extract(member, dest)
    elif members is not None:
        raise DownloadError(f"'{archive}' is not a zip archive, so it has no member "
                            f"{', '.join(members)}; delete it and download it again")
    else:
        shutil.copy2(archive, dest / (file_name or Path(archive).name))
