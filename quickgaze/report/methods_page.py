"""The report's methods page: what a reader needs to repeat or cite a study.

One HTML page: the dataset and image counts, every variant's parameters,
the evaluation settings, every metric's definition and direction, and the
provenance of the results (quickgaze and library versions, code hashes,
devices, weights), read from the per-image tables so that it describes the
records the numbers come from, not the environment that made the page.
"""

from __future__ import annotations

import datetime
import html
import inspect
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

import quickgaze
from quickgaze.report.tables import (
    provenance_columns,
    untrained_names,
    untrained_note,
    weights_labels,
)
from quickgaze.saliency import metrics


def metric_definitions() -> pd.DataFrame:
    """One row per metric of :data:`quickgaze.saliency.metrics.METRICS`: ``metric``,
    ``kind`` (distribution or fixation), ``better`` (higher or lower,
    :func:`quickgaze.saliency.metrics.better_direction`) and ``definition`` (the first
    paragraph of its function's docstring)."""
    rows = []
    for name in metrics.METRICS:
        doc = inspect.getdoc(getattr(metrics, name)) or ""
        rows.append({"metric": name,
                     "kind": "distribution" if name in metrics.DISTRIBUTION_METRICS
                     else "fixation",
                     "better": "higher" if metrics.better_direction(name) > 0 else "lower",
                     "definition": " ".join(doc.split("\n\n")[0].split())})
    return pd.DataFrame(rows)


def image_counts(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per scored name: ``images``, ``ok``, ``errors`` and ``degenerate`` (ok images
    with a degenerate reason, left out of rankings by default)."""
    rows = []
    for name, t in tables.items():
        ok = t["status"] == "ok"
        degenerate = (t["degenerate"].fillna("").astype(str) != "" if "degenerate" in t
                      else pd.Series(False, index=t.index))
        rows.append({"name": name, "images": len(t), "ok": int(ok.sum()),
                     "errors": int((~ok).sum()), "degenerate": int((ok & degenerate).sum())})
    return pd.DataFrame(rows)


def provenance_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per provenance column (rows) and scored name (columns): the distinct values in
    its per-image table, joined by " | " (more than one: records of mixed origin)."""
    columns = sorted({c for t in tables.values() for c in provenance_columns(t)})
    return pd.DataFrame({name: [" | ".join(sorted({str(v) for v in t[c].dropna()}))
                                if c in t else "" for c in columns]
                         for name, t in tables.items()},
                        index=[c.removeprefix("provenance_") for c in columns])


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, escape=True, border=0, na_rep="")


def _settings(values: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"setting": list(values), "value": [str(v) for v in values.values()]})


def methods_page(tables: Mapping[str, pd.DataFrame], dataset: Mapping[str, Any],
                 variants: Mapping[str, Mapping[str, Any]], evaluation: Mapping[str, Any],
                 ranking: Mapping[str, Any], categories: str = "",
                 today: datetime.date | None = None, centre_bias: str = "") -> str:
    """The methods page as HTML. ``tables``: the per-image table of every variant and
    baseline by name (:func:`quickgaze.report.tables.metrics_table`); ``dataset``,
    ``variants`` (with their defaults applied), ``evaluation`` and ``ranking``:
    the study's config sections; ``categories``: where the per-category
    analysis's annotations come from, or ``not available (<reason>)``, shown
    as "categories: ..." (empty: no such line); ``centre_bias``: how each
    image's centre bias was fitted
    (:func:`quickgaze.report.tables.centre_bias_fit`), shown under Evaluation
    as "centre bias: ..." (empty: no such line). ``today`` (default: the UTC
    date) is the page's date. A study with a name made from random weights
    opens with a red banner, :func:`quickgaze.report.tables.untrained_note`."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    params = pd.DataFrame({name: {k: str(v) for k, v in block.items()}
                           for name, block in variants.items()})
    where = {f"{k}.{k2}" if isinstance(v, dict) else k: v2
             for k, v in dataset.items() for k2, v2 in (v.items() if isinstance(v, dict)
                                                         else [(k, v)])}
    note = untrained_note(untrained_names(weights_labels(tables)))
    sections = [
        (f"<h1>Methods</h1><p>Made on {today.isoformat()} (UTC) by quickgaze "
        f"{html.escape(quickgaze.__version__)}.</p>"),
        (f'<p class="untrained" style="color: firebrick; font-weight: bold; border: 2px solid '
         f'firebrick; padding: 0.5em">{html.escape(note)}</p>' if note else ""),
        "<h2>Dataset</h2>", _table(_settings(where)), _table(image_counts(tables)),
        (f"<p>categories: {html.escape(categories)}</p>" if categories else ""),
        ("<h2>Variants</h2><p>CAM parameters of every variant (its config block over "
        "<code>cam_defaults</code>).</p>"), _table(params, index=True),
        "<h2>Evaluation</h2>", _table(_settings(evaluation)),
        (f"<p>centre bias: {html.escape(centre_bias)}</p>" if centre_bias else ""),
        "<h2>Ranking and statistics</h2>", _table(_settings(ranking)),
        ("<h2>Metrics</h2><p>Each metric is computed on the raw CAM (<code>_raw</code>) and "
        "on the smoothed map (<code>_smooth</code>) at ground-truth size.</p>"),
        _table(metric_definitions()),
        ("<h2>Provenance</h2><p>From the per-image records: versions, code hashes of each "
        "stage, the device and the weights (<code>cam_*</code>: of the CAM a record scores). "
        "More than one value in a cell means records of mixed origin.</p>"),
        _table(provenance_summary(tables), index=True),
    ]
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>quickgaze methods"
            "</title></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def write_methods_page(path: str | os.PathLike, table_paths: Mapping[str, str | os.PathLike],
                       **study: Any) -> None:
    """Write :func:`methods_page` of the per-image tables at ``table_paths`` (parquet,
    by name); ``study``: its other arguments."""
    tables = {name: pd.read_parquet(p) for name, p in table_paths.items()}
    with open(path, "w") as fh:
        fh.write(methods_page(tables, **study))
