"""Image, map and record IO, with atomic writes.

Every per-image file is written to a temporary name in the same directory
and renamed into place, so a killed job never leaves a truncated file that a
rerun would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from PIL import Image

_UMASK = os.umask(0)
os.umask(_UMASK)


class ImageReadError(ValueError):
    """An image or map file that cannot be decoded; the message names the file."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*"):  # from a killed writer
        leftover.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB.

    Returns a ``(H, W, 3)`` uint8 array. Every Pillow mode is converted to
    RGB (grayscale repeated, alpha dropped, CMYK and palettes converted);
    16-bit grayscale is scaled to 8 bit first. A truncated or undecodable file
    raises ImageReadError naming the file.
    """
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith("I"):  # 16/32-bit integer grayscale
                gray = np.asarray(im).astype(np.float64)
                top = 65535.0 if gray.max() > 255 or im.mode.startswith("I;16") else 255.0
                gray = np.round(gray / top * 255.0).clip(0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
            return np.array(im.convert("RGB"))  # a writable copy (torch.from_numpy)
    except Exception as err:  # Pillow raises many types for bad files
        raise ImageReadError(f"{path}: cannot decode image ({type(err).__name__}: {err})") from err


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file, from its header; ImageReadError if unreadable."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except Exception as err:  # Pillow raises many types for bad files
        raise ImageReadError(f"{path}: cannot read image header ({type(err).__name__}: {err})") from err


def read_map(path: str | os.PathLike) -> np.ndarray:
    """Read a saliency map PNG as a ``(H, W)`` float32 array in [0, 1].

    8-bit maps are divided by 255, 16-bit maps by 65535; colour maps are
    averaged over channels.
    """
    try:
        m = np.asarray(iio.imread(path))
    except Exception as err:
        raise ImageReadError(f"{path}: cannot decode map ({err})") from err
    scale = 65535.0 if m.dtype == np.uint16 else 255.0
    m = m.astype(np.float32) / scale
    if m.ndim == 3:
        m = m[:, :, :3].mean(axis=2)
    return m


def write_map_png(path: str | os.PathLike, saliency: np.ndarray, bits: int = 8) -> None:
    """Write a ``(H, W)`` map with values in [0, 1] as an 8- or 16-bit grayscale PNG.

    8 bits (SALICON's own map format) keep files near 50 KB at 480x640.
    """
    top, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    q = np.round(np.clip(saliency, 0.0, 1.0) * top).astype(dtype)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, q, extension=".png")


def write_json(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write a JSON record atomically (NaN written as null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_nan_to_none(record), indent=1, sort_keys=True))


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
