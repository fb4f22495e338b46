"""Tables of per-image metric records: the per-variant table, rankings, and the
cross-variant tables (means, sign flips, deep dive)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from quickgaze.io.files import read_json
from quickgaze.io.records import NOT_AVAILABLE, UNTRAINED_LABEL
from quickgaze.pipeline.provenance import flat, provenance
from quickgaze.report import stats
from quickgaze.saliency.metrics import better_direction

log = logging.getLogger("quickgaze")


class BadImagesError(RuntimeError):
    """Raised in strict mode; the message lists every bad image and its reason."""


# Columns first in the per-image table, in this order; metrics and the rest follow.
LEAD_COLUMNS = ("image", "variant", "status", "error", "weights_label", "explained_variance",
                "sign_flipped")
PATH_COLUMNS = ("image_path", "truth_path", "cam_path", "smooth_path", "metrics_path")
PROVENANCE_PREFIX = "provenance_"


def provenance_columns(table: pd.DataFrame) -> list[str]:
    """The provenance columns of a per-image table (see :func:`metrics_table`)."""
    return [c for c in table.columns if c.startswith(PROVENANCE_PREFIX)]


def with_provenance(out: pd.DataFrame, stage: str,
                    sources: Mapping[str, pd.DataFrame], by: str | None = None) -> pd.DataFrame:
    """``out``, an aggregate table of ``stage``, with its provenance appended as columns.

    ``quickgaze`` (version) and ``code`` (this stage's code hash), then every
    provenance column of the per-image ``sources`` tables (versions, devices,
    weights, code of the stages before): its distinct values joined by " | ",
    so a mix of environments shows. With ``by``, the column of ``out`` that
    names a source, each row gets its own source's values; without it, every
    row gets those of all the sources together.
    """
    own = provenance(stage)
    out = out.assign(quickgaze=own["quickgaze"], code=own["code"])
    columns = sorted({c for t in sources.values() for c in provenance_columns(t)})

    def distinct(tables: Iterable[pd.DataFrame], column: str) -> str:
        values = {str(v) for t in tables if column in t for v in t[column].dropna()}
        return " | ".join(sorted(values))

    for column in columns:
        if by is None:
            out[column] = distinct(sources.values(), column)
        else:
            out[column] = [distinct([sources[n]] if n in sources else [], column)
                           for n in out[by]]
    return out


def weights_labels(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Per name, the distinct ``weights_label`` of its per-image records joined by
    " | " (``untrained: smoke run`` for random weights, ``COCO_V1``,
    ``baseline:centre_bias``, ...; "" for a table without the column)."""
    return {name: " | ".join(sorted({str(v) for v in t["weights_label"].dropna()
                                     if str(v)}))
            if "weights_label" in t.columns else "" for name, t in tables.items()}


def untrained_names(labels: Mapping[str, str]) -> list[str]:
    """The names whose ``weights_label`` (:func:`weights_labels`) includes the
    untrained label, in the given order."""
    return [name for name, label in labels.items()
            if UNTRAINED_LABEL in str(label).split(" | ")]


def untrained_note(names: Sequence[str]) -> str:
    """The sentence every output made from untrained weights carries ("" when
    ``names`` is empty): which names ran with random weights, and that their
    scores are no finding."""
    if not names:
        return ""
    many = len(names) > 1
    return (f"{UNTRAINED_LABEL}: {', '.join(names)} {'use' if many else 'uses'} seeded "
            f"random weights (weights: none); {'their' if many else 'its'} scores test the "
            "pipeline and say nothing about a trained network.")


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The metric columns of a table (``<metric>_raw`` and ``<metric>_smooth``), sorted."""
    return sorted(c for c in table.columns if c.endswith(("_raw", "_smooth")))


def metrics_table(paths: Iterable[str | os.PathLike],
                  image_paths: Mapping[str, str] | None = None,
                  truth_paths: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per image from its metrics JSON (see :func:`quickgaze.pipeline.evaluate.evaluate_image`),
    sorted by image id.

    Columns: :data:`LEAD_COLUMNS`, every metric, the other record keys, the
    record's provenance flattened (``provenance_<key>``, the CAM's as
    ``provenance_cam_<key>``: :func:`quickgaze.pipeline.provenance.flat`), then the
    per-image file paths (``metrics_path`` is the JSON's own path;
    ``image_path`` and ``truth_path`` come from the mappings by image id).
    """
    rows = []
    for p in paths:
        rec = read_json(p)
        rec.pop("fingerprint", None)
        rec.pop("input_tokens", None)
        rec.pop("output_tokens", None)
        rec.update(flat(rec.pop("provenance", {})))
        rec["metrics_path"] = str(p)
        image = rec.get("image")
        if image is None:
            raise KeyError(f"{p}: metrics record has no 'image' key")
        for column, mapping in (("image_path", image_paths), ("truth_path", truth_paths)):
            if mapping is not None:
                rec[column] = str(mapping[image])
        rows.append(rec)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    lead = [c for c in LEAD_COLUMNS if c in table.columns]
    paths_ = [c for c in PATH_COLUMNS if c in table.columns]
    metrics = metric_columns(table)
    prov = provenance_columns(table)
    rest = [c for c in table.columns if c not in {*lead, *paths_, *metrics, *prov}]
    table = table[lead + metrics + rest + prov + paths_]
    return table.sort_values("image", kind="stable").reset_index(drop=True)


def rankable(table: pd.DataFrame, exclude_degenerate: bool = True) -> pd.DataFrame:
    """``table`` without its degenerate rows (a non-empty ``degenerate``
    column, see :func:`quickgaze.pipeline.ground_truth.truth_degenerate`) when
    ``exclude_degenerate``; tables without the column are returned whole."""
    if not exclude_degenerate or "degenerate" not in table.columns:
        return table
    flagged = table["degenerate"].fillna("").astype(str) != ""
    return table[~flagged]


def rank_groups(k: int, n: int) -> list[tuple[str, int, int]]:
    """The ``(group, start, stop)`` slices of ``k`` images ordered best first:
    top, middle and bottom, never overlapping, so an image is in one group only
    and a group's name is true of every image in it.

    ``k >= 3 n``: the best ``n`` (top), the ``n`` around the median (middle,
    from ``k // 2 - n // 2``) and the worst ``n`` (bottom). Fewer (``k < 3 n``):
    every image once, top and bottom ``round(k / 3)`` each (at least 1 for
    top when ``k >= 1``) and the middle the rest, e.g. 12 images and
    ``n`` 25 give 4, 4, 4; 2 images 1, 0, 1; 1 image 1, 0, 0. Choice: three
    groups kept rather than one "all images" gallery, so that the report's
    groups, file names and the deep dive (the bottom group) have one layout
    whatever the study's size.
    """
    if n < 1:
        raise ValueError(f"ranking: n must be >= 1, got {n}")
    if k >= 3 * n:
        mid = k // 2 - n // 2
        return [("top", 0, n), ("middle", mid, mid + n), ("bottom", k - n, k)]
    top = min(k, max(1, int(np.floor(k / 3 + 0.5)))) if k else 0
    bottom = min(top, k - top)
    return [("top", 0, top), ("middle", top, k - bottom), ("bottom", k - bottom, k)]


def ranked_order(table: pd.DataFrame, metric: str,
                 exclude_degenerate: bool = True) -> pd.DataFrame:
    """The rows of ``table`` that rank (``status == ok``, a finite ``metric``, by
    default not degenerate: :func:`rankable`), best first by the metric's
    direction (:func:`quickgaze.saliency.metrics.better_direction`; ties keep
    image-id order), with ``rank`` 1..k."""
    check_metric(table, metric, "ranking")
    table = rankable(table, exclude_degenerate)
    values = pd.to_numeric(table[metric], errors="coerce").astype(float)
    ok = table[(table["status"] == "ok") & np.isfinite(values)]
    ascending = better_direction(metric) < 0
    ordered = ok.sort_values(metric, ascending=ascending, kind="stable").reset_index(drop=True)
    ordered["rank"] = np.arange(1, len(ordered) + 1)
    return ordered


def ranking(table: pd.DataFrame, metric: str, n: int,
            exclude_degenerate: bool = True) -> pd.DataFrame:
    """Best ``n`` (top), worst ``n`` (bottom) and the ``n`` images around the median
    by ``metric``; with fewer than ``3 n`` ranked images, every image once in
    three groups that do not overlap (:func:`rank_groups`).

    Best follows :func:`quickgaze.saliency.metrics.better_direction`: the highest values
    for most metrics, the lowest for KLD, MAE and MSE. Only ``status == ok``
    rows with a finite value rank, and by default no degenerate row
    (:func:`rankable`); ties keep image-id order. Columns:
    ``group`` (top, middle, bottom), ``rank`` (1 = best, among all ranked
    images), ``image``, ``metric``, ``value``, ``weights_label``.
    """
    rank_groups(0, n)  # checks n
    ordered = ranked_order(table, metric, exclude_degenerate)
    if "weights_label" not in ordered.columns:
        ordered = ordered.assign(weights_label="")
    groups = [ordered.iloc[start:stop].assign(group=name)
              for name, start, stop in rank_groups(len(ordered), n)]
    out = pd.concat(groups, ignore_index=True)
    out = out.rename(columns={metric: "value"}).assign(metric=metric)
    return out[["group", "rank", "image", "metric", "value", "weights_label"]]


def write_metrics_table(metric_paths: Iterable[str], parquet: str, csv: str, errors_csv: str,
                        image_paths: Mapping[str, str] | None, truth_paths: Mapping[str, str] | None,
                        strict: bool) -> pd.DataFrame:
    """Write the per-image table of one variant, baseline or ceiling (parquet + csv)
    and its errors table (``image``, ``error``: one row per image whose status is
    not ok).

    With ``strict``, raise BadImagesError listing the bad images after writing;
    a score that is :data:`~quickgaze.saliency.ceiling.NOT_AVAILABLE` (no observer
    named) is listed in the errors table but is not a bad image.
    """
    table = metrics_table(metric_paths, image_paths, truth_paths)
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False)
    failed = table[table["status"] != "ok"]
    failed[["image", "error"]].to_csv(errors_csv, index=False)
    for _, row in failed.iterrows():
        log.warning("%s: %s", row["image"], row["error"])
    bad = failed if failed.empty else failed[~_not_available_rows(failed)]
    if strict and len(bad):
        listing = "\n".join(f"  {r.image}: {r.error}" for r in bad.itertuples())
        raise BadImagesError(f"{len(bad)} of {len(table)} images failed (strict: true):\n{listing}")
    return table


