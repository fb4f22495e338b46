"""Figures of the analysis: per-image galleries, the bottom-N deep dive, deciles,
and the cross-variant overview.

Figures are built on :class:`matplotlib.figure.Figure` directly (Agg canvas,
no pyplot state), so they are safe in worker processes without a display.
Maps are ``(H, W)`` float arrays in [0, 1] at image size; images are
``(H, W, 3)`` uint8.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from quickgaze.io.files import atomic_path
from quickgaze.io.images import read_map, read_rgb
from quickgaze.io.records import UNTRAINED_LABEL, load_npz
from quickgaze.maps.resampling import cam_to_image
from quickgaze.report.tables import (
    GAP_CEILING,
    GAP_FLOOR,
    HEADLINE_LABELS,
    HEADLINE_METRICS,
    deep_dive_table,
    headline_caption,
    headline_latex,
    headline_markdown,
    headline_table,
    headline_untrained,
    ranked_order,
    read_tables,
    with_provenance,
)
from quickgaze.saliency.metrics import better_direction

log = logging.getLogger("quickgaze")

DPI = 80  # 4-panel gallery ~1040x300 px: readable, and 75 figures per variant stay small
GROUPS = ("top", "middle", "bottom")


def colour_overlay(image: np.ndarray, saliency: np.ndarray, alpha: float = 0.5,
                   cmap: str = "jet") -> np.ndarray:
    """Blend a colour-mapped saliency map onto an image.

    ``out = (1 - alpha) * image + alpha * cmap(saliency)`` per pixel, as
    grad-cam's ``show_cam_on_image`` with ``image_weight = 1 - alpha``.
    image: ``(H, W, 3)`` uint8; saliency: ``(H, W)`` in [0, 1] (clipped).
    Returns ``(H, W, 3)`` uint8.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay: image must be (H, W, 3), got {image.shape}")
    if saliency.shape != image.shape[:2]:
        raise ValueError(f"overlay: map shape {saliency.shape} differs from image shape "
                         f"{image.shape[:2]}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
    heat = colormaps[cmap](np.clip(np.nan_to_num(saliency), 0, 1))[..., :3]
    out = (1 - alpha) * image.astype(np.float64) / 255.0 + alpha * heat
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


FIGURE_FORMATS = ("png", "jpg", "pdf", "svg")


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI,
                title: str = "") -> None:
    """Save ``fig`` atomically (a killed job leaves no half-written figure), as PNG,
    for a ``.jpg`` path JPEG of quality 85 (galleries: a quarter of the PNG's size),
    or as vector PDF or SVG for a ``.pdf`` or ``.svg`` path. ``title``: also
    written as the file's ``Title`` metadata (PNG, PDF, SVG), the text a
    program reads back from the figure."""
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"{path}: figures are written as {', '.join('.' + f for f in FIGURE_FORMATS)}")
    extra: dict = {"pil_kwargs": {"quality": 85}} if fmt == "jpg" else {}
    if title and fmt != "jpg":
        extra["metadata"] = {"Title": title}
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt, **extra)


