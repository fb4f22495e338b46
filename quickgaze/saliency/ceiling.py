"""The human ceiling: how well people predict people, as pseudo-variants.

A CC of 0.4 means little alone; benchmarks place every model between a
baseline (the centre bias, :mod:`quickgaze.saliency.baselines`) and the gold standard,
how well one group of observers predicts another. Three pseudo-variants
(:data:`CEILINGS`) are scored per image with every metric, exactly as a
variant is (:func:`quickgaze.saliency.metrics.saliency_metrics` against a prepared
truth, with the image's own held-out centre bias as the information-gain
baseline and its own draw of other images' fixations as shuffled-AUC
negatives), and written as the same per-image metrics JSON:

- ``humans`` (split half): the observers of an image are split at random
  into two halves (``floor(K / 2)`` and the rest of its ``K`` observers),
  ``repeats`` times (seeded per image). Half A's map, built the SALICON way
  (:func:`quickgaze.saliency.fixations.saliency_from_fixations`: 1 at each fixated
  pixel, Gaussian blur sigma 19 px, min-max), is the prediction; half B's
  fixations and its map are the ground truth. The record holds the mean over
  the splits of each metric.
- ``one_human`` (leave one observer out): each observer's map predicts the
  fixations and map of all the others; the mean over observers (at most
  ``one_human_observers`` of them, drawn seeded, to bound the cost; all when
  there are fewer). The MIT benchmark lists a "one human" baseline row of this
  kind; its exact protocol was not in the sources we could read.
- ``infinite_humans``: the MIT saliency benchmark's "infinite humans" row,
  obtained by predicting one group of ``n`` observers from another and
  extrapolating ``n`` to infinity (Judd, Durand and Torralba, MIT-CSAIL-TR-
  2012-001, abstract: "human performance increases with the number of humans
  to a limit"; Bylinskii et al., TPAMI 2019, used it to normalise model
  scores, as a secondary source quotes).
  Here: for group sizes ``n`` (:func:`group_sizes`: up to 5 sizes, geometric
  from 2 to ``floor(K / 2)``), ``infinite_repeats`` times each, two disjoint
  random groups of ``n`` observers; group A's map predicts group B's
  fixations and map; ``s(n)`` is the mean score. Then
  ``s(n) = s_inf - a / n`` is fitted by least squares to the
  :data:`FIT_SIZES` largest sizes and ``s_inf`` is the estimate
  (:func:`extrapolate`). Choice: the form of the curve MIT fitted is not
  given in the sources we could read; ``1 / n`` is the leading term of the
  Spearman-Brown reliability of a mean of ``n`` observers,
  ``rho(n) = n r / (1 + (n - 1) r) = 1 - (1 - r) / (r n) + O(n^-2)``, so the
  CC of two ``n``-groups tends to 1 like ``1 / n`` once ``n`` is large. Small
  groups are far from that regime (on a real SALICON example CC rose from
  0.44 at ``n = 2`` to 0.84 at ``n = 28``, not monotonically at small ``n``;
  a fit to all sizes put ``s_inf`` at 0.75, below the largest group), so only
  the largest sizes are fitted. It needs 6 observers (sizes 2 and 3).

Why the split-half ceiling is below the infinite one: half A sees half the
observers, and half B is a noisier truth than all of them; a model is scored
against all observers. Distribution metrics of two infinite groups tend to
perfect agreement (CC 1, SIM 1, KLD 0 on the MIT300 table); fixation
metrics (NSS, AUC) to a finite limit.

Records of the ceilings hold the same keys as a variant's, the metrics under
``<metric>_raw`` and ``<metric>_smooth`` alike (a human map is already
smoothed: the SALICON blur is its own; no second blur), plus ``n_observers``
and, for ``infinite_humans``, ``group_sizes``. An image whose ground truth
names no observer, or has fewer than the ceiling needs, gets ``status:
error`` with an error beginning :data:`NOT_AVAILABLE` and the reason; the
analysis tolerates a ceiling that is not available anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from quickgaze.io.records import NOT_AVAILABLE
from quickgaze.saliency.baselines import centre_bias_map
from quickgaze.saliency.fixation_stats import FixationStats
from quickgaze.saliency.fixations import saliency_from_fixations
from quickgaze.saliency.metrics import METRICS, image_seed, prepare_truth, saliency_metrics

log = logging.getLogger("quickgaze")

CEILINGS = ("humans", "one_human", "infinite_humans")
#: Fewest observers per ceiling.
MIN_OBSERVERS = {"humans": 2, "one_human": 2, "infinite_humans": 6}
#: Group sizes on the infinite-observer curve, at most.
CURVE_SIZES = 5
#: The largest sizes of the curve that the ``1 / n`` extrapolation is fitted to.
FIT_SIZES = 3

Scores = dict[str, float]


def observer_codes(observers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct observers ``(K,)`` (sorted strings) and each fixation's index
    into them ``(M,)`` int, from the ``(M,)`` observer strings of an image."""
    names, codes = np.unique(np.asarray(observers, dtype=str), return_inverse=True)
    return names, codes.reshape(-1)


