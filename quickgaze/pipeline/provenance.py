"""What made a result: written into every per-image record and table.

Provenance is a record of what ran, not a dependency: an upgraded numpy does
not make a record stale (:mod:`quickgaze.pipeline.stages` decides that from parameters
and quickgaze's code), but every record says which versions, code, device
and weights produced it, so a table mixing records of two environments shows
it. No dates: a record's content must not depend on when it was made, or a
rerun could never equal a clean run file by file.
"""

from __future__ import annotations

import functools
from importlib import metadata
from typing import Any

import quickgaze
from quickgaze.pipeline.stages import code_hash

# The libraries whose versions every record names (their versions, not
# quickgaze's code, are what changes between two environments).
LIBRARIES = ("torch", "torchvision", "numpy", "scipy")


@functools.cache
def library_versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (from package metadata, without importing
    them: the CPU jobs never import torch); "not installed" where absent."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(stage: str, device: str = "cpu", weights: str | None = None,
               **upstream: dict[str, Any]) -> dict[str, Any]:
    """The provenance of a record of ``stage``: ``quickgaze`` (version), ``stage``,
    ``code`` (:func:`quickgaze.pipeline.stages.code_hash`), the :func:`library_versions`,
    ``device`` the stage computed on and, for a stage that ran a network,
    ``weights`` (the weights' identity), plus each ``upstream`` record's
    provenance under its name (an evaluation record holds its CAM's under
    ``cam``)."""
    own = {"quickgaze": quickgaze.__version__, "stage": stage, "code": code_hash(stage),
           **library_versions(), "device": device}
    return {**own, **({} if weights is None else {"weights": weights}), **upstream}


def flat(record: dict[str, Any], prefix: str = "provenance") -> dict[str, Any]:
    """A provenance dict as flat table columns: ``{"cam": {"device": d}}`` ->
    ``{"provenance_cam_device": d}``; ``stage`` is left out (a table's column names
    say which stage)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}_{key}"))
        elif key != "stage":
            out[f"{prefix}_{key}"] = value
    return out
