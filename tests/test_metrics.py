"""Saliency metrics: identities, loops transcribed from the MIT benchmark code,
and pysaliency as an independent reference on the real SALICON examples."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from scipy.stats import spearmanr

from quickgaze.maps.smoothing import gaussian_smooth
from quickgaze.saliency import metrics as M
from quickgaze.saliency.baselines import centre_bias_map
from quickgaze.saliency.fixations import load_fixations, saliency_from_fixations, valid_points

from conftest import PYSALIENCY_REFERENCE, pysaliency_python

SHAPE = (480, 640)
EPS = 2.2204e-16


def smooth_random(shape, seed, sigma=6.0):
    return gaussian_smooth(np.random.default_rng(seed).random(shape), sigma).astype(np.float64)


@pytest.fixture(scope="module")
def real(salicon_examples):
    """Real SALICON examples: ground truth of the first image, fixated pixels, the
    other images' fixated pixels, and prediction maps that are not the truth."""
    ids = sorted(p.stem for p in (salicon_examples / "images").glob("*.jpg"))
    parsed = load_fixations(salicon_examples / "fixations_train2014examples.json", "auto", ids)
    points = [valid_points(parsed[i], SHAPE)[0] for i in ids]
    gt = np.round(saliency_from_fixations(points[0], SHAPE) * 255) / 255.0
    other = np.concatenate([M.fixated_indices(p, SHAPE) for p in points[1:]])
    preds = {
        "other_image_gt": saliency_from_fixations(points[1], SHAPE).astype(np.float64),
        "centre_bias": centre_bias_map(SHAPE, (0.2, 0.25)).astype(np.float64),
        "smooth_random": smooth_random(SHAPE, 0, sigma=15),
    }
    return {"gt": gt, "points": points[0], "other": other, "preds": preds, "all_points": points}


# Identities ----------------------------------------------------------------------------


def test_cc_identities():
    a, b = smooth_random((40, 50), 1), smooth_random((40, 50), 2)
    assert M.cc(a, a) == pytest.approx(1.0)
    assert M.cc(a, -a) == pytest.approx(-1.0)
    assert M.cc(3.0 * a + 7.0, b) == pytest.approx(M.cc(a, b), abs=1e-12)
    assert M.cc(np.ones_like(a), b) == 0.0  # a constant prediction carries nothing
    assert np.isnan(M.cc(np.ones_like(a), np.ones_like(a)))


def test_nss_affine_invariant_and_constant():
    a = smooth_random((40, 50), 3)
    fixated = M.fixated_indices(np.array([[5, 5], [20, 30], [20, 30], [39, 49]]), a.shape)
    assert len(fixated) == 3  # duplicates count once: the binary fixation map
    assert M.nss(2.5 * a - 1.0, fixated) == pytest.approx(M.nss(a, fixated), abs=1e-12)
    assert M.nss(np.full(a.shape, 0.3), fixated) == 0.0
    expected = (a.ravel()[fixated].mean() - a.mean()) / a.std()
    assert M.nss(a, fixated) == pytest.approx(expected)
    assert np.isnan(M.nss(a, np.zeros(0, np.int64)))


def test_auc_perfect_constant_and_inverted():
    shape = (30, 40)
    rng = np.random.default_rng(4)
    points = np.stack([rng.integers(0, 30, 50), rng.integers(0, 40, 50)], axis=1)
    fixated = M.fixated_indices(points, shape)
    perfect = np.zeros(shape)
    perfect.ravel()[fixated] = 1.0
    constant = np.full(shape, 0.4)
    negatives = M.shuffled_negatives(np.arange(0, 1200, 7), len(fixated), seed=1)
    assert M.auc_judd(perfect, fixated) == 1.0
    assert M.auc_judd(constant, fixated) == 0.5
    # Thresholds sit only at fixated values: a map putting every fixation at its
    # minimum reaches (1, 1) in one step, 0.5, as in the MIT code.
    assert M.auc_judd(1.0 - perfect, fixated) == 0.5
    assert M.auc_borji(constant, fixated, seed=0) == 0.5
    assert M.sauc(constant, fixated, negatives) == 0.5
    assert M.auc_borji(perfect, fixated, seed=0) > 0.9  # negatives may hit fixated pixels


