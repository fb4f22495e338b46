"""Numpy resampling against torch's bilinear interpolation, which it replaces in CPU jobs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from quickgaze.maps.resampling import bilinear_resize, cam_resampling, cam_to_image, minmax
from quickgaze.maps.smoothing import gaussian_smooth, gaussian_smooth_factored


def torch_bilinear(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape, mode="bilinear")[0, 0].numpy()


@pytest.mark.parametrize("src, dst", [
    ((25, 34), (480, 640)),    # pool-grid CAM to a SALICON image
    ((100, 136), (480, 640)),  # finest FPN grid
    ((240, 320), (480, 640)),  # half-size ground-truth map
    ((480, 640), (240, 320)),  # shrinking, no antialias
    ((7, 5), (13, 29)),        # odd ratios, both directions
    ((1, 1), (3, 4)),
])
def test_bilinear_resize_matches_torch(src, dst):
    m = np.random.default_rng(0).random(src).astype(np.float32)
    ours = bilinear_resize(m, dst)
    assert ours.shape == dst and ours.dtype == np.float32
    np.testing.assert_allclose(ours, torch_bilinear(m, dst), atol=1e-5)


def test_cam_to_image_crops_the_padding_and_normalises():
    rng = np.random.default_rng(1)
    cam = rng.random((25, 34)).astype(np.float32)
    extent = (25 * 480 / 500, 34.0)  # the image covers 96% of the grid's rows
    out = cam_to_image(cam, extent, (480, 640))
    full = torch_bilinear(cam, (500, 640))[:480]  # the grid at 500 rows, padding cut off
    np.testing.assert_allclose(out, (full - full.min()) / (full.max() - full.min() + 1e-7),
                               atol=1e-5)
    assert out.min() == 0 and 0.999 < out.max() < 1


def test_minmax_is_gradcams_scale():
    x = np.array([2.0, 4.0, 6.0], np.float32)
    np.testing.assert_allclose(minmax(x), (x - 2) / (4 + 1e-7))


def test_cpu_jobs_do_not_import_torch():
    code = "import sys, quickgaze.pipeline.scoring, quickgaze.report.figures; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("sigma", [0, 3.5, 19])
def test_factored_smoothing_equals_smoothing_the_map(sigma):
    rng = np.random.default_rng(2)
    cam = rng.random((25, 34)).astype(np.float32)
    extent = (24.3, 34.0)
    rows, cols = cam_resampling(cam.shape, extent, (480, 640))
    expected = gaussian_smooth(cam_to_image(cam, extent, (480, 640)), sigma)
    np.testing.assert_allclose(gaussian_smooth_factored(rows, cam, cols, sigma), expected,
                               atol=1e-5)