def check_metric(table: pd.DataFrame, metric: str, where: str) -> None:
    """Raise KeyError naming ``where`` and the available metrics when ``metric`` is missing."""
    if metric not in table.columns:
        raise KeyError(f"{where}: metric '{metric}' not in the metrics table; available: "
                       f"{', '.join(metric_columns(table)) or 'none'}")


def write_variant_analysis(parquet: str, ranking_csv: str, deciles_csv: str, summary_csv: str,
                           metric: str, n: int, n_boot: int, seed: int,
                           exclude_degenerate: bool = True) -> dict[str, pd.DataFrame]:
    """Ranking (top/middle/bottom ``n`` by ``metric``), deciles of ``metric`` and the
    summary (bootstrap CI of the mean, ``n_boot`` resamples, ``seed``) of every metric
    and of the explained variance, from one per-image table. Returns the three tables."""
    table = pd.read_parquet(parquet)
    if not_available(table):
        return _write_not_available(table, parquet, ranking_csv, deciles_csv, summary_csv,
                                    metric)
    check_metric(table, metric, parquet)
    ranked = ranking(table, metric, n, exclude_degenerate)
    if ranked.empty:
        raise ValueError(f"{parquet}: no image with status ok, a finite {metric} and (with "
                         f"ranking.exclude_degenerate) not degenerate ({len(table)} images; "
                         f"see the table's error and degenerate columns)")
    ok = table[table["status"] == "ok"]
    dec = stats.deciles(ok[metric]).assign(metric=metric)
    columns = metric_columns(table) + [c for c in ("explained_variance",) if c in table]
    summary = stats.summary_table(table, columns, n_boot=n_boot, seed=seed)
    summary.insert(1, "n_images", len(table))
    summary.insert(2, "n_errors", int((table["status"] != "ok").sum()))
    summary.insert(3, "weights_label", weights_labels({"table": table})["table"])
    source = {"table": table}
    ranked, dec, summary = (with_provenance(t, "analysis", source) for t in (ranked, dec, summary))
    ranked.to_csv(ranking_csv, index=False)
    dec.to_csv(deciles_csv, index=False)
    summary.to_csv(summary_csv, index=False)
    return {"ranking": ranked, "deciles": dec, "summary": summary}


