"""Per-image records (``.npz`` and ``.json``) and the identities that decide freshness.

The vocabulary, one word per idea (used everywhere in quickgaze):

- **identity** of a file: ``<size>:<sha1>`` of its bytes (:func:`file_identity`);
  of a folder, a hash of its files' names and identities.
- **token** of a record: a hash of the arrays a ``.npz`` record holds
  (:func:`content_token`, stored as ``token``); a record's identity for the
  records made from it, so an equal recomputed record changes nothing downstream.
- **input tokens** of a record: the identities of the inputs it was made from
  (:func:`input_tokens`: a record's token, any other file's identity), stored
  in it as ``input_tokens``.
- **output tokens** of a record: the identities of the other files its job
  wrote with it (:func:`output_tokens`: the smoothed map beside a metrics
  record), stored in it as ``output_tokens``.
- **fingerprint** of a record: a hash of the parameters and code of the stage
  that made it (:func:`quickgaze.pipeline.stages.stage_fingerprint`), stored as
  ``fingerprint``.

A record is fresh when its fingerprint and its input (and output) tokens equal
today's (:func:`quickgaze.pipeline.freshness.is_fresh`); never a date. A record
that cannot be read is never fresh; reading one raises
:class:`~quickgaze.io.files.DamagedFileError` naming it (:func:`load_npz`,
:func:`quickgaze.io.files.read_json`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import quickgaze
from quickgaze.io.files import DamagedFileError, atomic_path, damaged, read_json

# The words records use for what they are (written by the jobs, read by the report).
#: Every error of a ceiling record that could not be computed starts with this.
NOT_AVAILABLE = "not available"
#: The ``weights_label`` of a result computed with random weights.
UNTRAINED_LABEL = "untrained: smoke run"

log = logging.getLogger("quickgaze")


def fingerprint(params: dict[str, Any]) -> str:
    """Short hash of ``params`` (JSON-able) and the quickgaze version."""
    blob = json.dumps({"params": params, "version": quickgaze.__version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint stored in a per-image ``.npz`` or ``.json`` file, None if unreadable."""
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                return str(z["fingerprint"])
        return read_json(path).get("fingerprint")
    except Exception:  # noqa: BLE001 -- a corrupt or foreign file is simply not fresh
        return None


def record_token(path: Path) -> str | None:
    """The content token of a per-image ``.npz`` record (see :func:`save_npz`), None if
    unreadable."""
    try:
        with np.load(path) as z:
            return str(z["token"])
    except Exception:  # noqa: BLE001 -- a missing or corrupt record has no token
        return None


@functools.cache
def file_identity(path: str) -> str | None:
    """``<size>:<sha1>`` of a file's bytes (of a folder: of its files' names and
    identities), None when missing. Cached for the life of the process, that is
    one job: a job's inputs do not change while it runs, and a 5000-image job
    hashes each source once (a job's own outputs: :func:`current_identity`)."""
    p = Path(path)
    if p.is_dir():
        parts = [f"{q.relative_to(p)}={file_identity(str(q))}"
                 for q in sorted(p.rglob("*")) if q.is_file()]
        return "dir:" + hashlib.sha1("\n".join(parts).encode()).hexdigest()
    return current_identity(p)


def current_identity(path: Path) -> str | None:
    """``<size>:<sha1>`` of a file's bytes as they are now (never cached: for files a
    job writes itself), None when missing."""
    try:
        digest = hashlib.sha1()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return f"{path.stat().st_size}:{digest.hexdigest()}"
    except OSError:
        return None


def input_identity(path: Path | None) -> str | None:
    """Identity of one input of a record: a quickgaze ``.npz`` record by the content
    token it stores (no need to hash it), any other file by :func:`file_identity`."""
    if path is None:
        return None
    if path.suffix == ".npz":
        return record_token(path)
    return file_identity(str(path))


def input_tokens(inputs: Mapping[str, Path | None]) -> dict[str, str | None]:
    """Identities of the inputs a record is made from, to store in it (see :func:`is_fresh`)."""
    return {name: input_identity(p) for name, p in sorted(inputs.items())}


def output_tokens(outputs: Mapping[str, Path]) -> dict[str, str | None]:
    """Identities of the other files a job wrote with a record (:func:`current_identity`),
    to store in it as ``output_tokens`` once they are written."""
    return {name: current_identity(Path(p)) for name, p in sorted(outputs.items())}


def stored_outputs(path: Path) -> dict[str, str | None] | None:
    """The ``output_tokens`` a JSON record stored, None if unreadable or absent."""
    try:
        return read_json(path).get("output_tokens")
    except Exception:  # noqa: BLE001 -- a corrupt, foreign or old record is not fresh
        return None


def stored_inputs(path: Path) -> dict[str, str | None] | None:
    """The ``input_tokens`` a per-image record stored, None if unreadable."""
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                return json.loads(str(z["input_tokens"]))
        return read_json(path).get("input_tokens")
    except Exception:  # noqa: BLE001 -- a corrupt, foreign or old record is not fresh
        return None


def content_token(arrays: Mapping[str, Any]) -> str:
    """Hash of a record's arrays (names, dtypes, shapes, bytes): its identity for the
    records made from it. Equal contents give equal tokens, so a restored or
    recomputed-equal record does not make its consumers recompute."""
    digest = hashlib.sha1()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return digest.hexdigest()[:20]


def save_npz(path: str | os.PathLike, inputs: Mapping[str, Path | None] | None = None,
             **arrays: Any) -> None:
    """``np.savez_compressed`` to a temporary file, renamed into place, with the
    :func:`input_tokens` of ``inputs`` and the record's :func:`content_token`
    as ``token`` (see :func:`is_fresh`)."""
    arrays["input_tokens"] = json.dumps(input_tokens(inputs or {}), sort_keys=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, token=content_token(arrays))


def load_npz(path: str | os.PathLike, keys: Sequence[str] | None = None
             ) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` record (only ``keys`` when given: the others are not
    decompressed). :class:`~quickgaze.io.files.DamagedFileError` naming the file
    when it cannot be read (a truncated or damaged file), KeyError naming it for
    a missing key, FileNotFoundError when it is missing."""
    try:
        with np.load(path) as z:
            wanted = z.files if keys is None else keys
            missing = [k for k in wanted if k not in z.files]
            if missing:
                raise KeyError(f"{path}: record has no {', '.join(map(repr, missing))}")
            return {k: z[k] for k in wanted}
    except (FileNotFoundError, KeyError, DamagedFileError):
        raise
    except Exception as err:  # zip, zlib, pickle and format errors alike
        raise damaged(path, "a .npz record", err) from err

