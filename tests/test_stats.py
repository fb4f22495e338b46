"""Bootstrap intervals, deciles and paired comparisons (quickgaze.stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quickgaze import stats


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
    c = _table(ids, base, metric="kl_smooth")
    out = stats.paired_table({"a": a, "b": b, "c": c}, ["cc_smooth", "kl_smooth"], seed=3)
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
