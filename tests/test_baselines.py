"""Baselines (centre bias, uniform), dataset fixation statistics, and their run
through the real workflow as pseudo-variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quickgaze.io.files import read_json
from quickgaze.io.records import save_npz
from quickgaze.pipeline.baseline_job import evaluate_baseline_image
from quickgaze.saliency import metrics as M
from quickgaze.saliency.baselines import (
    centre_bias_map,
    fit_centre_bias,
    fit_centre_bias_from_maps,
)
from quickgaze.saliency.ceiling import CEILINGS
from quickgaze.saliency.fixation_stats import (
    fixation_stats,
    load_fixation_stats,
    save_fixation_stats,
)
from quickgaze.saliency.fixations import load_fixations, saliency_from_fixations, valid_points
from quickgaze.saliency.metrics import METRICS

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
    sr, sc = fit_centre_bias(samples, alpha=0)
    assert sr == pytest.approx(0.12, rel=0.02)
    assert sc == pytest.approx(0.15, rel=0.02)


def test_fit_recovers_the_truncated_mixture_that_information_gain_scores():
    """Issue 12, item 5: fixations drawn from exactly the density IG reads the
    centre bias as (a wide Gaussian truncated to the image and normalised on
    its grid, mixed with the uniform share) give back its width; the root mean
    squared offset (the untruncated Gaussian's fit) is far too narrow."""
    shape, sigma = (480, 640), (0.3, 0.35)
    q = M.density(centre_bias_map(shape, sigma))
    rng = np.random.default_rng(1)
    samples = [(np.stack(np.divmod(rng.choice(q.size, 3000, p=q.ravel()), shape[1]), axis=1),
                shape) for _ in range(20)]
    sr, sc = fit_centre_bias(samples)
    assert sr == pytest.approx(sigma[0], rel=0.03)
    assert sc == pytest.approx(sigma[1], rel=0.03)


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
    assert stats.sigma_source == "maps" and stats.images == ()
    assert len(stats.other_fixated("a", (40, 50))) == 0
    assert stats.centre_bias_for("a") == stats.centre_bias_sigma


def test_centre_bias_map_peaks_at_the_centre():
    m = centre_bias_map((480, 640), (0.2, 0.25))
    assert m.shape == (480, 640) and m.dtype == np.float32
    assert np.unravel_index(np.argmax(m), m.shape) in {(239, 319), (239, 320), (240, 319),
                                                       (240, 320)}
    np.testing.assert_allclose(m, m[::-1, ::-1], atol=1e-7)  # symmetric
    assert m.max() == pytest.approx(1.0, abs=1e-4)  # the centre lies between pixels


def test_shuffled_auc_others_are_drawn_per_image_seeded_never_itself(tmp_path):
    """Issue 12, item 6: every image draws its own seeded set of other images
    (MIT's protocol), not one pool for the dataset."""
    shape = (30, 40)
    points = {f"img{k}": (np.array([[k, k], [k, 2 * k]]), shape) for k in range(12)}
    stats = fixation_stats(points, None, [0.2, 0.3], n_others=3, seed=5)
    assert stats.centre_bias_sigma == (0.2, 0.3) and stats.sigma_source == "config"
    assert stats.centre_bias_for("img3") == (0.2, 0.3)
    draws = {i: stats.other_images(i) for i in points}
    assert all(len(d) == 3 and i not in d and len(set(d)) == 3 for i, d in draws.items())
    assert len(set(draws.values())) > 6  # different images, different others
    again = fixation_stats(points, None, [0.2, 0.3], n_others=3, seed=5)
    assert {i: again.other_images(i) for i in points} == draws  # same seed, same sets
    other_seed = fixation_stats(points, None, [0.2, 0.3], n_others=3, seed=6)
    assert {i: other_seed.other_images(i) for i in points} != draws
    assert fixation_stats(points, None, [0.2, 0.3], 20, 5).other_images("img0") == tuple(
        i for i in sorted(points) if i != "img0")  # fewer images than asked: all others
    expected = {r * shape[1] + c for i in draws["img0"] for r, c in points[i][0]}
    assert set(stats.other_fixated("img0", shape)) == expected
    # Saved with the ground-truth records as sources: the same draws and pixels.
    sources = {}
    for i, (pts, shp) in points.items():
        sources[i] = str(tmp_path / f"{i}.npz")
        save_npz(sources[i], points=pts.astype(np.int32), shape=np.array(shp))
    stats = fixation_stats(points, None, [0.2, 0.3], 3, 5, sources=sources)
    save_fixation_stats(tmp_path / "s.npz", stats)
    back = load_fixation_stats(tmp_path / "s.npz")
    assert back.digest == stats.digest and back.images == stats.images
    assert back.other_images("img0") == draws["img0"]
    assert set(back.other_fixated("img0", shape)) == expected
    moved = dict(points, img1=(np.array([[0, 0]]), shape))
    assert fixation_stats(moved, None, [0.2, 0.3], 3, 5, sources=sources).digest != stats.digest
    with pytest.raises(ValueError, match="centre_bias_sigma"):
        fixation_stats(points, None, -1.0, 3, 5)


SHAPE = (480, 640)


@pytest.fixture(scope="module")
def real_points(salicon_examples):
    ids = sorted(p.stem for p in (salicon_examples / "images").glob("*.jpg"))
    parsed = load_fixations(salicon_examples / "fixations_train2014examples.json", "auto", ids)
    return {i: (valid_points(parsed[i], SHAPE)[0], SHAPE) for i in ids}


def mean_log_likelihood(sigma, images, points):
    """Mean over ``images`` of the mean log2 density, at their fixated pixels, of
    the centre-bias map as information gain reads it."""
    q = M.density(centre_bias_map(SHAPE, sigma)).ravel()
    return np.mean([np.log2(q[M.fixated_indices(points[i][0], SHAPE)]).mean() for i in images])


def test_held_out_centre_bias_maximises_the_held_out_likelihood(real_points):
    """Issue 12, item 5: on the ten real SALICON images each image's width is
    fitted leave-one-out, and maximises the likelihood of the other nine under
    the density IG scores (1% narrower or wider on either axis is worse)."""
    stats = fixation_stats(real_points, None, "fit", n_others=10, seed=0)
    assert stats.sigma_source == "fixations" and len(stats.fold_sigma) == len(real_points)
    widths = set()
    for image in real_points:
        sigma = stats.centre_bias_for(image)
        widths.add(sigma)
        others = [i for i in real_points if i != image]
        best = mean_log_likelihood(sigma, others, real_points)
        for axis in (0, 1):
            for factor in (0.99, 1.01):
                moved = list(sigma)
                moved[axis] *= factor
                assert mean_log_likelihood(moved, others, real_points) < best, (image, moved)
    assert len(widths) == len(real_points)  # each fitted without its own image
    assert stats.centre_bias_sigma not in widths


def test_centre_bias_scores_zero_information_gain_against_itself(real_points):
    """The centre-bias baseline and the IG reference of an image are the same
    held-out map: IG exactly 0, although the full-data width would not give 0."""
    stats = fixation_stats(real_points, None, "fit", n_others=10, seed=0)
    for image, (pts, shape) in list(real_points.items())[:3]:
        gt = saliency_from_fixations(pts, shape)
        truth = {"map": np.round(gt * 255).astype(np.uint8), "points": pts, "n_dropped": 0,
                 "map_source": "fixations", "warnings": "", "error": ""}
        record = evaluate_baseline_image("centre_bias", truth, 19.0, stats, image, seed=0)
        assert record["info_gain_raw"] == 0.0
        held_out = centre_bias_map(shape, stats.centre_bias_for(image))
        full = centre_bias_map(shape, stats.centre_bias_sigma)
        assert abs(M.info_gain(held_out, M.fixated_indices(pts, shape), full)) > 1e-4
        uniform = evaluate_baseline_image("uniform", truth, 19.0, stats, image, seed=0)
        assert uniform["info_gain_raw"] < 0  # the held-out centre bias still predicts


# Record keys a pseudo-variant's table need not repeat: the CAM's files, and the
# provenance dict, which the tables hold flattened (provenance_* columns).
NOT_SHARED = {"cam_path", "smooth_path", "input_tokens", "output_tokens", "provenance"}


@pytest.mark.slow
def test_workflow_scores_baselines_like_variants(tmp_path):
    write_config(tmp_path, {"dataset": {"demo": {"n_images": 3}}, "batch_size": 3,
                            "figure_formats": ["png", "pdf", "svg"],
                            "ceiling": {"names": list(CEILINGS)}},
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
        assert set(variant) - NOT_SHARED <= set(table.columns) | {"fingerprint"}
        assert (results / baseline / "ranking.csv").exists()
    uniform = pd.read_parquet(results / "uniform" / "metrics.parquet")
    assert (uniform["auc_judd_raw"] == 0.5).all() and (uniform["nss_raw"] == 0.0).all()
    assert (uniform["cc_raw"] == 0.0).all()
    centre = pd.read_parquet(results / "centre_bias" / "metrics.parquet")
    assert (centre["info_gain_raw"].abs() < 1e-12).all()  # the IG baseline is itself
    assert (centre["auc_judd_raw"] > 0.5).all()
    # Chance level against the centre bias: the uniform map loses information.
    assert (uniform["info_gain_raw"] < 0).all()
    # The demo names its observers (40 per image), so the human ceiling is there too,
    # with the variant's keys, in the analysis and the comparison.
    for ceiling in ("humans", "one_human", "infinite_humans"):
        table = pd.read_parquet(results / ceiling / "metrics.parquet")
        assert (table["status"] == "ok").all(), table["error"].tolist()
        assert (table["n_observers"] == 40).all()
        assert set(variant) - NOT_SHARED <= set(table.columns) | {"fingerprint"}
        assert (results / ceiling / "summary.csv").exists()
    humans = pd.read_parquet(results / "humans" / "metrics.parquet")
    assert (humans["cc_raw"] > centre["cc_raw"]).all()
    means = pd.read_csv(results / "comparison" / "means.csv")
    assert set(means.loc[means["kind"] == "ceiling", "name"]) == {"humans", "one_human",
                                                                  "infinite_humans"}
    share = pd.read_csv(results / "comparison" / "share_of_gap.csv")
    assert set(share["name"]) == {"fast"} and (share["n"] == 3).all()
    # The headline: every name, the ceiling included, in the table and the figure's files.
    headline = (results / "comparison" / "headline.md").read_text().split("\n\n")[0]
    headline = headline.splitlines()  # the table, without its caption line
    assert [line.split(" | ")[0].lstrip("| ") for line in headline[2:]] == [
        "fast", "centre_bias", "uniform", "humans", "one_human", "infinite_humans"]
    humans_cc = means.set_index(["name", "metric"]).loc[("humans", "cc_smooth"), "mean"]
    assert f"| humans | ceiling | 3 | {humans_cc:.3f} [" in headline[5]
    assert "humans & ceiling & 3 &" in (results / "comparison" / "headline.tex").read_text()
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")):
        assert (results / "comparison" / f"headline.{fmt}").read_bytes().startswith(magic)
