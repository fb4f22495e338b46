"""Users' tables (fixations, objects) as ``.csv`` or ``.parquet``: one reader, one
error message shape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Suffixes of the user tables (fixations, object annotations) read by :func:`read_table`.
TABLE_SUFFIXES = (".csv", ".parquet")


def read_table(path: str | os.PathLike, what: str, error: type[Exception],
               dtype: dict[str, type] | None = None,
               na_values: dict[str, list[str]] | None = None) -> Any:
    """A user's ``.csv`` or ``.parquet`` table as a pandas DataFrame.

    CSV columns are read as text (``keep_default_na=False``) except for the
    ``dtype`` given, and only ``na_values`` mark missing values, so an image id
    like ``NA`` or ``0001`` stays as written. Another suffix or an unreadable
    file raises ``error`` with a message naming the file and ``what`` the
    table is (for example "a fixation table").
    """
    import pandas as pd  # lazily: most jobs read no tables

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise error(f"{path}: {what} must be .csv or .parquet, not '{path.suffix}'")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=na_values)
        return pd.read_parquet(path)
    except Exception as err:  # pandas and pyarrow raise many types for unreadable files
        raise error(f"{path}: cannot read as a {suffix[1:]} table ({err})") from err

