"""Baselines (centre bias, uniform), dataset fixation statistics, and their run
through the real workflow as pseudo-variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quickgaze.baselines import (
    centre_bias_map,
    fit_centre_bias,
    fit_centre_bias_from_maps,
    fixation_stats,
    load_fixation_stats,
    save_fixation_stats,
)
from quickgaze.io import read_json
from quickgaze.metrics import METRICS

from conftest import FAST_VARIANT, snakemake, write_config


def test_fit_centre_bias_recovers_a_known_gaussian():
    rng = np.random.default_rng(0)
    shape = (480, 640)
    samples = []
    for _ in range(20):
        # Narrow enough (4 sigma to the edge) that the image border trims nothing.
        pts = rng.normal((239.5, 319.5), (0.12 * 480, 0.15 * 640), size=(2000, 2)) - 0.5
        pts = np.round(pts).astype(int)
        inside = (pts >= 0).all(axis=1) & (pts[:, 0] < 480) & (pts[:, 1] < 640)
        samples.append((pts[inside], shape))
    sr, sc = fit_centre_bias(samples)
    assert sr == pytest.approx(0.12, rel=0.02)
    assert sc == pytest.approx(0.15, rel=0.02)


def test_fit_from_maps_matches_the_map_it_came_from():
    m = centre_bias_map((120, 160), (0.15, 0.1))
    sr, sc = fit_centre_bias_from_maps([m, m])
    assert sr == pytest.approx(0.15, rel=0.02)
    assert sc == pytest.approx(0.1, rel=0.02)


def test_no_fixation_anywhere_fits_on_maps_or_fails_clearly():
    empty = {"a": (np.zeros((0, 2), int), (40, 50))}
    with pytest.raises(ValueError, match="no fixation"):
        fixation_stats(empty, None, "fit", n_others=10, seed=0)
    stats = fixation_stats(empty, [centre_bias_map((40, 50), (0.2, 0.3))], "fit", 10, 0)
    assert stats.sigma_source == "maps" and len(stats.pool_points) == 0
    assert len(stats.other_fixated("a", (40, 50))) == 0


def test_centre_bias_map_peaks_at_the_centre():
    m = centre_bias_map((480, 640), (0.2, 0.25))
    assert m.shape == (480, 640) and m.dtype == np.float32
    assert np.unravel_index(np.argmax(m), m.shape) in {(239, 319), (239, 320), (240, 319),
                                                       (240, 320)}
    np.testing.assert_allclose(m, m[::-1, ::-1], atol=1e-7)  # symmetric
    assert m.max() == pytest.approx(1.0, abs=1e-4)  # the centre lies between pixels


def test_pool_excludes_the_image_itself_seeded_and_round_trips(tmp_path):
    shape = (30, 40)
    points = {f"img{k}": (np.array([[k, k], [k, 2 * k]]), shape) for k in range(8)}
    stats = fixation_stats(points, None, [0.2, 0.3], n_others=3, seed=5)
    assert stats.centre_bias_sigma == (0.2, 0.3) and stats.sigma_source == "config"
    assert len(stats.pool_images) == 4
    assert stats.pool_images == fixation_stats(points, None, [0.2, 0.3], 3, 5).pool_images
    assert stats.pool_images != fixation_stats(points, None, [0.2, 0.3], 3, 6).pool_images
    member = stats.pool_images[0]
    others = [i for i in stats.pool_images if i != member]
    expected = {r * shape[1] + c for i in others for r, c in points[i][0]}
    assert set(stats.other_fixated(member, shape)) == expected
    outsider = next(i for i in points if i not in stats.pool_images)
    assert len(set(stats.other_fixated(outsider, shape))) == len(
        {r * shape[1] + c for i in stats.pool_images[:3] for r, c in points[i][0]})
    save_fixation_stats(tmp_path / "s.npz", stats)
    back = load_fixation_stats(tmp_path / "s.npz")
    assert back.digest == stats.digest and back.pool_images == stats.pool_images
    with pytest.raises(ValueError, match="centre_bias_sigma"):
        fixation_stats(points, None, -1.0, 3, 5)


@pytest.mark.slow
def test_workflow_scores_baselines_like_variants(tmp_path):
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 3}}, "batch_size": 3},
                 replace_variants={"fast": FAST_VARIANT})
    snakemake(tmp_path)
    results = tmp_path / "results" / "demo"
    variant = read_json(results / "fast" / "metrics" / "demo_000.json")
    expected = {f"{m}_{kind}" for m in METRICS for kind in ("raw", "smooth")}
    assert expected <= set(variant)
    stats = load_fixation_stats(results / "fixation_stats.npz")
    assert stats.sigma_source == "fixations"
    for baseline in ("centre_bias", "uniform"):
        table = pd.read_parquet(results / baseline / "metrics.parquet")
        assert list(table["image"]) == ["demo_000", "demo_001", "demo_002"]
        assert set(variant) - {"cam_path", "smooth_path", "input_tokens"} <= set(table.columns) | {
            "fingerprint"}
        assert (results / baseline / "ranking.csv").exists()
    uniform = pd.read_parquet(results / "uniform" / "metrics.parquet")
    assert (uniform["auc_judd_raw"] == 0.5).all() and (uniform["nss_raw"] == 0.0).all()
    assert (uniform["cc_raw"] == 0.0).all()
    centre = pd.read_parquet(results / "centre_bias" / "metrics.parquet")
    assert (centre["info_gain_raw"].abs() < 1e-12).all()  # the IG baseline is itself
    assert (centre["auc_judd_raw"] > 0.5).all()
    # Chance level against the centre bias: the uniform map loses information.
    assert (uniform["info_gain_raw"] < 0).all()
