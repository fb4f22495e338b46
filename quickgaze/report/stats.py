"""Summary statistics with bootstrap confidence intervals, deciles, paired comparisons.

All functions take plain arrays or metric tables (one row per image, see
:func:`quickgaze.report.tables.metrics_table`) and a seed; nothing depends on global
random state, so a rerun gives the same intervals.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sstats

from quickgaze.saliency.metrics import better_direction


def finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a float64 array without NaN/inf (None counts as NaN)."""
    a = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)
    return a[np.isfinite(a)]


#: Below this many finite values a mean's CI is the expanded BCa interval, from
#: it on the percentile interval (see :func:`bootstrap_mean_ci`).
BCA_MAX_N = 1000


def _percentile_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``x`` with replacement."""
    # Resample in chunks so 5000 images x 2000 resamples stay within ~80 MB.
    means = np.empty(n_boot)
    chunk = max(1, 10_000_000 // len(x))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, len(x), size=(stop - start, len(x)))
        means[start:stop] = x[idx].mean(axis=1)
    return means


def expanded_level(level: float, n: int) -> float:
    """Hesterberg's small-sample expansion of a confidence level.

    The bootstrap distribution of a mean has spread ``sqrt((n-1)/n) s/sqrt(n)``
    and its quantiles act like normal ones, so a nominal-level interval is
    too narrow at small n. The expanded level uses
    ``z' = sqrt(n / (n-1)) * t_{n-1, (1+level)/2}`` in place of the normal
    quantile: ``level' = 1 - 2 (1 - Phi(z'))`` (Hesterberg 2015, "What
    teachers should know about the bootstrap", Am. Stat. 69(4), sec. 3.3).
    E.g. 0.95 becomes 0.9785 at n = 12, 0.9576 at n = 50 and 0.9504 at n = 1000.
    """
    z = np.sqrt(n / (n - 1)) * sstats.t.ppf((1 + level) / 2, n - 1)
    return float(1 - 2 * sstats.norm.sf(z))


def bootstrap_mean_ci_method(values: Sequence[float] | np.ndarray, n_boot: int = 2000,
                             level: float = 0.95, seed: int = 0) -> tuple[float, float, str]:
    """Bootstrap confidence interval of the mean and the method that made it.

    Rule, by the number n of finite values:

    - n = 0: ``(nan, nan)``, method ``"none"``;
    - every value equal (n = 1 included): ``(m, m)`` with ``m`` the mean
      ``x.mean()``, method ``"point"`` (no spread to resample; the interval
      is the mean itself, exactly: ``x.mean()`` of n equal values can differ
      from each of them by an ulp, and a bound beside the mean would draw as
      a negative error bar);
    - 2 <= n < :data:`BCA_MAX_N`: method ``"bca"``, the bias-corrected and
      accelerated interval (Efron 1987; :func:`scipy.stats.bootstrap`,
      ``method="BCa"``) at the :func:`expanded_level`. Plain BCa and the
      percentile interval both undercover at small n on skewed data
      (simulated exponential data, n = 12: 0.89-0.90 for a nominal 0.95;
      expanded BCa: 0.94; see tests/test_stats.py). Should scipy return a
      non-finite bound (a degenerate bootstrap distribution), the percentile
      interval at the expanded level replaces it;
    - n >= :data:`BCA_MAX_N`: method ``"percentile"``, the ``(1 - level) / 2``
      and ``(1 + level) / 2`` quantiles of ``n_boot`` resample means (Efron &
      Tibshirani 1993, ch. 13). At that n the expansion changes the level by
      under 0.002 and the BCa correction is O(1/n), while BCa's jackknife
      would cost n^2 memory.
    """
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = finite(values)
    if len(x) == 0:
        return float("nan"), float("nan"), "none"
    if x.min() == x.max():
        m = float(x.mean())
        return m, m, "point"
    rng = np.random.default_rng(seed)
    if len(x) >= BCA_MAX_N:
        alpha = (1 - level) / 2
        low, high = np.quantile(_percentile_means(x, n_boot, rng), [alpha, 1 - alpha])
        return float(low), float(high), "percentile"
    wide = expanded_level(level, len(x))
    with warnings.catch_warnings():
        # Tiny n: scipy warns that the BCa quantiles hit the resample extremes.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sstats.DegenerateDataWarning)
        res = sstats.bootstrap((x,), np.mean, n_resamples=n_boot, vectorized=True,
                               confidence_level=wide, method="BCa", rng=rng)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        alpha = (1 - wide) / 2
        low, high = np.quantile(res.bootstrap_distribution, [alpha, 1 - alpha])
    return float(low), float(high), "bca"


def bootstrap_mean_ci(values: Sequence[float] | np.ndarray, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """``(low, high)`` of :func:`bootstrap_mean_ci_method` (expanded BCa below
    :data:`BCA_MAX_N` values, percentile from it on)."""
    low, high, _ = bootstrap_mean_ci_method(values, n_boot, level, seed)
    return low, high


def ratio_of_means(numerator: Sequence[float] | np.ndarray,
                   denominator: Sequence[float] | np.ndarray) -> float:
    """``sum(numerator) / sum(denominator)`` over the pairs where both are finite
    (equal to the ratio of their means); NaN without a pair or when the
    denominator sums to 0."""
    num, den = _finite_pairs(numerator, denominator)
    total = den.sum()
    return float(num.sum() / total) if len(den) and total != 0 else float("nan")


def _finite_pairs(a: Sequence[float] | np.ndarray,
                  b: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num.sum(axis=axis) / den.sum(axis=axis)


def bootstrap_ratio_ci_method(numerator: Sequence[float] | np.ndarray,
                              denominator: Sequence[float] | np.ndarray, n_boot: int = 2000,
                              level: float = 0.95, seed: int = 0) -> tuple[float, float, str]:
    """Joint paired bootstrap confidence interval of :func:`ratio_of_means` and
    the method that made it.

    The items (images) are resampled with replacement, and each resample
    takes numerator and denominator of the same items together, so their
    correlation is kept (a ratio of two independent resamples would not be
    the ratio's sampling distribution). Pairs where either value is not
    finite are dropped. The rule is :func:`bootstrap_mean_ci_method`'s, by
    the number n of pairs: ``"none"`` (NaN) without a pair; ``"point"``
    (the ratio itself) when every numerator and every denominator is equal,
    n = 1 included; ``"bca"`` (scipy's paired BCa at the
    :func:`expanded_level`; Choice: the mean's small-sample expansion, a
    ratio of means being a smooth function of two means) below
    :data:`BCA_MAX_N` pairs, with the percentile interval at that level
    should a bound be non-finite; ``"percentile"`` from it on. A resample
    whose denominator sums to 0 gives a non-finite ratio, which counts as
    such in the quantiles.
    """
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    num, den = _finite_pairs(numerator, denominator)
    if len(num) == 0:
        return float("nan"), float("nan"), "none"
    if num.min() == num.max() and den.min() == den.max():
        r = ratio_of_means(num, den)
        return r, r, "point"
    rng = np.random.default_rng(seed)
    if len(num) >= BCA_MAX_N:
        alpha = (1 - level) / 2
        ratios = np.empty(n_boot)
        chunk = max(1, 10_000_000 // len(num))
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, len(num), size=(stop - start, len(num)))
            ratios[start:stop] = _ratio(num[idx], den[idx], axis=1)
        low, high = np.quantile(ratios, [alpha, 1 - alpha])
        return float(low), float(high), "percentile"
    wide = expanded_level(level, len(num))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", sstats.DegenerateDataWarning)
        res = sstats.bootstrap((num, den), _ratio, paired=True, n_resamples=n_boot,
                               vectorized=True, confidence_level=wide, method="BCa", rng=rng)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        alpha = (1 - wide) / 2
        low, high = np.quantile(res.bootstrap_distribution, [alpha, 1 - alpha])
    return float(low), float(high), "bca"


def summarise(values: Sequence[float] | np.ndarray, n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> dict[str, float]:
    """n, mean (with bootstrap CI and its method, :func:`bootstrap_mean_ci_method`),
    sd, median, quartiles, min and max of the finite values."""
    x = finite(values)
    low, high, method = bootstrap_mean_ci_method(x, n_boot, level, seed)
    if len(x) == 0:
        return {"n": 0, "mean": np.nan, "ci_low": low, "ci_high": high, "ci_method": method,
                "sd": np.nan, "median": np.nan, "q25": np.nan, "q75": np.nan, "min": np.nan,
                "max": np.nan}
    return {"n": len(x), "mean": float(x.mean()), "ci_low": low, "ci_high": high,
            "ci_method": method, "sd": float(x.std(ddof=1)) if len(x) > 1 else np.nan,
            "median": float(np.median(x)), "q25": float(np.quantile(x, 0.25)),
            "q75": float(np.quantile(x, 0.75)), "min": float(x.min()), "max": float(x.max())}


def summary_table(table: pd.DataFrame, columns: Sequence[str], n_boot: int = 2000,
                  level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per column of ``table`` (ok images only): see :func:`summarise`."""
    ok = table[table["status"] == "ok"] if "status" in table else table
    rows = [{"metric": c, **summarise(ok[c], n_boot, level, seed)} for c in columns]
    return pd.DataFrame(rows, columns=["metric", "n", "mean", "ci_low", "ci_high", "ci_method",
                                       "sd", "median", "q25", "q75", "min", "max"])


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


def rank_biserial(d: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of the differences ``d``.

    Zero differences are dropped; the others are ranked by ``|d|`` (average
    ranks for ties); with ``T+`` and ``T-`` the rank sums of the positive and
    negative differences, ``r = (T+ - T-) / (T+ + T-)`` (Kerby 2014, the
    effect size of the Wilcoxon signed-rank test), in [-1, 1]: +1 when every
    difference is positive. NaN without a non-zero difference.
    """
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return float("nan")
    ranks = sstats.rankdata(np.abs(d))
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((plus - minus) / (plus + minus))


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0, direction: int = 1) -> dict[str, float]:
    """Paired comparison of two per-image score arrays of equal length.

    Pairs where either side is not finite are dropped. The difference is
    ``d = a - b``, in the metric's units; ``direction`` is +1 when higher
    scores are better, -1 when lower ones are
    (:func:`quickgaze.saliency.metrics.better_direction`). Returns

    - ``n_pairs``; ``mean_diff`` (mean of d) with its bootstrap CI
      ``ci_low``, ``ci_high`` and ``ci_method`` (:func:`bootstrap_mean_ci_method`);
      ``median_diff``;
    - ``share_a_better`` and ``share_b_better``: fractions of pairs with
      ``direction * d > 0`` and ``< 0`` (ties count for neither);
    - ``rank_biserial``: :func:`rank_biserial` of ``direction * d``, so
      positive means a is better;
    - the two-sided Wilcoxon signed-rank test (``wilcoxon_stat``, ``p_value``;
      zero differences dropped, Wilcoxon 1945, via :func:`scipy.stats.wilcoxon`;
      the statistic is the smaller of the two rank sums). The p-value is NaN
      without a non-zero difference.

    No decision: which of a and b is better is decided over a family of
    pairs from the adjusted p-values (:func:`better_side`,
    :func:`paired_table`), never from this unadjusted CI.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction}")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    low, high, method = bootstrap_mean_ci_method(d, n_boot, level, seed)
    gain = direction * d
    out = {"n_pairs": len(d), "mean_diff": float(d.mean()) if len(d) else np.nan,
           "ci_low": low, "ci_high": high, "ci_method": method,
           "median_diff": float(np.median(d)) if len(d) else np.nan,
           "share_a_better": float((gain > 0).mean()) if len(d) else np.nan,
           "share_b_better": float((gain < 0).mean()) if len(d) else np.nan,
           "rank_biserial": rank_biserial(gain), "wilcoxon_stat": np.nan, "p_value": np.nan}
    if np.count_nonzero(d) >= 1:
        res = sstats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        out["wilcoxon_stat"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def _finite_order(p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``p`` as floats, an all-NaN output of its shape, and the indices of its
    finite entries in ascending order of p (stable)."""
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    return p, np.full(p.shape, np.nan), ok[np.argsort(p[ok], kind="stable")]


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979), controlling the
    family-wise error rate.

    With the m finite p-values sorted, ``p_(1) <= ... <= p_(m)``:
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. NaN entries stay
    NaN and do not count in m. Returned in the input order.
    """
    p, out, order = _finite_order(p)
    m = len(order)
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def benjamini_hochberg(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (Benjamini & Hochberg 1995), controlling the
    false discovery rate.

    With the m finite p-values sorted, ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``.
    NaN entries stay NaN and do not count in m. Returned in the input order.
    """
    p, out, order = _finite_order(p)
    m = len(order)
    scaled = m * p[order] / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
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


#: Fewer paired images than this declare no winner, whatever a test says.
MIN_PAIRS_TO_DECIDE = 2
#: Multiplicity adjustments of :func:`paired_table`: name -> its column.
ADJUSTED_COLUMNS = {"holm": "p_holm", "bh": "q_bh"}
#: The two families of :func:`paired_table`.
STUDY_FAMILY, REFERENCE_FAMILY = "variants", "references"


def better_side(p_adjusted: float, rank_biserial_r: float, n_pairs: int,
                alpha: float = 0.05) -> str:
    """The decision of a paired comparison from its multiplicity-adjusted p-value.

    ``"a"`` when ``p_adjusted < alpha`` and the signed-rank test's direction,
    the sign of :func:`rank_biserial` (oriented so that + favours a), favours
    a; ``"b"`` when it favours b; ``""`` (no decision) otherwise: an adjusted
    p at or above ``alpha``, a NaN p (no non-zero difference), a zero r, or
    fewer than :data:`MIN_PAIRS_TO_DECIDE` pairs (one image declares no
    winner: with n = 1 there is no spread to test against). Choice: the
    side comes from the test that decided (the signed ranks), not from the
    mean difference, which can lie on the other side of 0.
    """
    if n_pairs < MIN_PAIRS_TO_DECIDE or not np.isfinite(p_adjusted) or p_adjusted >= alpha:
        return ""
    if not np.isfinite(rank_biserial_r) or rank_biserial_r == 0:
        return ""
    return "a" if rank_biserial_r > 0 else "b"


PAIRED_COLUMNS = ["metric", "direction", "a", "b", "family", "n_pairs", "mean_diff", "ci_low",
                  "ci_high", "ci_method", "median_diff", "better", "share_a_better",
                  "share_b_better", "rank_biserial", "wilcoxon_stat", "p_value", "p_holm",
                  "q_bh", "decided_by"]


def pair_family(a: str, b: str, kinds: Mapping[str, str] | None) -> str:
    """:data:`STUDY_FAMILY` when ``a`` or ``b`` is a variant (every name is one
    when ``kinds`` is None), else :data:`REFERENCE_FAMILY` (two baselines or
    ceilings: a reference contrast the study reports but is not about)."""
    if kinds is None or "variant" in (kinds.get(a, "variant"), kinds.get(b, "variant")):
        return STUDY_FAMILY
    return REFERENCE_FAMILY


def paired_table(tables: Mapping[str, pd.DataFrame], metrics: Sequence[str], n_boot: int = 2000,
                 level: float = 0.95, seed: int = 0, kinds: Mapping[str, str] | None = None,
                 adjust: str = "holm") -> pd.DataFrame:
    """Paired differences of every metric column for every pair (a, b) of names,
    in the order given (a before b), on the images both scored. See
    :func:`paired_difference`; ``direction`` is the column's
    :func:`quickgaze.saliency.metrics.better_direction` (an unknown metric is a
    ValueError). A pair is skipped for a metric that one of its two tables lacks.

    Multiple comparisons: a family is one metric column and one kind of pair
    (:func:`pair_family`, column ``family``): ``variants``, every pair that
    involves a variant (``kinds``: name -> ``variant``, ``baseline`` or
    ``ceiling``; None: every name is a variant), the contrasts a study is
    about; ``references``, the pairs of two baselines or ceilings, reported
    and adjusted among themselves so that they do not dilute the study's
    family. Each metric column is its own question, so families do not span
    columns (the ceilings' ``_raw`` and ``_smooth`` scores are the same, and a
    pair of two ceilings is in no ``variants`` family). ``p_holm``
    (:func:`holm`) and ``q_bh`` (:func:`benjamini_hochberg`) adjust
    ``p_value`` within its family.

    Decision: ``better`` is :func:`better_side` of the ``adjust`` column
    (``holm``: ``p_holm``, the default, family-wise error rate; ``bh``:
    ``q_bh``, false discovery rate) at ``alpha = 1 - level``; ``decided_by``
    says which, e.g. ``p_holm < 0.05``. The bootstrap CI of the mean
    difference is unadjusted and decides nothing.
    """
    if adjust not in ADJUSTED_COLUMNS:
        raise ValueError(f"paired comparisons: adjust must be one of "
                         f"{', '.join(ADJUSTED_COLUMNS)}, got '{adjust}'")
    alpha = round(1 - level, 12)  # 1 - 0.95 is 0.05000000000000004 in floats
    decided_by = f"{ADJUSTED_COLUMNS[adjust]} < {alpha:.2g}"
    rows = []
    for metric in metrics:
        direction = better_direction(metric)
        scores = aligned_scores(tables, metric)
        column = []
        for a, b in itertools.combinations(tables, 2):
            if metric not in tables[a].columns or metric not in tables[b].columns:
                continue
            res = paired_difference(scores[a].to_numpy(), scores[b].to_numpy(), n_boot, level,
                                    seed, direction)
            column.append({"metric": metric, "direction": direction, "a": a, "b": b,
                           "family": pair_family(a, b, kinds), **res})
        for family in (STUDY_FAMILY, REFERENCE_FAMILY):
            members = [r for r in column if r["family"] == family]
            p = [r["p_value"] for r in members]
            for r, ph, qb in zip(members, holm(p), benjamini_hochberg(p)):
                r["p_holm"], r["q_bh"] = float(ph), float(qb)
                r["better"] = better_side(r[ADJUSTED_COLUMNS[adjust]], r["rank_biserial"],
                                          r["n_pairs"], alpha)
                r["decided_by"] = decided_by
        rows += column
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