def test_distribution_identities():
    a, b = smooth_random((40, 50), 5), smooth_random((40, 50), 6)
    assert M.sim(a, a) == pytest.approx(1.0)
    assert 0.0 < M.sim(a, b) < 1.0
    assert M.kld(a, a) == pytest.approx(0.0, abs=1e-12)
    assert M.kld(a, b) > 0.0
    assert M.spearman(np.exp(5 * a), a) == pytest.approx(1.0)  # monotone -> 1
    assert M.mae(a, a) == pytest.approx(M.mae(2 * a + 1, a))  # prediction min-maxed first
    fixated = np.array([10, 500, 1500])
    assert M.info_gain(a, fixated, a) == 0.0
    assert M.info_gain(a, fixated, 4 * a) == pytest.approx(0.0, abs=1e-12)  # scale-free
    assert M.info_gain(a, fixated, 4 * a + 2) != pytest.approx(0.0)  # a flatter density


def test_density_is_the_map_mixed_with_a_stated_uniform():
    a = smooth_random((40, 50), 12)
    q = M.density(a)
    assert q.sum() == pytest.approx(1.0, abs=1e-12)
    assert q.min() == pytest.approx(M.DENSITY_ALPHA / a.size)  # a has an exact zero
    np.testing.assert_allclose(q, (1 - M.DENSITY_ALPHA) * a / a.sum() + M.DENSITY_ALPHA / a.size)
    np.testing.assert_allclose(M.density(a, alpha=0), a / a.sum())
    b = a + 0.5  # no min-max shift: the map's own values are its density
    np.testing.assert_allclose(M.density(b, alpha=0), b / b.sum())
    fixated = np.array([10, 500, 1500])
    assert M.info_gain(b, fixated, b) == 0.0
    assert M.info_gain(b, fixated, a) != pytest.approx(0.0)
    assert M.kld(b, b) == pytest.approx(0.0, abs=1e-12)


def sparse_cam(seed: int, shape=SHAPE) -> np.ndarray:
    """A raw-CAM-like map: a ReLU'd 25x34 grid upsampled to the image, about a
    third of its pixels exactly zero."""
    from quickgaze.maps.resampling import cam_to_image

    grid = np.maximum(np.random.default_rng(seed).normal(size=(25, 34)) - 0.6, 0)
    return cam_to_image(grid.astype(np.float32), (25, 34), shape).astype(np.float64)


def test_information_gain_and_kld_do_not_measure_the_epsilon(real):
    """Issue 12, item 4: on the ten real SALICON images, a sparse raw CAM's IG
    (against the centre bias) and KLD move by less than 0.01 bits / nats when
    the epsilon goes from 1e-16 to 1e-9 (the MIT normalisation moved IG by
    several bits), and the smoothed map's IG stays finite and close."""
    base = real["preds"]["centre_bias"]
    on_zero = []
    for k, pts in enumerate(real["all_points"]):
        f = M.fixated_indices(pts, SHAPE)
        raw = sparse_cam(k)
        on_zero.append(np.mean(raw.ravel()[f] == 0))
        ig = [M.info_gain(raw, f, base, eps=eps) for eps in (1e-16, 1e-9)]
        assert abs(ig[0] - ig[1]) < 0.01, (k, ig)
        gt = saliency_from_fixations(pts, SHAPE)
        kl = [M.kld(raw, gt, eps=eps) for eps in (1e-16, 1e-9)]
        assert abs(kl[0] - kl[1]) < 0.01, (k, kl)
        smooth = gaussian_smooth(raw, 19)
        assert abs(M.info_gain(smooth, f, base, eps=1e-16)
                   - M.info_gain(smooth, f, base, eps=1e-9)) < 1e-3
    assert np.mean(on_zero) > 0.25  # the maps put many fixations on exact zeros


def test_average_ranks_match_scipy():
    values = np.round(np.random.default_rng(7).random(1000) * 20)  # many ties
    from scipy.stats import rankdata

    np.testing.assert_array_equal(M.average_ranks(values), rankdata(values))