def group_score(points: np.ndarray, codes: np.ndarray, group_a: np.ndarray, group_b: np.ndarray,
                shape: tuple[int, int], other_fixated: np.ndarray | None,
                baseline: np.ndarray | None, seed: int) -> Scores:
    """Every metric of observer group A's map predicting group B.

    points: ``(M, 2)`` int 0-based (row, col) inside ``shape``; codes:
    ``(M,)`` observer index of each point; group_a, group_b: disjoint arrays
    of observer indices. A's map and B's map are built the SALICON way
    (:func:`~quickgaze.saliency.fixations.saliency_from_fixations`, ``(H, W)`` in
    [0, 1]); B's fixations are the fixated pixels. ``other_fixated`` (flat
    indices of other images' fixations: shuffled-AUC negatives) and
    ``baseline`` (the ``(H, W)`` centre bias of the information gain) as in
    :func:`~quickgaze.saliency.metrics.prepare_truth`; seed: the image's seed.
    """
    in_a, in_b = np.isin(codes, group_a), np.isin(codes, group_b)
    pred = saliency_from_fixations(points[in_a], shape)
    truth = prepare_truth(saliency_from_fixations(points[in_b], shape), points[in_b],
                          other_fixated, baseline, seed)
    return saliency_metrics(pred, truth)


def _mean(scores: list[Scores]) -> Scores:
    with np.errstate(all="ignore"):
        return {m: float(np.nanmean([s[m] for s in scores]))
                if any(np.isfinite(s[m]) for s in scores) else float("nan") for m in METRICS}