def not_available(table: pd.DataFrame) -> bool:
    """True when no image of ``table`` is ok and some say their scores are
    :data:`~quickgaze.saliency.ceiling.NOT_AVAILABLE` (a human ceiling on a dataset that
    names no observer; the other images are bad images, failed for every
    name): a result to report, not a failure."""
    if table.empty or "error" not in table.columns or (table["status"] == "ok").any():
        return False
    return bool(_not_available_rows(table).any())


def _not_available_rows(table: pd.DataFrame) -> pd.Series:
    return (table["status"] != "ok") & table["error"].fillna("").astype(str).str.startswith(
        NOT_AVAILABLE)


def _write_not_available(table: pd.DataFrame, parquet: str, ranking_csv: str, deciles_csv: str,
                         summary_csv: str, metric: str) -> dict[str, pd.DataFrame]:
    """The analysis outputs of a table that is :func:`not_available` everywhere:
    an empty ranking and deciles, and a summary of one row per metric with
    ``n`` 0 and the reason in ``note``."""
    reasons = sorted(set(table.loc[_not_available_rows(table), "error"].astype(str)))
    log.warning("%s: not available for any of %d images: %s", parquet, len(table),
                " | ".join(reasons))
    ranked = pd.DataFrame(columns=["group", "rank", "image", "metric", "value", "weights_label"])
    dec = pd.DataFrame(columns=["decile", "low", "high", "n", "mean", "metric"])
    summary = pd.DataFrame({"metric": [metric], "n_images": [len(table)],
                            "n_errors": [len(table)], "n": [0], "note": ["; ".join(reasons)]})
    ranked.to_csv(ranking_csv, index=False)
    dec.to_csv(deciles_csv, index=False)
    summary.to_csv(summary_csv, index=False)
    return {"ranking": ranked, "deciles": dec, "summary": summary}