def test_saliency_metrics_equal_the_single_functions(real):
    gt, pred = real["gt"], real["preds"]["smooth_random"]
    truth = M.prepare_truth(gt, real["points"], real["other"], real["preds"]["centre_bias"],
                            seed=11)
    got = M.saliency_metrics(pred, truth)
    f = truth.fixated
    single = {"cc": M.cc(pred, gt), "kld": M.kld(pred, gt), "sim": M.sim(pred, gt),
              "cc_mask": M.cc_mask(pred, gt), "mae": M.mae(pred, gt), "mse": M.mse(pred, gt),
              "spearman": M.spearman(pred, gt), "nss": M.nss(pred, f),
              "auc_judd": M.auc_judd(pred, f), "auc_borji": M.auc_borji(pred, f, seed=11),
              "sauc": M.sauc(pred, f, truth.shuffled),
              "info_gain": M.info_gain(pred, f, real["preds"]["centre_bias"])}
    assert set(got) == set(M.METRICS) == set(single)
    for name, value in single.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert got["spearman"] == pytest.approx(spearmanr(pred.ravel(), gt.ravel())[0], abs=1e-9)


def test_maps_only_truth_has_nan_fixation_metrics():
    a, b = smooth_random((30, 40), 8), smooth_random((30, 40), 9)
    got = M.saliency_metrics(a, M.prepare_truth(b))
    assert all(np.isnan(got[k]) for k in M.FIXATION_METRICS)
    assert all(np.isfinite(got[k]) for k in M.DISTRIBUTION_METRICS)


# The MIT benchmark code, transcribed as loops (independent of the vectorised versions) ----


def mit_auc_judd(sal: np.ndarray, fixated: np.ndarray) -> float:
    """AUC_Judd.m without jitter (the maps here have no ties)."""
    s = sal.ravel()
    sth = np.sort(s[fixated])[::-1]
    n_fix, n_pix = len(sth), s.size
    tp, fp = [0.0], [0.0]
    for i, thresh in enumerate(sth, start=1):
        above = np.sum(s >= thresh)
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    tp.append(1.0)
    fp.append(1.0)
    return float(np.trapezoid(tp, fp))


def minmax(m):
    m = np.asarray(m, np.float64)
    return (m - m.min()) / (m.max() - m.min())


def mit_split_auc(sal: np.ndarray, fixated: np.ndarray, negatives: np.ndarray) -> float:
    """The split loop of AUC_Borji.m / AUC_shuffled.m with stepSize 0.1."""
    s = minmax(sal).ravel()
    sth = s[fixated]
    aucs = []
    for row in negatives:
        curfix = s[row]
        top = max(sth.max(), curfix.max())
        threshes = [k * 0.1 for k in range(int(np.floor(top / 0.1 + 1e-9)), -1, -1)]
        tp, fp = [0.0], [0.0]
        for t in threshes:
            tp.append(np.sum(sth >= t) / len(sth))
            fp.append(np.sum(curfix >= t) / len(curfix))
        tp.append(1.0)
        fp.append(1.0)
        aucs.append(np.trapezoid(tp, fp))
    return float(np.mean(aucs))


def mit_info_gain(sal, fixated, base):
    """InfoGain.m; equal to ``info_gain(..., alpha=0)`` for maps with minimum 0."""
    p = minmax(sal).ravel()
    b = minmax(base).ravel()
    p, b = p / p.sum(), b / b.sum()
    return float(np.mean(np.log2(EPS + p[fixated]) - np.log2(EPS + b[fixated])))


def test_mit_transcriptions_small():
    shape = (48, 64)
    rng = np.random.default_rng(10)
    sal = smooth_random(shape, 11, sigma=3)
    points = np.stack([rng.integers(0, 48, 150), rng.integers(0, 64, 150)], axis=1)
    f = M.fixated_indices(points, shape)
    other = M.fixated_indices(np.stack([rng.integers(0, 48, 300), rng.integers(0, 64, 300)],
                                       axis=1), shape)
    shuffled = M.shuffled_negatives(other, len(f), seed=2)
    assert M.auc_judd(sal, f) == pytest.approx(mit_auc_judd(sal, f), abs=1e-12)
    assert M.auc_borji(sal, f, seed=5) == pytest.approx(
        mit_split_auc(sal, f, M.borji_negatives(sal.size, len(f), seed=5)), abs=1e-12)
    assert M.sauc(sal, f, shuffled) == pytest.approx(mit_split_auc(sal, f, shuffled), abs=1e-12)
    base = centre_bias_map(shape, (0.2, 0.2)).astype(np.float64)
    base -= base.min()  # the MIT code min-maxes; info_gain reads the map itself
    assert M.info_gain(sal, f, base, alpha=0) == pytest.approx(mit_info_gain(sal, f, base),
                                                               abs=1e-12)