def split_half(points: np.ndarray, observers: np.ndarray, shape: tuple[int, int],
               repeats: int, seed: int, other_fixated: np.ndarray | None = None,
               baseline: np.ndarray | None = None) -> Scores:
    """Mean over ``repeats`` random split halves (see the module docstring) of every
    metric; split ``r`` permutes the observers with ``default_rng([seed, r])``."""
    names, codes = observer_codes(observers)
    k = len(names)
    scores = []
    for r in range(repeats):
        order = np.random.default_rng([seed, r]).permutation(k)
        scores.append(group_score(points, codes, order[:k // 2], order[k // 2:], shape,
                                  other_fixated, baseline, seed))
    return _mean(scores)


def one_human(points: np.ndarray, observers: np.ndarray, shape: tuple[int, int],
              max_observers: int | None, seed: int, other_fixated: np.ndarray | None = None,
              baseline: np.ndarray | None = None) -> Scores:
    """Mean over observers of each one's map predicting all the others (every
    observer, or ``max_observers`` drawn with ``default_rng([seed, 1 << 20])``)."""
    names, codes = observer_codes(observers)
    k = len(names)
    chosen = np.arange(k)
    if max_observers is not None and k > max_observers:
        chosen = np.sort(np.random.default_rng([seed, 1 << 20]).choice(k, max_observers,
                                                                        replace=False))
    return _mean([group_score(points, codes, np.array([o]), np.setdiff1d(np.arange(k), [o]),
                              shape, other_fixated, baseline, seed) for o in chosen])


def group_sizes(n_observers: int) -> np.ndarray:
    """Group sizes of the infinite-observer curve, increasing: up to
    :data:`CURVE_SIZES` distinct integers, geometric from 2 to
    ``floor(n_observers / 2)``."""
    top = n_observers // 2
    if top < 2:
        return np.zeros(0, dtype=int)
    return np.unique(np.round(np.geomspace(2, top, CURVE_SIZES)).astype(int))


def extrapolate(sizes: np.ndarray, values: np.ndarray) -> float:
    """``s_inf`` of the least-squares fit ``s(n) = s_inf - a / n`` to the curve
    ``values`` at the :data:`FIT_SIZES` largest of the increasing ``sizes`` (NaN
    when one of them is not finite or there are fewer than two sizes)."""
    sizes = np.asarray(sizes, float)[-FIT_SIZES:]
    values = np.asarray(values, float)[-FIT_SIZES:]
    if len(sizes) < 2 or not np.all(np.isfinite(values)):
        return float("nan")
    design = np.stack([np.ones_like(sizes), -1.0 / sizes], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(coef[0])


def infinite_humans(points: np.ndarray, observers: np.ndarray, shape: tuple[int, int],
                    repeats: int, seed: int, other_fixated: np.ndarray | None = None,
                    baseline: np.ndarray | None = None) -> tuple[Scores, np.ndarray, dict]:
    """The infinite-observer estimate of every metric (module docstring).

    Returns the estimates, the group sizes ``(S,)`` and the curve, per metric
    the ``(S,)`` mean scores of groups of each size. Draw ``r`` of size ``n``
    uses ``default_rng([seed, n, r])``.
    """
    names, codes = observer_codes(observers)
    sizes = group_sizes(len(names))
    curve = {m: np.zeros(len(sizes)) for m in METRICS}
    for j, n in enumerate(sizes):
        scores = []
        for r in range(repeats):
            drawn = np.random.default_rng([seed, int(n), r]).permutation(len(names))[:2 * n]
            scores.append(group_score(points, codes, drawn[:n], drawn[n:], shape,
                                      other_fixated, baseline, seed))
        for m, v in _mean(scores).items():
            curve[m][j] = v
    return {m: extrapolate(sizes, curve[m]) for m in METRICS}, sizes, curve


def ceiling_scores(ceiling: str, truth: Mapping[str, np.ndarray], stats: FixationStats,
                   image: str, seed: int, repeats: int, one_human_observers: int | None,
                   infinite_repeats: int) -> tuple[Scores, dict[str, Any]]:
    """Scores of ``ceiling`` on one image from its ground-truth record, and extra
    record fields (``n_observers``; ``group_sizes`` for ``infinite_humans``).
    Raises ValueError starting with :data:`NOT_AVAILABLE` when the record names
    no observer or too few."""
    if ceiling not in CEILINGS:
        raise ValueError(f"unknown ceiling '{ceiling}'; known: {', '.join(CEILINGS)}")
    points = np.asarray(truth["points"]).astype(np.int64)
    if "observers" not in truth or not bool(truth.get("observers_known", False)):
        raise ValueError(f"{NOT_AVAILABLE}: the fixation source names no observer for this "
                         f"image (a JSON worker_id, a table's observer column, a .mat gaze "
                         f"entry), so observers cannot be split")
    observers = np.asarray(truth["observers"], dtype=str)
    k = len(np.unique(observers))
    if k < MIN_OBSERVERS[ceiling]:
        raise ValueError(f"{NOT_AVAILABLE}: {k} observer(s) with a fixation in the image; "
                         f"{ceiling} needs at least {MIN_OBSERVERS[ceiling]}")
    shape = (int(truth["map"].shape[0]), int(truth["map"].shape[1]))
    s = image_seed(seed, image)
    context = (stats.other_fixated(image, shape),
               centre_bias_map(shape, stats.centre_bias_for(image)))
    extra: dict[str, Any] = {"n_observers": k}
    if ceiling == "humans":
        return split_half(points, observers, shape, repeats, s, *context), extra
    if ceiling == "one_human":
        return one_human(points, observers, shape, one_human_observers, s, *context), extra
    scores, sizes, _ = infinite_humans(points, observers, shape, infinite_repeats, s, *context)
    extra["group_sizes"] = ",".join(str(int(n)) for n in sizes)
    return scores, extra
