"""Images and saliency maps: decoding (EXIF orientation applied), the native-size
guard, and 8/16-bit map PNGs (written atomically, see :mod:`quickgaze.io.files`)."""

from __future__ import annotations

import errno
import os

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageOps

from quickgaze.io.files import atomic_path


class ImageReadError(ValueError):
    """An image or map file that cannot be decoded; the message names the file."""


def broken_link(path: str | os.PathLike) -> str:
    """Why ``path`` is a symbolic link that cannot be read through: a dangling
    link (its target does not exist) or a loop; "" when it is no such link."""
    try:
        os.stat(path)
        return ""
    except OSError as err:
        if not os.path.islink(path):
            return ""
        target = os.readlink(path)
        if err.errno == errno.ELOOP:
            return f"a symbolic link loop (-> '{target}')"
        return f"a dangling symbolic link (its target '{target}' does not exist)"


def _cannot(path: str | os.PathLike, what: str, err: Exception) -> str:
    """The message of an image that cannot be read: a broken link says so."""
    link = broken_link(path)
    return f"{path}: cannot {what}: {link}" if link else \
        f"{path}: cannot {what} ({type(err).__name__}: {err})"


# EXIF tag 0x0112; values 5-8 turn the stored image by 90 degrees for display.
ORIENTATION_TAG = 0x0112
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
# Default of ``native_max_pixels``: images above it are downscaled for
# ``input_scale: native``. Measured (fasterrcnn_resnet50_fpn, CPU, 2 threads):
# a 48-megapixel image downscaled to 8 MP peaked at 4.9 GB RSS, to 4 MP at
# 3.0 GB (including the 48 MP decode and the model), so 4 MP keeps a CAM job
# under 4 GB.
NATIVE_MAX_PIXELS = 4_000_000


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation of an open image (1 without one or for an undefined
    value). An EXIF block Pillow cannot parse raises, so the caller's
    ImageReadError names the file rather than the stored orientation being
    guessed."""
    value = int(im.getexif().get(ORIENTATION_TAG, 1))
    return value if 1 <= value <= 8 else 1


def image_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation (1-8) of an image file; 1 when it has none."""
    try:
        with Image.open(path) as im:
            return _orientation(im)
    except Exception as err:  # Pillow raises many types for bad files
        raise ImageReadError(_cannot(path, "read image header", err)) from err


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB, in its displayed orientation.

    Returns a ``(H, W, 3)`` uint8 array. An EXIF orientation tag is applied
    (the pixels are rotated or mirrored as a viewer shows them, so a phone
    photo's fixations, recorded on the displayed image, fit). Every Pillow mode is converted to
    RGB (grayscale repeated, alpha dropped, CMYK and palettes converted);
    16-bit grayscale is scaled to 8 bit first. A truncated or undecodable file
    raises ImageReadError naming the file.
    """
    try:
        with Image.open(path) as opened:
            opened.load()
            im = ImageOps.exif_transpose(opened) if _orientation(opened) != 1 else opened
            if im.mode.startswith("I"):  # 16/32-bit integer grayscale
                gray = np.asarray(im).astype(np.float64)
                top = 65535.0 if gray.max() > 255 or im.mode.startswith("I;16") else 255.0
                gray = np.round(gray / top * 255.0).clip(0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
            return np.array(im.convert("RGB"))  # a writable copy (torch.from_numpy)
    except Exception as err:  # Pillow raises many types for bad files
        raise ImageReadError(_cannot(path, "decode image", err)) from err


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file as displayed (EXIF orientation applied, as
    :func:`read_rgb` reads it), from its header; ImageReadError if unreadable."""
    try:
        with Image.open(path) as im:
            if _orientation(im) in TRANSPOSING_ORIENTATIONS:
                return im.width, im.height
            return im.height, im.width
    except Exception as err:  # Pillow raises many types for bad files
        raise ImageReadError(_cannot(path, "read image header", err)) from err


def native_size_guard(image: np.ndarray, path: str | os.PathLike, max_pixels: int | None,
                      oversize: str = "downscale") -> tuple[np.ndarray, str]:
    """The image a CAM at ``input_scale: native`` is computed on, and a note.

    An ``(H, W, 3)`` uint8 image above ``max_pixels`` pixels (None: no limit)
    is downscaled to at most ``max_pixels`` with ``oversize: downscale``
    (aspect kept, each side scaled by the same factor and rounded down,
    Pillow's Lanczos filter with antialiasing; the note says from and to what
    size, for the record), or refused with ``oversize: refuse``
    (ImageReadError naming the file, its size and the key). A CAM's extent is
    in grid cells, so a downscaled image's CAM maps onto the ground truth as
    before. The note is "" when the image is unchanged.
    """
    h, w = image.shape[:2]
    if max_pixels is None or h * w <= max_pixels:
        return image, ""
    size = f"{h}x{w} ({h * w / 1e6:.1f} megapixels)"
    if oversize == "refuse":
        raise ImageReadError(f"{path}: {size} is above native_max_pixels ({max_pixels}) for "
                             f"input_scale: native; set native_oversize: downscale, raise "
                             f"native_max_pixels, or use input_scale: detector")
    if oversize != "downscale":
        raise ValueError(f"native_oversize '{oversize}' unknown; allowed: downscale, refuse")
    factor = (max_pixels / (h * w)) ** 0.5
    new = (max(1, int(w * factor)), max(1, int(h * factor)))
    small = Image.fromarray(image).resize(new, Image.Resampling.LANCZOS, reducing_gap=2.0)
    note = (f"image {size} downscaled to {new[1]}x{new[0]} for input_scale: native "
            f"(native_max_pixels {max_pixels})")
    return np.array(small), note


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
