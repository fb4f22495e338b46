"""Image and map IO: formats real data comes in, atomic writes."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from quickgaze.io.files import atomic_path
from quickgaze.io.images import ImageReadError, read_map, read_rgb, write_map_png


def test_read_rgb_converts_grayscale_rgba_and_16_bit(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    iio.imwrite(tmp_path / "gray.png", gray)
    out = read_rgb(tmp_path / "gray.png")
    assert out.shape == (6, 8, 3) and (out[..., 1] == gray).all()

    rgba = rng.integers(0, 256, (6, 8, 4), dtype=np.uint8)
    iio.imwrite(tmp_path / "rgba.png", rgba)
    assert (read_rgb(tmp_path / "rgba.png") == rgba[..., :3]).all()

    deep = (rng.integers(0, 256, (6, 8)) * 257).astype(np.uint16)  # 16-bit grayscale PNG
    iio.imwrite(tmp_path / "deep.png", deep)
    assert (read_rgb(tmp_path / "deep.png") == (deep // 257)[..., None]).all()


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_undecodable_files_raise_an_error_naming_the_file(tmp_path, content):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_rgb(bad)


def test_map_png_round_trip_8_and_16_bit(tmp_path):
    m = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    write_map_png(tmp_path / "m8.png", m)
    write_map_png(tmp_path / "m16.png", m, bits=16)
    assert np.abs(read_map(tmp_path / "m8.png") - m).max() <= 0.5 / 255 + 1e-6
    assert np.abs(read_map(tmp_path / "m16.png") - m).max() <= 0.5 / 65535 + 1e-6


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
