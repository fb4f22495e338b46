"""Saliency metrics: a prediction ``(H, W)`` against ground truth at ground-truth
resolution.

Definitions follow Bylinskii et al., "What do different evaluation metrics
tell us about saliency models?", TPAMI 2018, and the MIT/Tuebingen saliency
benchmark code (``CC.m``, ``KLdiv.m``, ``similarity.m``, ``NSS.m``,
``AUC_Judd.m``, ``AUC_Borji.m``, ``AUC_shuffled.m``, ``InfoGain.m``); every
function states where it departs from that code. Distribution metrics compare
two maps; fixation metrics compare a map with the fixated pixels, counted
once each (the binary fixation map). Fixation metrics are NaN ("not
available") when an image has no fixation.

Notation: ``P`` the prediction, ``G`` the ground-truth map, ``F`` the set of
fixated pixels, ``N = H * W``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

#: MATLAB's ``eps``, the regulariser of the MIT code's KLD and information gain.
MIT_EPS = 2.2204e-16
#: Weight of the uniform component mixed into every map that KLD and information
#: gain read as a density (see :func:`density`). Chosen so that the epsilon does
#: not matter: the floor ``alpha / N`` is 1.6e-7 per pixel at 480x640, so any
#: ``eps <= 1e-9`` moves a log2 density by at most ``log2(1 + 1e-9 N / alpha)``
#: = 0.009 bits, even at a fixation on an exact zero of the map.
DENSITY_ALPHA = 0.05
NAN = float("nan")
#: Threshold step of AUC-Borji and shuffled AUC, as in the MIT code.
AUC_STEP = 0.1

DISTRIBUTION_METRICS = ("cc", "kld", "sim", "cc_mask", "mae", "mse", "spearman")
FIXATION_METRICS = ("nss", "auc_judd", "auc_borji", "sauc", "info_gain")
METRICS = DISTRIBUTION_METRICS + FIXATION_METRICS

# --- Metric direction: the one table saying which way is better -------------
#: +1 where a higher score is better (similarities, correlations, AUCs, NSS,
#: information gain), -1 where a lower one is (the distances KLD, MAE, MSE).
#: Paired comparisons, rankings, the deep dive and the plots all read it
#: through :func:`better_direction`.
BETTER_DIRECTION = {
    "cc": +1, "kld": -1, "sim": +1, "cc_mask": +1, "mae": -1, "mse": -1, "spearman": +1,
    "nss": +1, "auc_judd": +1, "auc_borji": +1, "sauc": +1, "info_gain": +1,
}


def better_direction(column: str) -> int:
    """+1 when a higher value of ``column`` is better, -1 when a lower one is.

    ``column`` is a metric name (``kld``) or a per-image table column
    (``kld_raw``, ``kld_smooth``). An unknown metric is a ValueError naming it.
    """
    name = column.removesuffix("_raw").removesuffix("_smooth")
    if name not in BETTER_DIRECTION:
        raise ValueError(f"no better-direction known for metric '{column}'; known: "
                         f"{', '.join(BETTER_DIRECTION)}")
    return BETTER_DIRECTION[name]
# -----------------------------------------------------------------------------


def _flat(m: np.ndarray) -> np.ndarray:
    return np.asarray(m, dtype=np.float64).ravel()


def _minmax(m: np.ndarray, constant: float = 0.0) -> np.ndarray:
    """``(m - min) / (max - min)`` as float64; a constant map becomes ``constant``."""
    m = np.asarray(m, dtype=np.float64)
    lo, hi = m.min(), m.max()
    if hi == lo:
        return np.full(m.shape, constant)
    return (m - lo) / (hi - lo)


def _density(m: np.ndarray) -> np.ndarray:
    """``m / sum(m)`` as float64, after shifting a map with negative values to
    minimum 0; an all-zero map becomes the uniform density."""
    m = np.asarray(m, dtype=np.float64)
    if m.min() < 0:
        m = m - m.min()
    total = m.sum()
    return m / total if total > 0 else np.full(m.shape, 1.0 / m.size)


def density(m: np.ndarray, alpha: float = DENSITY_ALPHA) -> np.ndarray:
    """The density that KLD and information gain read a map as:
    ``Q = (1 - alpha) M / sum(M) + alpha / N``, float64, same shape.

    ``M`` is the map itself (a map with negative values is first shifted to
    minimum 0; an all-zero map is uniform), not its min-max normalisation:
    every map here is non-negative, and a min-max shift would change the
    density a map states (it cuts a Gaussian's tails to zero at the corners).
    The uniform component of weight ``alpha`` (:data:`DENSITY_ALPHA`, 0.05)
    bounds ``Q >= alpha / N`` > 0, so a fixation on an exact zero of a raw
    (ReLU) CAM costs ``log2(alpha)`` = -4.3 bits against a uniform map rather
    than ``log2(eps N)`` = -33.7 bits, and the result no longer depends on the
    epsilon. ``alpha = 0`` gives the MIT code's normalisation (without its min-max).
    """
    d = _density(m)
    return d if alpha == 0 else (1.0 - alpha) * d + alpha / d.size


def _sim_density(m: np.ndarray) -> np.ndarray:
    """MIT ``similarity.m``'s normalisation: min-max (constant -> ones), then sum 1."""
    m = _minmax(m, constant=1.0)
    return m / m.sum()


def _centred(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``x - mean(x)`` and its sum of squares, exactly 0 for a constant ``x``
    (the rounding of ``mean`` would leave a tiny non-zero spread)."""
    if x.size == 0 or x.max() == x.min():
        return np.zeros_like(x), 0.0
    c = x - x.mean()
    return c, float(np.dot(c, c))


def _pearson(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float]) -> float:
    """Pearson's r of two centred vectors given with their sums of squares."""
    (ac, ass), (bc, bss) = a, b
    if ass == 0 and bss == 0:
        return NAN
    if ass == 0 or bss == 0:
        return 0.0
    return float(np.dot(ac, bc) / np.sqrt(ass * bss))


def cc(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pearson's linear correlation coefficient of two ``(H, W)`` maps (MIT ``CC.m``).

    ``CC = sum((P - mean P)(G - mean G)) / sqrt(sum((P - mean P)^2) sum((G - mean G)^2))``
    over all pixels. Choice: when exactly one map is constant, 0.0 (it carries
    no linear information; pysaliency does the same for a constant
    prediction); both constant: NaN.
    """
    return _pearson(_centred(_flat(pred)), _centred(_flat(gt)))


def cc_mask(pred: np.ndarray, gt: np.ndarray) -> float:
    """The notebook's masked CC: Pearson's CC over the pixels where either map
    is non-zero (pixels that are zero in both are left out, not counted as
    agreeing zeros). NaN when fewer than two such pixels; a constant map
    within the mask gives 0.0 as in :func:`cc`.
    """
    mask = (pred > 0) | (gt > 0)
    if mask.sum() < 2:
        return NAN
    return cc(pred[mask], gt[mask])


def _kld(p: np.ndarray, g: np.ndarray, eps: float = MIT_EPS) -> float:
    return float(np.dot(g, np.log(eps + g / (p + eps))))


def kld(pred: np.ndarray, gt: np.ndarray, alpha: float = DENSITY_ALPHA,
        eps: float = MIT_EPS) -> float:
    """Kullback-Leibler divergence of the ground truth from the prediction (MIT ``KLdiv.m``).

    ``P' = density(P)``, ``G' = density(G)`` (:func:`density`: each map divided
    by its sum and mixed with a uniform component of weight ``alpha``),
    ``KLD = sum_i G'_i log(eps + G'_i / (eps + P'_i))`` with ``eps = 2.2204e-16``
    and the natural log; 0 is best (exactly 0 for ``P = G``), larger is worse.
    Choices: the mixture (the MIT code has ``alpha = 0``) makes ``P' >= alpha / N``,
    so a ground-truth mass on a zero of the prediction costs ``log(G' N / alpha)``
    instead of ``log(G' / eps)``, about 36 nats that measure only the epsilon.
    The ground truth gets the same mixture, so that both sides are read the
    same way and KLD of a map against itself is 0; it changes KLD only where
    the ground truth is near zero, by at most ``alpha``-weighted terms. A map
    with negative values is first shifted to minimum 0, an all-zero map is
    taken as uniform (the MIT code would divide by zero).
    """
    return _kld(_flat(density(pred, alpha)), _flat(density(gt, alpha)), eps)


def sim(pred: np.ndarray, gt: np.ndarray) -> float:
    """Similarity, or histogram intersection (MIT ``similarity.m``).

    Each map is min-max normalised to [0, 1] (a constant map becomes all
    ones), then divided by its sum; ``SIM = sum_i min(P'_i, G'_i)``, in
    [0, 1], 1 for identical distributions. pysaliency skips the min-max step;
    the two agree for maps whose minimum is 0, as every map here.
    """
    return float(np.minimum(_sim_density(pred), _sim_density(gt)).sum())


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error ``mean |P' - G|`` with ``P'`` the prediction min-max
    normalised to [0, 1] (a constant prediction becomes all zeros) and ``G`` the
    ground-truth map in [0, 1]. Not a benchmark metric: the notebook's."""
    return float(np.abs(_minmax(pred) - np.asarray(gt, np.float64)).mean())


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared error ``mean (P' - G)^2``, ``P'`` as in :func:`mae`."""
    d = _flat(_minmax(pred)) - _flat(gt)
    return float(np.dot(d, d) / d.size)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of the flattened array, ties given their average rank (as
    ``scipy.stats.rankdata(method="average")``), as float64."""
    return _ranks_and_sorted(values)[0]


def _ranks_and_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`average_ranks` and the sorted values (which AUC-Judd needs too)."""
    values = np.asarray(values).ravel()
    order = np.argsort(values)  # ties are averaged, so stability does not matter
    sorted_vals = np.sort(values)  # cheaper than values[order]
    # Start of each run of equal values, and the average rank of that run.
    new_run = np.empty(len(values), dtype=bool)
    new_run[0] = True
    np.not_equal(sorted_vals[1:], sorted_vals[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks, sorted_vals


def spearman(pred: np.ndarray, gt: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's CC of the average ranks of the
    pixels of both maps (ties share their mean rank). Constant maps as in :func:`cc`."""
    return _pearson(_centred(average_ranks(pred)), _centred(average_ranks(gt)))


def fixated_indices(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sorted unique flat indices of the fixated pixels: the binary fixation map.

    points: ``(M, 2)`` int 0-based (row, col), inside ``shape``.
    """
    points = np.asarray(points, dtype=np.int64).reshape(-1, 2)
    return unique_indices(points[:, 0] * shape[1] + points[:, 1], shape[0] * shape[1])


def unique_indices(flat: np.ndarray, size: int) -> np.ndarray:
    """Sorted unique values of ``flat`` (indices in ``[0, size)``), by marking a
    mask: O(size), cheaper than sorting for a few thousand fixations."""
    mask = np.zeros(size, dtype=bool)
    mask[flat] = True
    return np.flatnonzero(mask)


def nss(pred: np.ndarray, fixated: np.ndarray) -> float:
    """Normalised scanpath saliency (MIT ``NSS.m``).

    ``NSS = mean_{i in F} (P_i - mean P) / std P`` over the fixated pixels
    ``fixated`` (flat indices, each once: the binary fixation map). Choices:
    population std (ddof 0, as pysaliency; MATLAB's ``std`` uses N - 1, a
    relative difference of 1/(2N)); a constant map gives 0.0; no fixation: NaN.
    """
    if len(fixated) == 0:
        return NAN
    p = _flat(pred)
    if p.max() == p.min():
        return 0.0
    return float((p[fixated].mean() - p.mean()) / p.std())


def _trapezoid(fp: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """Trapezoid areas under curves ``(fp, tp)`` along the last axis."""
    return np.sum((fp[..., 1:] - fp[..., :-1]) * (tp[..., 1:] + tp[..., :-1]), axis=-1) / 2.0


def auc_judd(pred: np.ndarray, fixated: np.ndarray,
             sorted_pred: np.ndarray | None = None) -> float:
    """AUC-Judd (MIT ``AUC_Judd.m``): area under the ROC curve of the map as a
    classifier of fixated (positives) against all other pixels (negatives).

    Thresholds are the map's values at the fixated pixels. At threshold
    ``t``: ``TP(t) = |{i in F: P_i >= t}| / |F|``,
    ``FP(t) = |{i not in F: P_i >= t}| / (N - |F|)``; the curve runs from
    (0, 0) through the thresholds in decreasing order to (1, 1) and the area
    is the trapezoid rule. Choice: equal values form one threshold (one ROC
    point, so ties cost a diagonal segment, as pysaliency's
    ``general_roc(..., judd=1)``) instead of the MIT code's random 1e-7 jitter.
    A perfect map gives 1, a constant map 0.5. NaN without a fixation or
    without an unfixated pixel. Cost: one sort of the map (or none, given
    ``sorted_pred``, its values sorted), then binary searches for the
    thresholds (not one pass over the map per threshold).
    """
    p = _flat(pred)
    n_pos = len(fixated)
    n_neg = p.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return NAN
    positives = np.sort(p[fixated])
    thresholds = np.unique(positives)[::-1]  # decreasing
    if sorted_pred is None:
        sorted_pred = np.sort(p)
    all_ge = p.size - np.searchsorted(sorted_pred, thresholds, side="left")
    pos_ge = n_pos - np.searchsorted(positives, thresholds, side="left")
    tp = np.concatenate(([0.0], pos_ge / n_pos, [1.0]))
    fp = np.concatenate(([0.0], (all_ge - pos_ge) / n_neg, [1.0]))
    return float(_trapezoid(fp, tp))


def _step_bins(scaled: np.ndarray, step: float) -> tuple[np.ndarray, int]:
    """For a map min-max normalised to [0, 1], the number of thresholds
    ``t_j = j * step`` (``j = 0 .. T - 1``, MATLAB's ``0:step:1``) at or below each
    value, and ``T``. Exact ``>=`` comparisons, done once per map instead of
    once per threshold and split."""
    n_thresholds = int(np.floor(1.0 / step + 1e-9)) + 1
    t = step * np.arange(n_thresholds)
    dtype = np.min_scalar_type(n_thresholds)  # small ints: cheap gathers and counts below
    if n_thresholds > 64:
        return np.searchsorted(t, scaled, side="right").astype(dtype), n_thresholds
    bins = np.zeros(scaled.shape, dtype=dtype)
    for threshold in t:  # a few passes beat a binary search per value
        bins += scaled >= threshold
    return bins, n_thresholds


def _step_auc(bins: np.ndarray, n_thresholds: int, fixated: np.ndarray,
              negatives: np.ndarray) -> float:
    """Mean ROC area over the splits of MIT's AUC-Borji / shuffled AUC.

    bins: :func:`_step_bins` of the map; negatives: ``(n_splits, n)`` flat
    indices, one row per split. Per split the curve is (0, 0), then
    ``(FP(t), TP(t))`` for the thresholds in decreasing order, with
    ``TP(t) = mean(P_F >= t)``, ``FP(t) = mean(P_negatives >= t)``, then (1, 1);
    trapezoid rule. Thresholds above every value only repeat (0, 0), so one
    grid up to 1 gives the MIT code's per-split grid ``0:step:max`` exactly.
    """
    width = n_thresholds + 1
    pos = np.bincount(bins[fixated], minlength=width)
    n_splits, n_neg = negatives.shape
    offsets = (width * np.arange(n_splits)).astype(np.min_scalar_type(width * n_splits))
    neg = np.bincount((bins[negatives] + offsets[:, None]).ravel(),
                      minlength=width * n_splits).reshape(n_splits, width)
    # Values >= t_j are those with more than j thresholds below them: bins j + 1 .. T.
    tp = np.cumsum(pos[::-1])[:-1] / len(fixated)           # t_{T-1} down to t_0
    fp = np.cumsum(neg[:, ::-1], axis=1)[:, :-1] / n_neg
    tp = np.concatenate(([0.0], tp, [1.0]))
    fp = np.concatenate((np.zeros((n_splits, 1)), fp, np.ones((n_splits, 1))), axis=1)
    return float(_trapezoid(fp, tp).mean())


def borji_negatives(n_pixels: int, n_fixated: int, seed: int, n_splits: int = 100) -> np.ndarray:
    """AUC-Borji's negatives: ``(n_splits, n_fixated)`` flat indices drawn
    uniformly with replacement from all pixels, seeded."""
    return np.random.default_rng(seed).integers(0, n_pixels, size=(n_splits, n_fixated))


def auc_borji(pred: np.ndarray, fixated: np.ndarray, seed: int, n_splits: int = 100,
              step: float = AUC_STEP) -> float:
    """AUC-Borji (MIT ``AUC_Borji.m``).

    The map is min-max normalised to [0, 1] (a constant map becomes all zeros,
    where the MIT code gives NaN). Positives: its values at the ``|F|`` fixated
    pixels. Each of ``n_splits`` splits draws ``|F|`` negatives uniformly with
    replacement from all N pixels (:func:`borji_negatives`, seeded);
    thresholds ``0, step, 2 step, ...`` up to the largest value; the score is
    the mean split area (see :func:`_step_auc`). A constant map gives
    0.5. NaN without a fixation.
    """
    if len(fixated) == 0:
        return NAN
    bins, n_thresholds = _step_bins(_flat(_minmax(pred)), step)
    negatives = borji_negatives(bins.size, len(fixated), seed, n_splits)
    return _step_auc(bins, n_thresholds, fixated, negatives)


def shuffled_negatives(other_fixated: np.ndarray, n_fixated: int, seed: int,
                       n_splits: int = 100) -> np.ndarray:
    """Shuffled AUC's negatives: ``(n_splits, min(n_fixated, K))`` flat indices,
    each row drawn without replacement from the ``K`` pixels of
    ``other_fixated`` (other images' fixated pixels, unique), seeded."""
    rng = np.random.default_rng(seed)
    n = min(n_fixated, len(other_fixated))
    if n == 0:
        return np.zeros((0, 0), dtype=np.int64)
    return np.stack([other_fixated[rng.choice(len(other_fixated), n, replace=False)]
                     for _ in range(n_splits)])


def sauc(pred: np.ndarray, fixated: np.ndarray, negatives: np.ndarray,
         step: float = AUC_STEP) -> float:
    """Shuffled AUC (MIT ``AUC_shuffled.m``).

    As :func:`auc_borji`, but each split's negatives are the map's values at
    ``negatives`` (``(n_splits, n)`` flat indices from
    :func:`shuffled_negatives`: other images' fixated pixels), so a pure
    centre bias scores near 0.5. NaN without a fixation or a negative.

    Choice of the other images (MIT's protocol, as ``AUC_shuffled.m`` is fed
    by the benchmark): every image draws its own set of
    ``evaluation.shuffled_auc_images`` (10) other images with a fixation,
    without replacement and never itself, seeded by the study seed and the
    image id (:meth:`quickgaze.saliency.fixation_stats.FixationStats.other_images`); their
    fixated pixels, mapped to this image's grid by their normalised pixel
    centres, are the pool each split draws from. One pool for the whole
    dataset would make every image's sAUC err the same way (correlated
    errors, too narrow confidence intervals).
    """
    if len(fixated) == 0 or negatives.size == 0:
        return NAN
    return _step_auc(*_step_bins(_flat(_minmax(pred)), step), fixated, negatives)


def _log2_fixated(m: np.ndarray, fixated: np.ndarray, alpha: float = DENSITY_ALPHA,
                  eps: float = MIT_EPS) -> np.ndarray:
    """``log2(eps + Q_i)`` at the fixated pixels, ``Q = density(m, alpha)``
    (:func:`density`), computed at the fixated pixels only."""
    m = _flat(m)
    if m.min() < 0:
        m = m - m.min()
    total = m.sum()
    d = m[fixated] / total if total > 0 else np.full(len(fixated), 1.0 / m.size)
    if alpha != 0:
        d = (1.0 - alpha) * d + alpha / m.size
    return np.log2(eps + d)


def info_gain(pred: np.ndarray, fixated: np.ndarray, baseline: np.ndarray,
              alpha: float = DENSITY_ALPHA, eps: float = MIT_EPS) -> float:
    """Information gain over a baseline map (MIT ``InfoGain.m``), in bits per fixation.

    Both maps are read as densities by :func:`density` (``P' = density(P)``,
    ``B' = density(B)``: the map divided by its sum, mixed with a uniform
    component of weight ``alpha``, :data:`DENSITY_ALPHA` = 0.05);
    ``IG = mean_{i in F} log2(eps + P'_i) - log2(eps + B'_i)`` with
    ``eps = 2.2204e-16``. Here the baseline is the dataset's centre bias, so
    IG > 0 means the map predicts fixations better than the centre bias.
    Choices: the mixture (the MIT code has ``alpha = 0``) floors every
    density at ``alpha / N``, so a fixation on an exact zero of a raw CAM
    costs a bounded ``log2(alpha / (N B'_i))`` and IG does not depend on
    ``eps`` (less than 0.01 bits for any ``eps <= 1e-9`` at 480x640); maps are
    not min-max normalised first (the MIT code is), so the centre-bias density
    is exactly its Gaussian normalised on the image grid, the density its width
    is fitted for (:func:`quickgaze.saliency.baselines.fit_centre_bias`); every CAM here
    has minimum 0, where the two agree. A constant map becomes uniform (the
    MIT code gives NaN). NaN without a fixation.
    """
    if len(fixated) == 0:
        return NAN
    return float(np.mean(_log2_fixated(pred, fixated, alpha, eps)
                         - _log2_fixated(baseline, fixated, alpha, eps)))


def image_seed(seed: int, image: str) -> int:
    """A per-image seed from the study seed and the image id, independent of
    batch composition and order."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{image}".encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Truth:
    """The ground truth of one image, prepared once to score several maps
    (raw and smoothed CAM, baselines) with the same negatives. Build it with
    :func:`prepare_truth`; all arrays are flat over the ``(H, W)`` grid."""

    shape: tuple[int, int]
    gt: np.ndarray
    gt_centred: tuple[np.ndarray, float]
    gt_density: np.ndarray
    gt_sim: np.ndarray
    gt_ranks: tuple[np.ndarray, float]
    fixated: np.ndarray
    borji: np.ndarray
    shuffled: np.ndarray
    baseline_log2: np.ndarray | None
    alpha: float = DENSITY_ALPHA


def prepare_truth(gt: np.ndarray, points: np.ndarray | None = None,
                  other_fixated: np.ndarray | None = None, baseline: np.ndarray | None = None,
                  seed: int = 0, n_splits: int = 100, alpha: float = DENSITY_ALPHA) -> Truth:
    """Prepare ``gt`` (``(H, W)`` map in [0, 1]) and the image's fixations.

    points: ``(M, 2)`` int 0-based (row, col) inside the image, or None (a
    dataset with maps only); other_fixated: flat indices of other images'
    fixated pixels on this grid (this image's own draw of others, see
    :func:`sauc`); baseline: the
    ``(H, W)`` centre-bias map of the information gain; seed: this image's
    seed (see :func:`image_seed`) for the AUC negatives; alpha: the uniform
    weight of the densities of KLD and information gain (:func:`density`).
    """
    shape = (int(gt.shape[0]), int(gt.shape[1]))
    g = _flat(gt)
    fixated = (fixated_indices(points, shape) if points is not None
               else np.zeros(0, dtype=np.int64))
    other = (np.zeros(0, np.int64) if other_fixated is None
             else unique_indices(other_fixated, g.size))
    has_fix = len(fixated) > 0
    return Truth(
        shape=shape, gt=g, gt_centred=_centred(g), gt_density=density(g, alpha),
        gt_sim=_sim_density(g), gt_ranks=_centred(average_ranks(g)), fixated=fixated,
        borji=borji_negatives(g.size, len(fixated), seed, n_splits) if has_fix
        else np.zeros((0, 0), np.int64),
        shuffled=shuffled_negatives(other, len(fixated), seed + 1, n_splits) if has_fix
        else np.zeros((0, 0), np.int64),
        baseline_log2=_log2_fixated(baseline, fixated, alpha)
        if baseline is not None and has_fix else None,
        alpha=alpha,
    )


def saliency_metrics(pred: np.ndarray, truth: Truth | np.ndarray) -> dict[str, float]:
    """Every metric of ``pred`` (``(H, W)``) against one image's ground truth.

    ``truth``: a :class:`Truth`, or a bare ``(H, W)`` map (no fixations: the
    fixation metrics are NaN). Keys: :data:`METRICS`. Same values as the
    single functions above; the ground-truth side and the negatives are
    computed once in :func:`prepare_truth`, the prediction's min-max once here.
    """
    if not isinstance(truth, Truth):
        truth = prepare_truth(truth)
    if tuple(pred.shape) != truth.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in shape")
    p = _flat(pred)
    scaled = _flat(_minmax(p))
    diff = scaled - truth.gt
    mask = (p > 0) | (truth.gt > 0)
    n_mask = int(np.count_nonzero(mask))
    # Ranked in the map's own dtype: float32 sorts faster, same ties as float64.
    ranks, sorted_pred = _ranks_and_sorted(pred)
    out = {
        "cc": _pearson(_centred(p), truth.gt_centred),
        "kld": _kld(density(p, truth.alpha), truth.gt_density),
        "sim": float(np.minimum(_sim_density(p), truth.gt_sim).sum()),
        "cc_mask": _pearson(_centred(p[mask]), _centred(truth.gt[mask])) if n_mask >= 2 else NAN,
        "mae": float(np.abs(diff).mean()),
        "mse": float(np.dot(diff, diff) / diff.size),
        "spearman": _pearson(_centred(ranks), truth.gt_ranks),
    }
    out.update(dict.fromkeys(FIXATION_METRICS, NAN))
    f = truth.fixated
    if len(f) == 0:
        return out
    out["nss"] = nss(p, f)
    out["auc_judd"] = auc_judd(p, f, sorted_pred)
    bins, n_thresholds = _step_bins(scaled, AUC_STEP)
    out["auc_borji"] = _step_auc(bins, n_thresholds, f, truth.borji)
    if truth.shuffled.size:
        out["sauc"] = _step_auc(bins, n_thresholds, f, truth.shuffled)
    if truth.baseline_log2 is not None:
        out["info_gain"] = float(np.mean(_log2_fixated(p, f, truth.alpha)
                                         - truth.baseline_log2))
    return out