def means_table(tables: Mapping[str, pd.DataFrame], kinds: Mapping[str, str], n_boot: int,
                seed: int) -> pd.DataFrame:
    """Mean of every metric per name with its bootstrap CI (ok images only).

    Columns: ``name``, ``kind`` (variant, baseline or ceiling),
    ``weights_label`` (:func:`weights_labels`: ``untrained: smoke run`` on
    every row made from random weights), ``metric``, ``n``, ``mean``,
    ``ci_low``, ``ci_high``, ``ci_method``
    (:func:`quickgaze.report.stats.bootstrap_mean_ci_method`), ``median``. A metric a
    name lacks gives no row for that name. Choice: the label is a column, not a
    ``#`` header comment, so the CSV stays one a plain ``read_csv`` reads and the
    label stays on every row a filter or a join keeps.
    """
    labels = weights_labels(tables)
    rows = []
    for name, t in tables.items():
        s = stats.summary_table(t, metric_columns(t), n_boot=n_boot, seed=seed)
        for r in s.itertuples(index=False):
            rows.append({"name": name, "kind": kinds[name], "weights_label": labels[name],
                         "metric": r.metric, "n": r.n,
                         "mean": r.mean, "ci_low": r.ci_low, "ci_high": r.ci_high,
                         "ci_method": r.ci_method, "median": r.median})
    return pd.DataFrame(rows, columns=["name", "kind", "weights_label", "metric", "n", "mean",
                                       "ci_low", "ci_high", "ci_method", "median"])


def sign_flip_table(tables: Mapping[str, pd.DataFrame], kinds: Mapping[str, str],
                    policies: Mapping[str, str]) -> pd.DataFrame:
    """Share of ok images whose map has the opposite sign to the notebook's.

    The reference is grad-cam's (the notebook's) sign on the variant's own grid
    and crop (sign policy ``svd``, see :func:`quickgaze.cam.pca.gradcam_projection`),
    so ``share_flipped`` of a variant is the share of images where the
    notebook's map was inverted relative to that variant's policy.
    Columns: ``name``, ``kind``, ``weights_label`` (:func:`weights_labels`),
    ``sign_policy`` ("" for a baseline or ceiling), ``n``
    (ok images with a reference sign), ``n_unknown`` (ok images without one:
    grids too large for the dense SVD, near-tied components), ``n_flipped``,
    ``share_flipped`` (``n_flipped / n``; NaN for a baseline or ceiling, or when
    ``n`` is 0).
    """
    labels = weights_labels(tables)
    rows = []
    for name, t in tables.items():
        ok = t[t["status"] == "ok"]
        has = kinds[name] == "variant" and "sign_flipped" in ok.columns
        known = ok["sign_flipped"].dropna().astype(bool) if has else pd.Series(dtype=bool)
        rows.append({"name": name, "kind": kinds[name], "weights_label": labels[name],
                     "sign_policy": policies.get(name, ""),
                     "n": len(known), "n_unknown": len(ok) - len(known) if has else len(ok),
                     "n_flipped": int(known.sum()),
                     "share_flipped": float(known.mean()) if len(known) else np.nan})
    return pd.DataFrame(rows)


