"""Summary statistics with bootstrap confidence intervals, deciles, paired comparisons.

All functions take plain arrays or metric tables (one row per image, see
:func:`quickgaze.tables.metrics_table`) and a seed; nothing depends on global
random state, so a rerun gives the same intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sstats


def finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a float64 array without NaN/inf (None counts as NaN)."""
    a = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)
    return a[np.isfinite(a)]


def bootstrap_mean_ci(values: Sequence[float] | np.ndarray, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Draws ``n_boot`` resamples of size n with replacement from the finite
    values, takes each resample's mean and returns the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles (Efron & Tibshirani 1993, ch. 13). Returns
    ``(nan, nan)`` for no value and ``(x, x)`` for a single value.
    """
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = finite(values)
    if len(x) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # Resample in chunks so 5000 images x 2000 resamples stay within ~80 MB.
    means = np.empty(n_boot)
    chunk = max(1, 10_000_000 // len(x))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, len(x), size=(stop - start, len(x)))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def summarise(values: Sequence[float] | np.ndarray, n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> dict[str, float]:
    """n, mean (with bootstrap CI), sd, median, quartiles, min and max of the finite values."""
    x = finite(values)
    low, high = bootstrap_mean_ci(x, n_boot, level, seed)
    if len(x) == 0:
        return {"n": 0, "mean": np.nan, "ci_low": low, "ci_high": high, "sd": np.nan,
                "median": np.nan, "q25": np.nan, "q75": np.nan, "min": np.nan, "max": np.nan}
    return {"n": len(x), "mean": float(x.mean()), "ci_low": low, "ci_high": high,
            "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
            "median": float(np.median(x)), "q25": float(np.quantile(x, 0.25)),
            "q75": float(np.quantile(x, 0.75)), "min": float(x.min()), "max": float(x.max())}


def summary_table(table: pd.DataFrame, columns: Sequence[str], n_boot: int = 2000,
                  level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per column of ``table`` (ok images only): see :func:`summarise`."""
    ok = table[table["status"] == "ok"] if "status" in table else table
    rows = [{"metric": c, **summarise(ok[c], n_boot, level, seed)} for c in columns]
    return pd.DataFrame(rows, columns=["metric", "n", "mean", "ci_low", "ci_high", "sd",
                                       "median", "q25", "q75", "min", "max"])


def deciles(values: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Decile table of the finite values.

    Decile k (1..10) holds the values between the ``(k-1)/10`` and ``k/10``
    quantiles (linear interpolation); every value falls in exactly one decile
    (the lower edge is inclusive for decile 1 only). Columns: ``decile``,
    ``low``, ``high`` (edges), ``n``, ``mean`` (NaN for an empty decile).
    """
    x = finite(values)
    if len(x) == 0:
        raise ValueError("deciles of an empty set: no finite value to rank")
    edges = np.quantile(x, np.linspace(0, 1, 11))
    # searchsorted on the inner edges puts each value in its decile 0..9
    which = np.clip(np.searchsorted(edges[1:-1], x, side="left"), 0, 9)
    rows = []
    for k in range(10):
        members = x[which == k]
        rows.append({"decile": k + 1, "low": float(edges[k]), "high": float(edges[k + 1]),
                     "n": len(members),
                     "mean": float(members.mean()) if len(members) else np.nan})
    return pd.DataFrame(rows)


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> dict[str, float]:
    """Paired comparison of two per-image score arrays of equal length.

    Pairs where either side is not finite are dropped. The difference is
    ``d = a - b``; returns ``n_pairs``, ``mean_diff`` with its percentile
    bootstrap CI, ``median_diff``, ``share_a_better`` (fraction of pairs with
    d > 0), and the two-sided Wilcoxon signed-rank test (``wilcoxon_stat``,
    ``p_value``; zero differences dropped, Wilcoxon 1945, via
    :func:`scipy.stats.wilcoxon`). The p-value is NaN when fewer than one
    non-zero difference exists.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    low, high = bootstrap_mean_ci(d, n_boot, level, seed)
    out = {"n_pairs": len(d), "mean_diff": float(d.mean()) if len(d) else np.nan,
           "ci_low": low, "ci_high": high,
           "median_diff": float(np.median(d)) if len(d) else np.nan,
           "share_a_better": float((d > 0).mean()) if len(d) else np.nan,
           "wilcoxon_stat": np.nan, "p_value": np.nan}
    if np.count_nonzero(d) >= 1:
        res = sstats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        out["wilcoxon_stat"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def aligned_scores(tables: Mapping[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """``image`` x name matrix of ``metric`` over the union of image ids
    (NaN where a name lacks the image, has an error or lacks the metric)."""
    cols = {}
    for name, t in tables.items():
        if metric in t.columns:
            ok = t["status"] == "ok"
            cols[name] = pd.to_numeric(t.loc[ok, metric], errors="coerce").set_axis(
                t.loc[ok, "image"])
        else:
            cols[name] = pd.Series(dtype=float)
    return pd.DataFrame(cols).sort_index()


def paired_table(tables: Mapping[str, pd.DataFrame], metrics: Sequence[str], n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Paired differences of every metric for every pair (a, b) of names, in the
    order given (a before b), on the images both scored. See :func:`paired_difference`.
    A pair is skipped for a metric that one of its two tables lacks."""
    rows = []
    for metric in metrics:
        scores = aligned_scores(tables, metric)
        for a, b in itertools.combinations(tables, 2):
            if metric not in tables[a].columns or metric not in tables[b].columns:
                continue
            res = paired_difference(scores[a].to_numpy(), scores[b].to_numpy(), n_boot, level,
                                    seed)
            rows.append({"metric": metric, "a": a, "b": b, **res})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "n_pairs", "mean_diff", "ci_low",
                                       "ci_high", "median_diff", "share_a_better",
                                       "wilcoxon_stat", "p_value"])