def test_mit_split_auc_on_real_examples(real):
    """AUC-Borji and shuffled AUC on a full 480x640 SALICON image, against the loops."""
    f = M.fixated_indices(real["points"], SHAPE)
    shuffled = M.shuffled_negatives(np.unique(real["other"]), len(f), seed=3, n_splits=10)
    borji = M.borji_negatives(SHAPE[0] * SHAPE[1], len(f), seed=4, n_splits=10)
    for name, pred in real["preds"].items():
        assert M.auc_borji(pred, f, seed=4, n_splits=10) == pytest.approx(
            mit_split_auc(pred, f, borji), abs=1e-12), name
        assert M.sauc(pred, f, shuffled) == pytest.approx(
            mit_split_auc(pred, f, shuffled), abs=1e-12), name


def test_centre_bias_scores_chance_on_shuffled_auc_only(real):
    """The point of the shuffled AUC: on the ten SALICON examples the centre bias
    (width fitted on them) beats chance on AUC-Judd but not on sAUC, whose
    negatives (the other nine images' fixations) share the centre bias."""
    from quickgaze.saliency.baselines import fit_centre_bias

    points = real["all_points"]
    pred = centre_bias_map(SHAPE, fit_centre_bias((p, SHAPE) for p in points))
    judd, shuffled = [], []
    for k, pts in enumerate(points):
        f = M.fixated_indices(pts, SHAPE)
        other = np.concatenate([M.fixated_indices(p, SHAPE) for j, p in enumerate(points)
                                if j != k])
        negatives = M.shuffled_negatives(M.unique_indices(other, SHAPE[0] * SHAPE[1]),
                                         len(f), seed=k)
        judd.append(M.auc_judd(pred, f))
        shuffled.append(M.sauc(pred, f, negatives))
    assert np.mean(judd) > 0.7
    assert abs(np.mean(shuffled) - 0.5) < 0.05
    assert all(j > s for j, s in zip(judd, shuffled))


# pysaliency, in an environment of its own ---------------------------------------------


@pytest.mark.slow
def test_against_pysaliency_on_real_examples(real, tmp_path):
    python = pysaliency_python()
    gt = real["gt"]
    f = M.fixated_indices(real["points"], SHAPE)
    shuffled = M.shuffled_negatives(np.unique(real["other"]), len(f), seed=3, n_splits=20)
    borji = M.borji_negatives(gt.size, len(f), seed=4, n_splits=20)
    names = list(real["preds"])
    preds = np.stack([real["preds"][n] for n in names])
    np.savez(tmp_path / "cases.npz", gt=gt, preds=preds, fixated=f, shuffled=shuffled,
             borji=borji)
    proc = subprocess.run([str(python), str(PYSALIENCY_REFERENCE), "metrics",
                           str(tmp_path / "cases.npz"), str(tmp_path / "ref.json")],
                          check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = json.loads((tmp_path / "ref.json").read_text())
    for name, pred, ref in zip(names, preds, reference):
        assert M.cc(pred, gt) == pytest.approx(ref["cc"], abs=1e-9), name
        assert M.kld(pred, gt, alpha=0) == pytest.approx(ref["kld"], abs=1e-9), name
        assert M.sim(pred, gt) == pytest.approx(ref["sim_minmax"], abs=1e-9), name
        if pred.min() == 0:  # else the MIT min-max step makes the difference
            assert M.sim(pred, gt) == pytest.approx(ref["sim"], abs=1e-9), name
        assert M.nss(pred, f) == pytest.approx(ref["nss"], abs=1e-9), name
        assert M.auc_judd(pred, f) == pytest.approx(ref["auc_judd"], abs=1e-9), name
        # With a fine step the MIT threshold grid tends to the exact ROC area.
        assert M.auc_borji(pred, f, seed=4, n_splits=20, step=1e-4) == pytest.approx(
            ref["auc_borji_exact"], abs=2e-3), name
        assert M.sauc(pred, f, shuffled, step=1e-4) == pytest.approx(ref["sauc_exact"],
                                                                     abs=2e-3), name