def deep_dive_table(tables: Mapping[str, pd.DataFrame], reference: str, metric: str,
                    n: int, exclude_degenerate: bool = True) -> pd.DataFrame:
    """The bottom (worst) ``n`` images of ``reference`` by ``metric`` and every name's score:
    its ``bottom`` group of :func:`ranking` (with fewer than ``3 n`` ranked
    images its worst third, :func:`rank_groups`, so no image is called a
    bottom one that ranks in the top).

    Columns: ``rank`` (in the reference, 1 = best, see :func:`ranking`),
    ``image``, one column per name (its ``metric``, NaN when missing or an
    error), ``best`` (the name with the best score on that image: the highest,
    or the lowest for a lower-is-better metric,
    :func:`quickgaze.saliency.metrics.better_direction`; ties go to the first name;
    ``""`` when no name has a score), ``best_value`` and ``weights_label`` (the
    names' distinct labels, :func:`weights_labels`). Rows go from the worst
    image up.
    """
    if reference not in tables:
        raise KeyError(f"deep-dive reference '{reference}' is not one of: {', '.join(tables)}")
    for name, t in tables.items():
        check_metric(t, metric, f"deep dive ({name})")
    ranked = ranking(tables[reference], metric, n, exclude_degenerate)
    bottom = ranked[ranked["group"] == "bottom"].sort_values("rank", ascending=False)
    scores = stats.aligned_scores(tables, metric)
    out = scores.reindex(bottom["image"]).reset_index(names="image")
    values = out[list(tables)]
    out.insert(0, "rank", bottom["rank"].to_numpy())
    has_any = values.notna().any(axis=1)
    gain = values * better_direction(metric)  # higher gain = better, either direction
    out["best"] = gain.fillna(-np.inf).idxmax(axis=1).where(has_any, "")
    out["best_value"] = gain.max(axis=1) * better_direction(metric)
    out["weights_label"] = " | ".join(sorted({v for label in weights_labels(tables).values()
                                              for v in label.split(" | ") if v}))
    return out


def centre_bias_fit(sigma_source: str, n_with_fixations: int, n_folds: int) -> str:
    """How each image's centre-bias width was obtained, in one line for the
    comparison tables and the methods page, from a
    :class:`~quickgaze.saliency.fixation_stats.FixationStats`' ``sigma_source``,
    number of ``images`` (those with fixations) and of rows of ``fold_sigma``
    (held-out fits; 0 when there were none). It starts with ``held out``,
    ``not held out`` (the width was fitted on the images it scores: a single
    image with fixations leaves nothing to hold out, and without fixations
    every map is used) or ``set in the config``."""
    if sigma_source == "config":
        return "set in the config (evaluation.centre_bias_sigma), not fitted"
    if sigma_source == "maps":
        return ("not held out: no image has fixations, so the width is fitted on every "
                "image's ground-truth map, the scored image's included")
    if sigma_source != "fixations":
        raise ValueError(f"centre bias: unknown sigma_source '{sigma_source}'")
    if n_folds == 0:
        return (f"not held out: {n_with_fixations} image with fixations, so the centre bias "
                "is fitted on the image it scores")
    how = "leave-one-out" if n_folds == n_with_fixations else f"{n_folds} seeded folds"
    return (f"held out: each image's width fitted without its fold ({how}, "
            f"{n_with_fixations} images with fixations)")


#: The references of the share of the gap: the baseline and the human ceiling.
GAP_FLOOR, GAP_CEILING = "centre_bias", "humans"
SHARE_IMAGE_COLUMNS = ["name", "metric", "image", "value", "floor", "ceiling", "share"]
SHARE_COLUMNS = ["name", "weights_label", "metric", "floor", "ceiling", "n", "share",
                 "ci_low", "ci_high", "ci_method", "mean_of_shares", "mean_of_shares_ci_low",
                 "mean_of_shares_ci_high", "mean_of_shares_ci_method", "median_of_shares",
                 "n_shares"]