def _show(ax, img: np.ndarray, title: str, cmap: str | None = None) -> None:
    ax.imshow(img, cmap=cmap, vmin=0, vmax=1 if img.dtype != np.uint8 else None,
              interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def is_untrained(weights_label: object) -> bool:
    return str(weights_label) == UNTRAINED_LABEL


def gallery_figure(image: np.ndarray, cam: np.ndarray, smooth: np.ndarray, truth: np.ndarray,
                   title: str, panel_titles: Sequence[str], untrained: bool = False) -> Figure:
    """Four panels: image | raw CAM overlay | smoothed CAM overlay | ground-truth overlay.

    ``cam``, ``smooth`` and ``truth`` are ``(H, W)`` maps at the image's size.
    With ``untrained`` the title says "untrained: smoke run" in red.
    """
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = [image, colour_overlay(image, cam), colour_overlay(image, smooth),
              colour_overlay(image, truth)]
    for ax, panel, sub in zip(axes, panels, panel_titles):
        _show(ax, panel, sub)
    if untrained:
        title = f"{title}   [{UNTRAINED_LABEL}]"
    fig.suptitle(title, fontsize=11, color="firebrick" if untrained else "black")
    return fig


def _fmt(value: object) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(v) else f"{v:.3f}"


def load_panels(row: pd.Series, image_id: str) -> dict[str, np.ndarray]:
    """Image, raw CAM, smoothed CAM and ground truth of one table row, at image size.

    Reads ``image_path``, ``cam_path`` (``.npz``: ``cam``, ``extent``),
    ``smooth_path`` (8-bit PNG) and ``truth_path`` (``.npz``: ``map`` uint8).
    A map of another size than the image is an error naming the file.
    """
    for column in ("image_path", "cam_path", "smooth_path", "truth_path"):
        if column not in row or not isinstance(row[column], str) or not row[column]:
            raise KeyError(f"gallery: image {image_id} has no '{column}' in the table")
    image = read_rgb(row["image_path"])
    shape = image.shape[:2]
    cam_rec = load_npz(row["cam_path"])
    cam = cam_to_image(cam_rec["cam"], tuple(cam_rec["extent"]), shape,
                       tuple(cam_rec.get("offset", (0.0, 0.0))))
    smooth = read_map(row["smooth_path"])
    truth_rec = load_npz(row["truth_path"])
    if "map" not in truth_rec:
        raise KeyError(f"{row['truth_path']}: ground-truth record has no 'map'")
    truth = truth_rec["map"].astype(np.float32) / 255.0
    for name, m, path in (("smoothed map", smooth, row["smooth_path"]),
                          ("ground truth", truth, row["truth_path"])):
        if m.shape != shape:
            raise ValueError(f"{path}: {name} is {m.shape[0]}x{m.shape[1]}, image "
                             f"{row['image_path']} is {shape[0]}x{shape[1]}")
    return {"image": image, "cam": cam, "smooth": smooth, "truth": truth}


def gallery_name(group: str, rank: int, image: str) -> str:
    """Relative path of a gallery figure: ``<group>/<rank:05d>_<image>.jpg``."""
    return f"{group}/{int(rank):05d}_{image}.jpg"


def gallery_title(image: str, metric: str, value: float, variant: str, group: str,
                  rank: int, n_ranked: int) -> str:
    """A gallery figure's title: the image, its score, the variant, its group and its
    rank among the ``n_ranked`` ranked images (1 = best by the metric's direction)."""
    return (f"{image}   {metric} = {_fmt(value)}   "
            f"({variant}, {group}, rank {int(rank)} of {int(n_ranked)})")


def deep_dive_title(image: str, reference: str, rank: int, n_ranked: int, metric: str,
                    best: str, best_value: float) -> str:
    """A deep-dive figure's title: the image, its rank in the reference's bottom group
    among the ``n_ranked`` ranked images (1 = best), and the best name on it."""
    return (f"{image}   bottom of {reference} (rank {int(rank)} of {int(n_ranked)}) by "
            f"{metric}; best: {best or 'none'} ({_fmt(best_value)})")


def write_gallery(ranking: pd.DataFrame, table: pd.DataFrame, outdir: str | os.PathLike,
                  variant: str) -> list[Path]:
    """One :func:`gallery_figure` per ranked image, at ``outdir/<group>/<rank>_<image>.jpg``.

    ranking: see :func:`quickgaze.report.tables.ranking`; table: the variant's
    per-image table with the path columns. Returns the written paths.
    """
    outdir = Path(outdir)
    rows = table.set_index("image")
    metric = str(ranking["metric"].iloc[0]) if len(ranking) else ""
    base = metric.rsplit("_", 1)[0]
    n_ranked = int(ranking["rank"].max()) if len(ranking) else 0
    written = []
    for group in GROUPS:
        (outdir / group).mkdir(parents=True, exist_ok=True)
    for r in ranking.itertuples(index=False):
        row = rows.loc[r.image]
        panels = load_panels(row, r.image)
        flip = ", sign flipped" if bool(row.get("sign_flipped", False)) else ""
        sub = [f"image {panels['image'].shape[0]}x{panels['image'].shape[1]}",
               (f"raw CAM: {base} {_fmt(row.get(base + '_raw'))}, "
                f"EV {_fmt(row.get('explained_variance'))}{flip}"),
               f"smoothed CAM: {base} {_fmt(row.get(base + '_smooth'))}",
               f"ground truth ({row.get('map_source', '') or 'map'})"]
        title = gallery_title(r.image, metric, r.value, variant, r.group, r.rank, n_ranked)
        fig = gallery_figure(panels["image"], panels["cam"], panels["smooth"], panels["truth"],
                             title, sub, untrained=is_untrained(row.get("weights_label")))
        path = outdir / gallery_name(r.group, r.rank, r.image)
        save_figure(fig, path)
        written.append(path)
        log.info("gallery %d/%d: %s", len(written), len(ranking), path)
    return written


def deep_dive_figure(image: np.ndarray, truth: np.ndarray, smooths: Mapping[str, np.ndarray],
                     scores: Mapping[str, float], best: str, title: str, metric: str,
                     untrained: bool = False) -> Figure:
    """image | ground truth | one smoothed-map overlay per variant, the best one framed.

    smooths and scores are keyed by variant name (a missing map is shown blank).
    """
    names = list(scores)
    fig = Figure(figsize=(3.2 * (2 + len(names)), 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, 2 + len(names)))
    _show(axes[0], image, "image")
    _show(axes[1], colour_overlay(image, truth), "ground truth")
    for ax, name in zip(axes[2:], names):
        m = smooths.get(name)
        panel = colour_overlay(image, m) if m is not None else np.ones_like(image) * 255
        mark = "  (best)" if name == best else ""
        _show(ax, panel, f"{name}: {metric} {_fmt(scores[name])}{mark}")
        if name == best:
            for spine in ax.spines.values():
                spine.set_edgecolor("forestgreen")
                spine.set_linewidth(4)
            ax.title.set_color("forestgreen")
            ax.title.set_fontweight("bold")
    if untrained:
        title = f"{title}   [{UNTRAINED_LABEL}]"
    fig.suptitle(title, fontsize=11, color="firebrick" if untrained else "black")
    return fig


def write_deep_dive(dive: pd.DataFrame, tables: Mapping[str, pd.DataFrame], reference: str,
                    metric: str, outdir: str | os.PathLike, n_ranked: int) -> list[Path]:
    """One :func:`deep_dive_figure` per row of ``dive`` (see
    :func:`quickgaze.report.tables.deep_dive_table`) at ``outdir/<rank>_<image>.jpg``;
    ``n_ranked``: how many images of the reference rank (the titles' "of")."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    indexed = {name: t.set_index("image") for name, t in tables.items()}
    ref = indexed[reference]
    by_image = dive.set_index("image")
    written = []
    for r in dive.itertuples(index=False):
        image = read_rgb(ref.loc[r.image, "image_path"])
        truth = load_npz(ref.loc[r.image, "truth_path"])["map"].astype(np.float32) / 255.0
        smooths = {}
        for name, t in indexed.items():
            if r.image in t.index and t.loc[r.image, "status"] == "ok":
                m = read_map(t.loc[r.image, "smooth_path"])
                smooths[name] = m if m.shape == image.shape[:2] else None
        scores = {name: by_image.loc[r.image, name] for name in indexed}
        title = deep_dive_title(r.image, reference, r.rank, n_ranked, metric, r.best,
                                r.best_value)
        untrained = any(is_untrained(t.loc[r.image, "weights_label"]) for t in indexed.values()
                        if r.image in t.index and "weights_label" in t.columns)
        fig = deep_dive_figure(image, truth, smooths, scores, r.best, title,
                               metric.rsplit("_", 1)[0], untrained)
        path = outdir / f"{int(r.rank):05d}_{r.image}.jpg"
        save_figure(fig, path)
        written.append(path)
        log.info("deep dive %d/%d: %s", len(written), len(dive), path)
    return written


def deciles_plot(deciles: pd.DataFrame, metric: str, title: str = "") -> Figure:
    """Bar per decile: the mean of ``metric`` in it, whiskers to the decile's edges
    (an empty table, a ceiling not available anywhere, says so instead)."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    if deciles.empty:
        ax.text(0.5, 0.5, "not available: no image has a score", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title or f"Deciles of {metric}")
        return fig
    x = deciles["decile"].to_numpy()
    mean = deciles["mean"].to_numpy(dtype=float)
    err = np.vstack([np.clip(mean - deciles["low"], 0, None), np.clip(deciles["high"] - mean,
                                                                       0, None)])
    colours = colormaps["RdBu"](np.clip((np.nan_to_num(mean) + 1) / 2, 0, 1))
    ax.bar(x, mean, color=colours, edgecolor="black", yerr=err, capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [f"{d}\nn={n}" for d, n in zip(x, deciles["n"])])
    ax.set_xlabel("decile (1 = lowest), images per decile")
    ax.set_ylabel(f"mean {metric} (whiskers: decile edges)")
    ax.set_title(title or f"Deciles of {metric}")
    return fig


def error_bar(mean: float, low: float, high: float) -> list[list[float]] | None:
    """``xerr`` of one point for ``Axes.errorbar``: ``[[mean - low], [high - mean]]``,
    each clipped at 0, or None (no bar) when a bound is not finite.

    Choice: clip, because matplotlib refuses a negative error bar, and a
    bound can sit an ulp beside the mean it brackets (a constant column's
    mean is not exactly its value; a BCa bound of near-equal values is
    rounded); a bound on the wrong side of the mean by more than rounding
    would still draw, as a bar of length 0, not crash the report.
    """
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return [[max(0.0, float(mean - low))], [max(0.0, float(high - mean))]]


#: Marker and colour of each kind of scored name in the comparison plots.
KIND_STYLE = {"variant": ("o", "tab:blue"), "baseline": ("s", "grey"),
              "ceiling": ("D", "tab:green")}


def overview_plot(means: pd.DataFrame, flips: pd.DataFrame, title: str = "") -> Figure:
    """At a glance: per metric, every variant's, baseline's and human ceiling's mean
    with its CI, and a last panel with the share of images whose sign was flipped."""
    metrics = sorted(means["metric"].unique())
    names = list(dict.fromkeys(means["name"]))
    n_panels = len(metrics) + 1
    ncols = min(3, n_panels)
    nrows = int(np.ceil(n_panels / ncols))
    height = max(2.2, 0.35 * len(names) + 1.2)
    fig = Figure(figsize=(4.6 * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    y = np.arange(len(names))
    for ax, metric in zip(axes, metrics):
        m = means[means["metric"] == metric].set_index("name").reindex(names)
        for yi, (name, r) in zip(y, m.iterrows()):
            if not np.isfinite(r["mean"]):
                continue
            fmt, colour = KIND_STYLE.get(r["kind"], KIND_STYLE["variant"])
            ax.errorbar(r["mean"], yi, xerr=error_bar(r["mean"], r["ci_low"], r["ci_high"]),
                        fmt=fmt, color=colour, capsize=3)
        ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{metric}: mean, 95% CI ({better_phrase(metric)})", fontsize=9)
    ax = axes[len(metrics)]
    f = flips.set_index("name").reindex(names)
    share = f["share_flipped"].to_numpy(dtype=float)
    ax.barh(y, np.nan_to_num(share), color="tab:orange")
    for yi, s, pol in zip(y, share, f["sign_policy"].fillna("")):
        label = "n/a" if not np.isfinite(s) else f"{100 * s:.0f}% ({pol})" if pol else \
            f"{100 * s:.0f}%"
        ax.annotate(label, (np.nan_to_num(s), yi), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=7)
    ax.set_xlim(0, 1.25)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_title("share of images with sign flipped", fontsize=9)
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title or "Variants, baselines and the human ceiling (circles: variants, "
                          "squares: baselines, diamonds: humans)", fontsize=11)
    return fig


def headline_plot(table: pd.DataFrame, form: str = "smooth", title: str = "") -> Figure:
    """The headline figure: one panel per headline metric
    (:data:`quickgaze.report.tables.HEADLINE_METRICS`), every variant beside the
    baselines and the human ceilings, each a mean with its 95% CI (a row of
    :func:`quickgaze.report.tables.headline_table`); dashed lines at the centre bias
    and at the split-half ceiling ``humans`` where they are scored."""
    metrics = [m for m in HEADLINE_METRICS if m in table.columns]
    ncols = 3
    nrows = int(np.ceil(len(metrics) / ncols))
    height = max(2.4, 0.32 * len(table) + 1.3)
    fig = Figure(figsize=(4.4 * ncols, height * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    y = np.arange(len(table))
    names = [f"{r['name']} ({UNTRAINED_LABEL})"
             if is_untrained(r.get("weights_label", "")) else str(r["name"])
             for r in table.to_dict("records")]
    for ax, m in zip(axes, metrics):
        for yi, r in zip(y, table.to_dict("records")):
            if not np.isfinite(r[m]):
                ax.annotate("n/a", (0.02, yi), xycoords=("axes fraction", "data"), fontsize=7,
                            va="center", color="grey")
                continue
            fmt, colour = KIND_STYLE.get(r["kind"], KIND_STYLE["variant"])
            ax.errorbar(r[m], yi, xerr=error_bar(r[m], r[f"{m}_ci_low"], r[f"{m}_ci_high"]),
                        fmt=fmt, color=colour, capsize=3)
        for ref, style in ((GAP_FLOOR, ":"), (GAP_CEILING, "--")):
            row = table[table["name"] == ref]
            if len(row) and np.isfinite(row[m].iloc[0]):
                ax.axvline(row[m].iloc[0], color="grey", lw=0.8, ls=style)
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{HEADLINE_LABELS.get(m, m)} ({form} map; "
                     f"{better_phrase(f'{m}_{form}')})", fontsize=9)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(headline_title(table, title), fontsize=10,
                 color="firebrick" if headline_untrained(table) else "black")
    return fig


def headline_title(table: pd.DataFrame, title: str = "") -> str:
    """The headline figure's title: ``title`` or what the figure shows, led by the
    untrained note (:func:`quickgaze.report.tables.headline_untrained`) on its own
    line when a row was made from random weights."""
    text = title or ("Headline: mean and 95% CI per image set (circles: variants, "
                     "squares: baselines, diamonds: humans; dotted: centre bias, "
                     "dashed: split-half humans)")
    note = headline_untrained(table)
    return f"{note}\n{text}" if note else text


def write_headline(means_csv: str | os.PathLike, form: str, figures: Sequence[str | os.PathLike],
                   markdown: str | os.PathLike, latex: str | os.PathLike, title: str = "") -> None:
    """The headline figure (one file per path in ``figures``: PNG, PDF or SVG),
    Markdown table and LaTeX table from the comparison's ``means.csv``
    (:func:`quickgaze.report.tables.headline_table` of map ``form``). Rows made
    from random weights are labelled in all of them: the figure's title (and
    its ``Title`` metadata) and tick labels, the tables' caption
    (:func:`quickgaze.report.tables.headline_caption`)."""
    table = headline_table(pd.read_csv(means_csv), form)
    fig = headline_plot(table, form, title)
    for path in figures:
        save_figure(fig, path, title=headline_title(table, title))
    caption = " ".join(filter(None, [title, headline_untrained(table)])) if title else \
        headline_caption(table, form)
    for path, text in ((markdown, headline_markdown(table, caption=caption)),
                       (latex, headline_latex(table, caption=caption))):
        with atomic_path(path) as tmp:
            Path(tmp).write_text(text)


def better_phrase(metric: str) -> str:
    """"higher is better" or "lower is better" for a metric column
    (:func:`quickgaze.saliency.metrics.better_direction`)."""
    return "higher is better" if better_direction(metric) > 0 else "lower is better"


#: Colour of a pair in the paired plot by its ``better`` column.
BETTER_COLOURS = {"a": "tab:green", "b": "tab:red", "": "tab:grey"}


def paired_plot(paired: pd.DataFrame, metric: str) -> Figure:
    """Forest plot of the paired per-image differences ``a - b`` of ``metric``:
    mean with bootstrap CI per pair, coloured by the table's ``better``
    (the multiplicity-adjusted decision, :func:`quickgaze.report.stats.paired_table`):
    green where a is better, red where b is, grey without a decision; annotated
    with the Holm-adjusted Wilcoxon p-value and the rank-biserial r."""
    p = paired[paired["metric"] == metric].reset_index(drop=True)
    fig = Figure(figsize=(8, max(2.4, 0.4 * len(p) + 1.6)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(p))
    for yi, r in zip(y, p.itertuples(index=False)):
        if not np.isfinite(r.mean_diff):
            continue
        better = r.better if isinstance(r.better, str) else ""
        ax.errorbar(r.mean_diff, yi, xerr=error_bar(r.mean_diff, r.ci_low, r.ci_high),
                    fmt="o", color=BETTER_COLOURS[better], capsize=3)
        right = r.ci_high if np.isfinite(r.ci_high) else r.mean_diff
        ax.annotate(f"p_holm={r.p_holm:.2g}, r={r.rank_biserial:+.2f}, n={r.n_pairs}"
                    if np.isfinite(r.p_value) else f"n={r.n_pairs}", (right, yi),
                    xytext=(5, 0), textcoords="offset points", va="center", fontsize=7)
    if p.empty:  # one variant and no baseline: nothing to pair, say so instead of blank axes
        ax.text(0.5, 0.5, f"no pair to compare on {metric}: needs two or more variants or "
                "baselines", ha="center", va="center", transform=ax.transAxes)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [f"{a} - {b}" for a, b in zip(p["a"], p["b"])], fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.25)
    favours_a = "right" if better_direction(metric) > 0 else "left"
    decision = (str(p["decided_by"].dropna().iloc[0]) if "decided_by" in p
                and p["decided_by"].notna().any() else "p_holm < 0.05")
    ax.set_xlabel(f"mean paired difference a - b of {metric}, 95% bootstrap CI "
                  f"({better_phrase(metric)}: {favours_a} of 0 favours a)\n"
                  f"colour: {decision} (green: a better, red: b better, grey: no "
                  "decision); the CI is unadjusted\n"
                  "p_holm: Wilcoxon signed-rank p, Holm-adjusted within the family "
                  "(pairs with a variant, or of references); r: rank-biserial, + favours a",
                  fontsize=8)
    ax.set_title(f"Paired per-image differences of {metric}")
    return fig


def write_deciles_plot(deciles: pd.DataFrame, metric: str, name: str,
                       path: str | os.PathLike) -> None:
    save_figure(deciles_plot(deciles, metric, f"{name}: deciles of {metric}"), path)


def write_comparison_plots(comparison: Mapping[str, pd.DataFrame], metric: str,
                           overview_png: str | os.PathLike, paired_png: str | os.PathLike) -> None:
    """The overview (every metric) and the paired-difference plot of ``metric``, from
    :func:`quickgaze.report.tables.write_comparison`'s tables."""
    save_figure(overview_plot(comparison["means"], comparison["flips"]), overview_png)
    save_figure(paired_plot(comparison["paired"], metric), paired_png)


def write_deep_dive_outputs(table_paths: Mapping[str, str | os.PathLike], reference: str,
                            metric: str, n: int, table_csv: str | os.PathLike,
                            outdir: str | os.PathLike,
                            exclude_degenerate: bool = True) -> pd.DataFrame:
    """Deep dive into the bottom ``n`` images of ``reference``: the table
    (:func:`quickgaze.report.tables.deep_dive_table`) as CSV and one figure per image."""
    tables = read_tables(table_paths)
    dive = deep_dive_table(tables, reference, metric, n, exclude_degenerate)
    with_provenance(dive, "deep_dive", tables).to_csv(table_csv, index=False)
    n_ranked = len(ranked_order(tables[reference], metric, exclude_degenerate))
    write_deep_dive(dive, tables, reference, metric, outdir, n_ranked)
    return dive


#: Axis label of each grouping of :func:`quickgaze.report.categories.metric_by_category`.
GROUPING_LABELS = {"supercategory": "COCO supercategory present (an image counts in each)",
                   "n_objects": "objects in the image (crowds not counted)",
                   "largest_object": "area of the largest object, share of the image"}


def category_plot(cells: pd.DataFrame, grouping: str, metric: str, title: str = "") -> Figure:
    """Forest plot of one grouping of :func:`quickgaze.report.categories.metric_by_category`:
    per cell (rows, labelled with its largest ``n_images`` over the names) every
    name's mean with its 95% CI, side by side, marker by kind
    (:data:`KIND_STYLE`), colour by name."""
    c = cells[cells["grouping"] == grouping]
    labels = list(dict.fromkeys(c["cell"]))
    names = list(dict.fromkeys(c["name"]))
    fig = Figure(figsize=(8, max(2.6, 0.22 * len(labels) * max(1, len(names)) + 1.6)),
                 layout="constrained")
    ax = fig.subplots()
    if c.empty:
        ax.text(0.5, 0.5, f"no image with a {metric} score has annotations", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title or f"{metric} by {grouping}")
        return fig
    y = np.arange(len(labels), dtype=float)
    step = 0.8 / max(1, len(names))
    colours = colormaps["tab10"]
    for k, name in enumerate(names):
        rows = c[c["name"] == name].set_index("cell").reindex(labels)
        kind = rows["kind"].dropna().iloc[0] if "kind" in rows and rows["kind"].notna().any() \
            else "variant"
        marker = KIND_STYLE.get(kind, KIND_STYLE["variant"])[0]
        mean = rows["mean"].to_numpy(dtype=float)
        low = np.clip(mean - rows["ci_low"].to_numpy(dtype=float), 0, None)
        high = np.clip(rows["ci_high"].to_numpy(dtype=float) - mean, 0, None)
        ax.errorbar(mean, y - 0.4 + step * (k + 0.5), xerr=np.vstack([low, high]), fmt=marker,
                    color=colours(k % 10), capsize=2, ms=4, lw=1, label=f"{name} ({kind})")
    for edge in y[1:] - 0.5:  # a cell's names between two lines
        ax.axhline(edge, color="lightgrey", lw=0.6)
    n = c.groupby("cell")["n_images"].max().reindex(labels)
    ax.set_yticks(y, [f"{label} (n={int(k)})" for label, k in zip(labels, n)], fontsize=8)
    ax.set_ylabel(GROUPING_LABELS.get(grouping, grouping), fontsize=8)
    ax.set_xlabel(f"mean {metric}, 95% CI ({better_phrase(metric)}); n: images in the cell",
                  fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or f"{metric} by {grouping} (mean and 95% CI per image set)")
    return fig

