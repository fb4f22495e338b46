"""Bootstrap intervals, deciles and paired comparisons (quickgaze.report.stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from quickgaze.report import stats
from quickgaze.saliency import metrics


def test_bootstrap_ci_is_seeded_and_covers_the_mean():
    x = np.random.default_rng(1).normal(0.3, 0.2, size=400)
    ci = stats.bootstrap_mean_ci(x, n_boot=2000, seed=7)
    assert ci == stats.bootstrap_mean_ci(x, n_boot=2000, seed=7)
    assert ci != stats.bootstrap_mean_ci(x, n_boot=2000, seed=8)
    assert ci[0] < x.mean() < ci[1]
    # The percentile interval of a mean approaches mean +- 1.96 sd / sqrt(n).
    normal_width = 2 * 1.96 * x.std(ddof=1) / np.sqrt(len(x))
    assert ci[1] - ci[0] == pytest.approx(normal_width, rel=0.15)


def test_bootstrap_ci_edge_cases():
    assert all(np.isnan(stats.bootstrap_mean_ci([np.nan, None])))
    assert stats.bootstrap_mean_ci([0.25, np.nan]) == (0.25, 0.25)
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_mean_ci([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="n_boot"):
        stats.bootstrap_mean_ci([1.0, 2.0], n_boot=0)


def test_deciles_partition_the_values():
    x = np.concatenate([np.arange(100, dtype=float), [np.nan, np.inf]])
    d = stats.deciles(x)
    assert list(d["decile"]) == list(range(1, 11))
    assert list(d["n"]) == [10] * 10
    assert d["low"].iloc[0] == 0 and d["high"].iloc[-1] == 99
    assert (np.diff(d["low"]) > 0).all()
    assert d["mean"].iloc[0] == pytest.approx(4.5)
    assert d["mean"].iloc[-1] == pytest.approx(94.5)
    with pytest.raises(ValueError, match="empty"):
        stats.deciles([np.nan])


def test_paired_difference_known_wilcoxon_p():
    b = np.zeros(6)
    a = np.arange(1, 7, dtype=float)
    res = stats.paired_difference(a, b, seed=0)
    # Six positive differences: exact two-sided p = 2 / 2**6.
    assert res["p_value"] == pytest.approx(2 / 64)
    assert res["n_pairs"] == 6
    assert res["mean_diff"] == pytest.approx(3.5)
    assert res["share_a_better"] == 1.0
    assert res["ci_low"] > 0 and res["ci_high"] <= 6


def test_paired_difference_drops_missing_pairs_and_handles_ties():
    a = np.array([0.1, 0.2, np.nan, 0.4])
    b = np.array([0.1, 0.2, 0.3, np.nan])
    res = stats.paired_difference(a, b)
    assert res["n_pairs"] == 2
    assert res["mean_diff"] == 0
    assert np.isnan(res["p_value"])  # all differences zero: no test
    with pytest.raises(ValueError, match="shape"):
        stats.paired_difference(np.zeros(3), np.zeros(4))


def _table(images, values, status=None, metric="cc_smooth"):
    return pd.DataFrame({"image": images, "status": status or ["ok"] * len(images),
                         metric: values})


def test_paired_table_aligns_by_image_and_skips_missing_metrics():
    rng = np.random.default_rng(0)
    base = rng.normal(size=30)
    ids = [f"i{k:02d}" for k in range(30)]
    a = _table(ids, base + 0.5)
    b = _table(ids[::-1], (base - 0.5)[::-1])  # same scores, other row order
    c = _table(ids, base, metric="kld_smooth")
    out = stats.paired_table({"a": a, "b": b, "c": c}, ["cc_smooth", "kld_smooth"], seed=3)
    assert list(zip(out["metric"], out["a"], out["b"])) == [("cc_smooth", "a", "b")]
    row = out.iloc[0]
    assert row["mean_diff"] == pytest.approx(1.0)
    assert row["ci_low"] == pytest.approx(1.0) and row["ci_high"] == pytest.approx(1.0)
    assert row["p_value"] < 1e-5


def test_summary_table_ignores_error_rows():
    t = _table(["a", "b", "c"], [0.2, 0.4, 99.0], status=["ok", "ok", "error"])
    s = stats.summary_table(t, ["cc_smooth"], n_boot=500)
    assert s.loc[0, "n"] == 2
    assert s.loc[0, "mean"] == pytest.approx(0.3)
    assert s.loc[0, "max"] == pytest.approx(0.4)


# --- metric direction -------------------------------------------------------

def test_every_metric_has_a_direction_and_unknown_ones_are_named():
    assert set(metrics.BETTER_DIRECTION) == set(metrics.METRICS)
    lower = {m for m in metrics.METRICS if metrics.better_direction(m) == -1}
    assert lower == {"kld", "mae", "mse"}
    assert metrics.better_direction("kld_smooth") == -1
    assert metrics.better_direction("cc_mask_raw") == 1
    assert metrics.better_direction("info_gain_smooth") == 1
    with pytest.raises(ValueError, match="'kl_smooth'"):
        metrics.better_direction("kl_smooth")


def test_paired_difference_lower_is_better_counts_the_smaller_score():
    # a's KLD is lower than b's on 5 of 6 images: a is better.
    b = np.array([1.0, 1.2, 0.9, 1.5, 1.1, 0.4])
    a = b - np.array([0.3, 0.2, 0.4, 0.5, 0.3, -0.1])
    low = stats.paired_difference(a, b, n_boot=500, direction=-1)
    high = stats.paired_difference(a, b, n_boot=500, direction=1)
    assert low["mean_diff"] == pytest.approx(high["mean_diff"])  # a - b either way
    assert low["mean_diff"] < 0
    assert low["share_a_better"] == pytest.approx(5 / 6)
    assert low["share_b_better"] == pytest.approx(1 / 6)
    assert high["share_a_better"] == pytest.approx(1 / 6)
    # ranks of |d|: 0.1 -> 1, 0.2 -> 2, 0.3 -> 3.5, 0.3 -> 3.5, 0.4 -> 5, 0.5 -> 6
    assert low["rank_biserial"] == pytest.approx((20 - 1) / 21)
    assert high["rank_biserial"] == pytest.approx(-(20 - 1) / 21)
    assert low["ci_high"] < 0
    # The unadjusted CI excludes 0 but the test does not (exact p = 4/64): no single
    # comparison decides; at a level the test passes the side follows the direction.
    assert "better" not in low and low["p_value"] == pytest.approx(4 / 64)
    assert stats.better_side(low["p_value"], low["rank_biserial"], 6) == ""
    assert stats.better_side(low["p_value"], low["rank_biserial"], 6, alpha=0.1) == "a"
    assert stats.better_side(high["p_value"], high["rank_biserial"], 6, alpha=0.1) == "b"
    assert low["p_value"] == high["p_value"]
    with pytest.raises(ValueError, match="direction"):
        stats.paired_difference(a, b, direction=0)


def test_rank_biserial_hand_values():
    assert stats.rank_biserial(np.array([1.0, -2.0, 3.0, 0.0, 4.0])) == pytest.approx(0.6)
    assert stats.rank_biserial(np.array([1.0, -1.0, 2.0])) == pytest.approx(0.5)
    assert np.isnan(stats.rank_biserial(np.zeros(3)))


def test_paired_table_direction_comes_from_the_metric():
    rng = np.random.default_rng(4)
    ids = [f"i{k:02d}" for k in range(20)]
    cc = rng.uniform(0.2, 0.6, size=20)
    kld = rng.uniform(1.0, 2.0, size=20)
    good = pd.DataFrame({"image": ids, "status": "ok", "cc_smooth": cc + 0.1,
                         "kld_smooth": kld - 0.3})
    poor = pd.DataFrame({"image": ids, "status": "ok", "cc_smooth": cc, "kld_smooth": kld})
    out = stats.paired_table({"good": good, "poor": poor}, ["cc_smooth", "kld_smooth"],
                             n_boot=500).set_index("metric")
    assert list(out["direction"]) == [1, -1]
    assert (out["share_a_better"] == 1.0).all() and (out["better"] == "a").all()
    assert (out["rank_biserial"] == 1.0).all()
    assert out.loc["kld_smooth", "ci_high"] < 0 < out.loc["cc_smooth", "ci_low"]


# --- multiple comparisons ---------------------------------------------------

def test_holm_and_bh_hand_values():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): Holm 4p, 3p, 2p, 1p = .02, .03, .06, .04,
    # running max .02, .03, .06, .06; BH 4p/1, 4p/2, 4p/3, 4p/4 = .02, .02, .04, .04.
    np.testing.assert_allclose(stats.holm(p), [0.03, 0.06, 0.06, 0.02, np.nan])
    np.testing.assert_allclose(stats.benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02, np.nan])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])
    assert np.isnan(stats.holm([np.nan])).all() and len(stats.benjamini_hochberg([])) == 0


def test_bh_matches_scipy():
    p = np.random.default_rng(5).uniform(size=50) ** 3
    np.testing.assert_allclose(stats.benjamini_hochberg(p),
                               sstats.false_discovery_control(p, method="bh"))


def test_paired_table_adjusts_within_each_metric_column():
    rng = np.random.default_rng(6)
    ids = [f"i{k:02d}" for k in range(25)]
    base = rng.normal(size=25)
    tabs = {name: pd.DataFrame({"image": ids, "status": "ok",
                                "cc_smooth": base + shift + rng.normal(0, 0.5, 25),
                                "kld_smooth": base - shift + rng.normal(0, 0.5, 25)})
            for name, shift in (("x", 0.0), ("y", 0.3), ("z", 0.6))}
    out = stats.paired_table(tabs, ["cc_smooth", "kld_smooth"], n_boot=300)
    assert len(out) == 6
    for _, fam in out.groupby("metric"):
        assert len(fam) == 3  # family = the three pairs on one column, not all six rows
        np.testing.assert_allclose(fam["p_holm"], stats.holm(fam["p_value"]))
        np.testing.assert_allclose(fam["q_bh"], stats.benjamini_hochberg(fam["p_value"]))
        smallest = fam["p_value"].idxmin()
        assert fam.loc[smallest, "p_holm"] == pytest.approx(min(1, 3 * fam["p_value"].min()))
    assert (out["p_holm"] >= out["p_value"]).all() and (out["q_bh"] >= out["p_value"]).all()


# --- confidence interval method ------------------------------------------------

def test_ci_method_rule_and_degenerate_cases():
    rng = np.random.default_rng(7)
    assert stats.bootstrap_mean_ci_method([np.nan])[2] == "none"
    assert stats.bootstrap_mean_ci_method([0.3, 0.3, 0.3]) == (0.3, 0.3, "point")
    low, high, method = stats.bootstrap_mean_ci_method([0.1, 0.4], n_boot=200)
    assert method == "bca" and 0.1 <= low <= high <= 0.4
    small = rng.exponential(size=stats.BCA_MAX_N - 1)
    large = rng.exponential(size=stats.BCA_MAX_N)
    assert stats.bootstrap_mean_ci_method(small, n_boot=200)[2] == "bca"
    assert stats.bootstrap_mean_ci_method(large, n_boot=200)[2] == "percentile"
    assert stats.expanded_level(0.95, 12) == pytest.approx(0.9785, abs=1e-4)


def test_small_n_interval_covers_the_true_mean():
    """Coverage of the n = 12 interval on skewed data with a known mean.

    Gamma(shape 4, scale 0.25): mean 1, skewness 1, a spread like per-image
    scores'. R = 600 samples, 1000 resamples each (about 2 s). Monte Carlo
    standard error of a coverage near 0.95 is sqrt(0.95 * 0.05 / 600) = 0.009;
    the band is 0.95 +- 3 SE (0.027), widened by 0.01 on the low side for
    BCa's O(1/n) coverage error (measured with R = 3000: 0.944). The plain
    percentile interval on the same samples measured 0.911: the interval in
    use must beat it (difference measured 0.033; its paired SE is about 0.007).
    """
    rng = np.random.default_rng(2024)
    n, reps, n_boot = 12, 600, 1000
    hits = pct_hits = 0
    for k in range(reps):
        x = rng.gamma(4.0, 0.25, size=n)
        low, high = stats.bootstrap_mean_ci(x, n_boot=n_boot, seed=k)
        hits += low <= 1.0 <= high
        idx = np.random.default_rng(k).integers(0, n, size=(n_boot, n))
        p_low, p_high = np.quantile(x[idx].mean(axis=1), [0.025, 0.975])
        pct_hits += p_low <= 1.0 <= p_high
    coverage, pct_coverage = hits / reps, pct_hits / reps
    assert 0.95 - 0.027 - 0.01 <= coverage <= 0.95 + 0.027
    assert coverage - pct_coverage >= 0.015


# --- degenerate and decided statistics (issues 26.4, 29.5, 29.8) ------------------

def test_constant_values_have_a_ci_equal_to_their_mean():
    """Three copies of one score: the mean of [0.1] * 3 is not 0.1 (one ulp off),
    and the point CI is that mean exactly, so no bound lies beside it."""
    x = np.full(3, 0.1)
    assert x.mean() != 0.1
    low, high, method = stats.bootstrap_mean_ci_method(x)
    assert method == "point" and low == high == x.mean()
    s = stats.summarise(x)
    assert s["ci_low"] == s["mean"] == s["ci_high"]
    d = stats.paired_difference(np.full(4, 0.7), np.full(4, 0.5))  # constant differences
    assert d["ci_low"] == d["mean_diff"] == d["ci_high"]


def test_ratio_of_means_and_its_joint_bootstrap_ci():
    den = np.array([0.5, 0.2, 0.9, 0.4, 0.05, 0.7])
    num = 0.3 * den  # every image's share is 0.3
    assert stats.ratio_of_means(num, den) == pytest.approx(0.3, abs=1e-15)
    assert stats.ratio_of_means([1.0, np.nan, 3.0], [2.0, 5.0, np.inf]) == 0.5
    assert np.isnan(stats.ratio_of_means([1.0, -1.0], [1.0, -1.0]))  # denominator sums to 0
    # Resampled jointly, every resample's ratio is 0.3: the CI is 0.3. Resampled apart,
    # the numerator's and the denominator's spreads would give a wide interval.
    low, high, method = stats.bootstrap_ratio_ci_method(num, den, n_boot=500, seed=1)
    assert method == "bca" and low == pytest.approx(0.3, abs=1e-12)
    assert high == pytest.approx(0.3, abs=1e-12)
    assert stats.bootstrap_ratio_ci_method([0.1] * 3, [0.2] * 3) == (0.5, 0.5, "point")
    assert stats.bootstrap_ratio_ci_method([np.nan], [1.0])[2] == "none"
    rng = np.random.default_rng(3)
    big_den = rng.uniform(0.1, 0.3, size=stats.BCA_MAX_N)
    big_num = 0.5 * big_den + rng.normal(0, 0.05, stats.BCA_MAX_N)
    low, high, method = stats.bootstrap_ratio_ci_method(big_num, big_den, n_boot=300)
    assert method == "percentile" and low < stats.ratio_of_means(big_num, big_den) < high


def test_ratio_ci_covers_the_true_ratio_at_small_n():
    """Coverage of the n = 12 joint interval of a ratio of means: gaps
    Gamma(4, 0.05) (mean 0.2), model offsets 0.4 * gap + N(0, 0.05), so the
    true ratio is 0.4. R = 400 samples of 1000 resamples; Monte Carlo SE of a
    coverage near 0.95 is 0.011, the band 0.95 +- 3 SE, widened by 0.01 on
    the low side as for the mean's interval (BCa's O(1/n) error)."""
    rng = np.random.default_rng(26)
    hits, reps = 0, 400
    for k in range(reps):
        den = rng.gamma(4.0, 0.05, size=12)
        num = 0.4 * den + rng.normal(0, 0.05, size=12)
        low, high, _ = stats.bootstrap_ratio_ci_method(num, den, n_boot=1000, seed=k)
        hits += low <= 0.4 <= high
    assert 0.95 - 0.033 - 0.01 <= hits / reps <= 0.95 + 0.033


def _study(n_images, seed=0):
    """Per-image tables of three variants, two baselines and three ceilings (the
    ceilings' _raw and _smooth columns identical, as the workflow writes them)."""
    rng = np.random.default_rng(seed)
    ids = [f"i{k:02d}" for k in range(n_images)]
    base = rng.uniform(0.3, 0.6, n_images)
    shifts = {"seed": 0.0, "aligned": 0.05, "fine": 0.3, "centre_bias": 0.2,
              "uniform": -0.3, "humans": 0.4, "one_human": 0.1, "infinite_humans": 0.45}
    kinds = {"seed": "variant", "aligned": "variant", "fine": "variant",
             "centre_bias": "baseline", "uniform": "baseline", "humans": "ceiling",
             "one_human": "ceiling", "infinite_humans": "ceiling"}
    tabs = {}
    for name, shift in shifts.items():
        smooth = base + shift + rng.normal(0, 0.3, n_images)
        raw = smooth if kinds[name] == "ceiling" else smooth - 0.1 + rng.normal(0, 0.1, n_images)
        tabs[name] = pd.DataFrame({"image": ids, "status": "ok", "cc_smooth": smooth,
                                   "cc_raw": raw, "kld_smooth": 2 - smooth})
    return tabs, kinds


def test_better_is_the_adjusted_decision_and_families_hold_the_study_contrasts():
    tabs, kinds = _study(10)
    metrics_ = ["cc_raw", "cc_smooth", "kld_smooth"]
    out = stats.paired_table(tabs, metrics_, n_boot=300, kinds=kinds)
    assert len(out) == 28 * 3  # every pair reported
    decided = out["better"] != ""
    # No row says better while its adjusted p-value is at or above 0.05 ...
    assert (out.loc[decided, "p_holm"] < 0.05).all()
    assert (out.loc[~decided, "p_holm"] >= 0.05).all()  # nothing is left undecided
    # ... though the unadjusted CI excludes 0 on many of those (the old rule's winners).
    ci_excludes_0 = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    assert (ci_excludes_0 & ~decided).sum() >= 10
    assert decided.sum() >= 5
    assert set(out["decided_by"]) == {"p_holm < 0.05"}
    for (metric, family), fam in out.groupby(["metric", "family"]):
        names = set(fam["a"]) | set(fam["b"])
        if family == "variants":
            # every pair with a variant: 3 * 5 with the others + 3 among the variants
            assert len(fam) == 18
            assert all("variant" in (kinds[a], kinds[b]) for a, b in zip(fam["a"], fam["b"]))
        else:
            assert family == "references" and len(fam) == 10
            assert all(kinds[n] != "variant" for n in names)
        np.testing.assert_allclose(fam["p_holm"], stats.holm(fam["p_value"]))
        np.testing.assert_allclose(fam["q_bh"], stats.benjamini_hochberg(fam["p_value"]))
    # The side is the signed-rank test's: a is better exactly where r favours a.
    assert (np.sign(out.loc[decided, "rank_biserial"]) ==
            out.loc[decided, "better"].map({"a": 1, "b": -1})).all()
    # BH decides by q_bh instead; an unknown adjustment is named.
    bh = stats.paired_table(tabs, ["cc_smooth"], n_boot=300, kinds=kinds, adjust="bh")
    assert ((bh["better"] != "") == (bh["q_bh"] < 0.05)).all()
    assert set(bh["decided_by"]) == {"q_bh < 0.05"}
    with pytest.raises(ValueError, match="adjust must be one of holm, bh, got 'bonferroni'"):
        stats.paired_table(tabs, ["cc_smooth"], kinds=kinds, adjust="bonferroni")


def test_one_paired_image_declares_no_winner():
    """A one-image study: every pair differs on its one image, and none says better."""
    tabs, kinds = _study(1)
    out = stats.paired_table(tabs, ["cc_smooth", "kld_smooth"], n_boot=300, kinds=kinds)
    assert (out["n_pairs"] == 1).all() and (out["mean_diff"] != 0).all()
    assert (out["ci_method"] == "point").all()
    assert (out["better"] == "").all()
    assert stats.better_side(0.001, 1.0, 1) == "" and stats.better_side(0.001, 1.0, 2) == "a"
    assert stats.better_side(0.001, -0.5, 2) == "b" and stats.better_side(np.nan, 1.0, 9) == ""
