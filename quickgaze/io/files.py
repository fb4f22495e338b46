"""Atomic writes and JSON records.

Every per-image file is written to a temporary name in the same directory
and renamed into place, so a killed job never leaves a truncated file that a
rerun would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

# Read the umask once (os.umask can only be read by setting it), then put it back.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*"):  # from a killed writer
        leftover.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write a JSON record atomically (NaN written as null)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_nan_to_none(record), indent=1, sort_keys=True))


class DamagedFileError(ValueError):
    """A file that exists but cannot be read as what it should be (a truncated or
    otherwise damaged record or map); the message names the file."""


def damaged(path: str | os.PathLike, what: str, err: BaseException) -> DamagedFileError:
    """The :class:`DamagedFileError` of ``path``, which could not be read as ``what``
    because of ``err``."""
    return DamagedFileError(f"{path}: cannot be read as {what}, the file is damaged or "
                            f"truncated ({type(err).__name__}: {err})")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON record; :class:`DamagedFileError` naming the file when it is not valid
    JSON (FileNotFoundError when it is missing)."""
    text = Path(path).read_text(errors="replace")
    try:
        return json.loads(text)
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise damaged(path, "a JSON record", err) from err


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value

