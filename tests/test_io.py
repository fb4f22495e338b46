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


def _truncate(path, keep):
    with open(path, "r+b") as fh:
        fh.truncate(keep)


@pytest.mark.parametrize("keep", [0, 10, 0.5, -30])
def test_a_truncated_record_or_map_raises_an_error_naming_it(tmp_path, keep):
    """As a crash mid-copy leaves them: every reader of a record or map names the file."""
    from quickgaze.io.files import DamagedFileError, read_json, write_json
    from quickgaze.io.records import load_npz, save_npz
    from quickgaze.saliency.fixation_stats import load_fixation_stats

    npz, js, png = tmp_path / "rec.npz", tmp_path / "rec.json", tmp_path / "smooth.png"
    save_npz(npz, cam=np.random.default_rng(0).random((30, 40)), error="")
    write_json(js, {"image": "a", "auc_raw": 0.5, "warnings": "x" * 100})
    write_map_png(png, np.random.default_rng(1).random((30, 40)))
    for path in (npz, js, png):
        size = path.stat().st_size
        _truncate(path, int(keep * size) if isinstance(keep, float) else keep % size)
    for read in (load_npz, lambda p: load_npz(p, ("cam",)), load_fixation_stats):
        with pytest.raises(DamagedFileError, match=f"{npz}: cannot be read as a .npz record"):
            read(npz)
    with pytest.raises(DamagedFileError, match=f"{js}: cannot be read as a JSON record"):
        read_json(js)
    with pytest.raises(ImageReadError, match=f"{png}: cannot decode map"):
        read_map(png)


def test_load_npz_names_the_file_of_a_missing_key(tmp_path):
    from quickgaze.io.records import load_npz, save_npz

    save_npz(tmp_path / "rec.npz", cam=np.zeros(2))
    assert set(load_npz(tmp_path / "rec.npz", ("cam",))) == {"cam"}
    with pytest.raises(KeyError, match="rec.npz: record has no 'points'"):
        load_npz(tmp_path / "rec.npz", ("cam", "points"))
