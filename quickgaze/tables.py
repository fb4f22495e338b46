"""Tables of per-image metric records: the per-variant table and rankings."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from quickgaze.io import read_json

log = logging.getLogger("quickgaze")


class BadImagesError(RuntimeError):
    """Raised in strict mode; the message lists every bad image and its reason."""


def metrics_table(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per image from its metrics JSON (see :func:`quickgaze.jobs.evaluate_image`),
    sorted by image id, with the JSON's path in ``metrics_path``."""
    rows = []
    for p in paths:
        rec = read_json(p)
        rec.pop("fingerprint", None)
        rec["metrics_path"] = str(p)
        rows.append(rec)
    table = pd.DataFrame(rows)
    return table.sort_values("image", kind="stable").reset_index(drop=True)


def ranking(table: pd.DataFrame, metric: str, n: int) -> pd.DataFrame:
    """Top ``n``, bottom ``n`` and the ``n`` images around the median by ``metric``.

    Only ``status == ok`` rows with a finite value rank; ties keep image-id
    order. Columns: ``group`` (top, middle, bottom), ``rank`` (1 = highest),
    ``image``, ``metric``, ``value``, ``weights_label``.
    """
    if metric not in table.columns:
        numeric = [c for c in table.columns if c.endswith(("_raw", "_smooth"))]
        raise KeyError(f"ranking metric '{metric}' not in the metrics table; available: "
                       f"{', '.join(numeric)}")
    ok = table[(table["status"] == "ok") & np.isfinite(table[metric].astype(float))]
    ordered = ok.sort_values(metric, ascending=False, kind="stable").reset_index(drop=True)
    ordered["rank"] = np.arange(1, len(ordered) + 1)
    mid = max(0, len(ordered) // 2 - n // 2)
    groups = [("top", ordered.iloc[:n]), ("middle", ordered.iloc[mid:mid + n]),
              ("bottom", ordered.iloc[max(0, len(ordered) - n):])]
    out = pd.concat([g.assign(group=name) for name, g in groups], ignore_index=True)
    out = out.rename(columns={metric: "value"}).assign(metric=metric)
    return out[["group", "rank", "image", "metric", "value", "weights_label"]]


def write_variant_tables(metric_paths: Iterable[str], parquet: str, csv: str, ranking_csv: str,
                         errors_csv: str, metric: str, n: int, strict: bool) -> pd.DataFrame:
    """Write the per-variant table (parquet + csv), the ranking and the errors table
    (``image``, ``error``: one row per image whose status is not ok).

    With ``strict``, raise BadImagesError listing the bad images after writing.
    """
    table = metrics_table(metric_paths)
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False)
    ranking(table, metric, n).to_csv(ranking_csv, index=False)
    bad = table[table["status"] != "ok"]
    bad[["image", "error"]].to_csv(errors_csv, index=False)
    for _, row in bad.iterrows():
        log.warning("%s: %s", row["image"], row["error"])
    if strict and len(bad):
        listing = "\n".join(f"  {r.image}: {r.error}" for r in bad.itertuples())
        raise BadImagesError(f"{len(bad)} of {len(table)} images failed (strict: true):\n{listing}")
    return table