def share_of_gap_images(tables: Mapping[str, pd.DataFrame], kinds: Mapping[str, str],
                        floor: str = GAP_FLOOR, ceiling: str = GAP_CEILING) -> pd.DataFrame:
    """Each variant's score per image and metric as a share of the gap between
    the centre bias and the human ceiling:
    ``share = (model - floor) / (ceiling - floor)``, on the images all three
    scored (status ok, finite).

    0 is the centre bias, 1 the split-half human ceiling; negative is below
    the centre bias, above 1 better than half of the observers predict the
    other half. The formula needs no direction: for a lower-is-better metric
    (KLD, MAE, MSE) numerator and denominator change sign together. NaN where
    the ceiling equals the floor. Columns :data:`SHARE_IMAGE_COLUMNS`; empty
    when the floor or the ceiling is not among ``tables``.
    """
    rows = []
    if floor not in tables or ceiling not in tables:
        return pd.DataFrame(columns=SHARE_IMAGE_COLUMNS)
    for name, t in tables.items():
        if kinds[name] != "variant":
            continue
        for metric in metric_columns(t):
            scores = stats.aligned_scores({name: t, floor: tables[floor],
                                           ceiling: tables[ceiling]}, metric).dropna()
            gap = scores[ceiling] - scores[floor]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = ((scores[name] - scores[floor]) / gap).where(gap != 0)
            rows.append(pd.DataFrame({"name": name, "metric": metric, "image": scores.index,
                                      "value": scores[name].to_numpy(),
                                      "floor": scores[floor].to_numpy(),
                                      "ceiling": scores[ceiling].to_numpy(),
                                      "share": share.to_numpy()}))
    if not rows:
        return pd.DataFrame(columns=SHARE_IMAGE_COLUMNS)
    return pd.concat(rows, ignore_index=True)[SHARE_IMAGE_COLUMNS]


def share_of_gap_table(per_image: pd.DataFrame, n_boot: int, seed: int,
                       floor: str = GAP_FLOOR, ceiling: str = GAP_CEILING,
                       labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per variant and metric, its share of the gap over the images of
    :func:`share_of_gap_images` (every image the three scored).

    The headline, ``share``, is the ratio of means,
    ``sum_i (model_i - floor_i) / sum_i (ceiling_i - floor_i)``
    (:func:`quickgaze.report.stats.ratio_of_means`), with ``ci_low``,
    ``ci_high``, ``ci_method`` the joint paired bootstrap CI
    (:func:`quickgaze.report.stats.bootstrap_ratio_ci_method`: the images
    are resampled together for numerator and denominator). Secondary: the
    mean of the per-image shares (``mean_of_shares`` with its bootstrap CI,
    :func:`quickgaze.report.stats.summarise`), their median and ``n_shares``,
    the images with a finite share (the ceiling differs from the floor).
    Choice: the ratio of means leads because a per-image share explodes where
    the ceiling is barely above the centre bias (on the real examples one
    image with a gap of 0.016 and a share of -78.6 carried 67% of the summed
    |share|); such an image moves the mean of shares, not the ratio, whose
    denominator it hardly changes. Columns :data:`SHARE_COLUMNS`;
    ``weights_label`` from ``labels`` by name (:func:`weights_labels`)."""
    rows = []
    for (name, metric), g in per_image.groupby(["name", "metric"], sort=False):
        s = stats.summarise(g["share"], n_boot=n_boot, seed=seed)
        num = (g["value"] - g["floor"]).to_numpy(dtype=float)
        den = (g["ceiling"] - g["floor"]).to_numpy(dtype=float)
        low, high, method = stats.bootstrap_ratio_ci_method(num, den, n_boot=n_boot, seed=seed)
        rows.append({"name": name, "weights_label": (labels or {}).get(name, ""),
                     "metric": metric, "floor": floor, "ceiling": ceiling,
                     "n": len(g), "share": stats.ratio_of_means(num, den), "ci_low": low,
                     "ci_high": high, "ci_method": method, "mean_of_shares": s["mean"],
                     "mean_of_shares_ci_low": s["ci_low"],
                     "mean_of_shares_ci_high": s["ci_high"],
                     "mean_of_shares_ci_method": s["ci_method"],
                     "median_of_shares": s["median"], "n_shares": s["n"]})
    return pd.DataFrame(rows, columns=SHARE_COLUMNS)


#: The headline metrics (issue 16): the MIT/Tuebingen benchmark's main ones.
HEADLINE_METRICS = ("cc", "nss", "auc_judd", "sauc", "sim", "info_gain")
HEADLINE_LABELS = {"cc": "CC", "nss": "NSS", "auc_judd": "AUC-Judd", "sauc": "sAUC",
                   "sim": "SIM", "info_gain": "IG (bits)"}
KIND_ORDER = {"variant": 0, "baseline": 1, "ceiling": 2}


def headline_table(means: pd.DataFrame, form: str = "smooth",
                   metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """One row per variant, baseline and ceiling (in that order, each kind in the
    order of ``means``) and, per headline metric of the map ``form`` (``raw`` or
    ``smooth``: the column ``<metric>_<form>``), its mean and 95% CI from
    :func:`means_table`'s rows. Columns: ``name``, ``kind``, ``n`` (the most
    images any of its metrics has), ``weights_label`` (means.csv's, "" when it
    has none), then ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high`` per
    metric (NaN where the name lacks it)."""
    if form not in ("raw", "smooth"):
        raise ValueError(f"headline: form must be raw or smooth, got '{form}'")
    names = list(dict.fromkeys(means["name"]))
    first = means.drop_duplicates("name").set_index("name")
    kinds = first["kind"]
    labels = (first["weights_label"].fillna("").astype(str) if "weights_label" in first
              else pd.Series("", index=first.index))
    names.sort(key=lambda n: KIND_ORDER.get(kinds[n], 0))  # stable: config order per kind
    indexed = means.set_index(["name", "metric"])
    rows = []
    for name in names:
        row: dict[str, object] = {"name": name, "kind": kinds[name], "n": 0,
                                  "weights_label": labels[name]}
        for m in metrics:
            key = (name, f"{m}_{form}")
            found = key in indexed.index
            for col, src in ((m, "mean"), (f"{m}_ci_low", "ci_low"), (f"{m}_ci_high", "ci_high")):
                row[col] = float(indexed.loc[key, src]) if found else np.nan
            if found:
                row["n"] = max(int(row["n"]), int(indexed.loc[key, "n"]))
        rows.append(row)
    return pd.DataFrame(rows)


def _cell(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.3f}"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def headline_untrained(table: pd.DataFrame) -> str:
    """:func:`untrained_note` of the rows of a :func:`headline_table` made from
    random weights ("" when none is)."""
    labels = dict(zip(table["name"], table.get("weights_label", pd.Series("", table.index))))
    return untrained_note(untrained_names(labels))


def headline_caption(table: pd.DataFrame, form: str) -> str:
    """The headline's caption: what the numbers are, then the untrained note."""
    return " ".join(filter(None, [f"Mean and 95% CI per image, {form} map.",
                                  headline_untrained(table)]))


def headline_markdown(table: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS,
                      caption: str = "") -> str:
    """:func:`headline_table` as a Markdown table: ``mean [ci_low, ci_high]`` per cell,
    3 decimals, ``n/a`` where a name lacks the metric; then, with ``caption``, a
    blank line and ``Table: <caption>`` (pandoc's caption line)."""
    head = ["name", "kind", "n", *(HEADLINE_LABELS.get(m, m) for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.to_dict("records"):
        cells = [str(r["name"]), str(r["kind"]), str(r["n"]),
                 *(_cell(r[m], r[f"{m}_ci_low"], r[f"{m}_ci_high"]) for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    if caption:
        lines += ["", f"Table: {caption}"]
    return "\n".join(lines) + "\n"


def _latex(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (names are letters, digits
    and ``_ . -``, see the schema; labels add spaces and parentheses)."""
    for char in ("&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text


def headline_latex(table: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS,
                   caption: str = "") -> str:
    """:func:`headline_table` as a LaTeX ``table`` with a ``tabular`` (booktabs
    rules: ``\\usepackage{booktabs}``): mean and, below it, the 95% CI per cell;
    a rule between variants, baselines and ceilings; names escaped."""
    cols = "ll" + "r" * (len(metrics) + 1)
    out = ["\\begin{table}[t]", "\\centering", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
           " & ".join(["name", "kind", "$n$", *(_latex(HEADLINE_LABELS.get(m, m))
                                                 for m in metrics)]) + " \\\\", "\\midrule"]
    previous = None
    for r in table.to_dict("records"):
        if previous is not None and r["kind"] != previous:
            out.append("\\midrule")
        previous = r["kind"]
        means = [f"{r[m]:.3f}" if np.isfinite(r[m]) else "n/a" for m in metrics]
        cis = [f"[{r[f'{m}_ci_low']:.3f}, {r[f'{m}_ci_high']:.3f}]"
               if np.isfinite(r[f"{m}_ci_low"]) and np.isfinite(r[f"{m}_ci_high"]) else ""
               for m in metrics]
        out.append(" & ".join([_latex(str(r["name"])), _latex(str(r["kind"])), str(r["n"]),
                               *means]) + " \\\\")
        if any(cis):
            out.append(" & ".join(["", "", "", *(f"\\footnotesize {c}" if c else "" for c in cis)])
                       + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}",
            f"\\caption{{{_latex(caption)}}}" if caption else "", "\\end{table}"]
    return "\n".join(line for line in out if line) + "\n"


def read_tables(paths: Mapping[str, str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """Per-image tables (parquet) by name, in the given order."""
    return {name: pd.read_parquet(p) for name, p in paths.items()}


def write_comparison(table_paths: Mapping[str, str | os.PathLike], baselines: Iterable[str],
                     policies: Mapping[str, str], means_csv: str, paired_csv: str,
                     flips_csv: str, n_boot: int, seed: int,
                     ceilings: Iterable[str] = (), share_csv: str | None = None,
                     share_images_csv: str | None = None,
                     centre_bias_fit: str = "") -> dict[str, pd.DataFrame]:
    """Compare variants, baselines and the human ceilings on every metric present:
    means with bootstrap CIs, paired per-image differences of every pair
    (:func:`quickgaze.report.stats.paired_table`, families by kind), the sign-flip
    shares and each variant's share of the gap between the centre bias and the
    human ceiling (:func:`share_of_gap_table`, per image :func:`share_of_gap_images`).
    Writes the CSVs given and returns the tables (keys ``means``, ``paired``,
    ``flips``, ``share``, ``share_images``). ``kind`` is ``variant``,
    ``baseline`` or ``ceiling``. ``centre_bias_fit``
    (:attr:`quickgaze.saliency.fixation_stats.FixationStats.centre_bias_fit`:
    whether each image's centre bias was fitted without it) is a column of
    the means, paired and share tables, because the centre bias is a name in
    them, the floor of the share and the reference of every information gain.
    Every table but ``share_images`` names the weights of its rows
    (``weights_label``; ``weights_label_a`` and ``_b`` in ``paired``), so a
    number made from random weights says so on its row."""
    tables = read_tables(table_paths)
    baselines, ceilings = set(baselines), set(ceilings)
    kinds = {n: "baseline" if n in baselines else "ceiling" if n in ceilings else "variant"
             for n in tables}
    metrics = sorted({c for t in tables.values() for c in metric_columns(t)})
    labels = weights_labels(tables)
    paired = stats.paired_table(tables, metrics, n_boot=n_boot, seed=seed, kinds=kinds)
    at = list(paired.columns).index("b") + 1
    for k, side in enumerate(("a", "b")):
        paired.insert(at + k, f"weights_label_{side}", [labels.get(n, "") for n in paired[side]])
    out = {"means": means_table(tables, kinds, n_boot, seed),
           "paired": paired,
           "flips": sign_flip_table(tables, kinds, policies),
           "share_images": share_of_gap_images(tables, kinds)}
    out["share"] = share_of_gap_table(out["share_images"], n_boot, seed, labels=labels)
    for key in ("means", "paired", "share"):
        out[key] = out[key].assign(centre_bias_fit=centre_bias_fit)
    for key in ("means", "flips", "share"):
        out[key] = with_provenance(out[key], "compare", tables, by="name")
    out["paired"] = with_provenance(out["paired"], "compare", tables)
    for key, path in (("share", share_csv), ("share_images", share_images_csv)):
        if path is not None:
            out[key].to_csv(path, index=False)
    out["means"].to_csv(means_csv, index=False)
    out["paired"].to_csv(paired_csv, index=False)
    out["flips"].to_csv(flips_csv, index=False)
    return out
