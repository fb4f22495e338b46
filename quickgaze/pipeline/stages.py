"""What each stage's results depend on, in one place: its parameters and its code.

Both consumers use this module: the workflow writes
``results/<dataset>/params/<stage>.json`` from :func:`dependencies` (a change
makes Snakemake schedule the stage's jobs), and each batch job stamps every
per-image record with :func:`stage_fingerprint` of the same parameters (a
difference makes the job recompute that image). A stage's parameters must be
exactly its :attr:`Stage.params`; both functions refuse anything else, so a
parameter cannot reach one consumer and not the other.

The code part is :func:`code_hash`: a hash of the normalised syntax tree of
the quickgaze modules the stage runs (its entry modules and everything in
quickgaze they import), so comments, docstrings and formatting do not count
and any other edit does. Choices: :mod:`quickgaze.pipeline.batches` and this module are
left out, because they decide what to compute, not what a result holds; the
workflow scripts are thin and left out too; third-party versions are
provenance (:mod:`quickgaze.pipeline.provenance`, recorded in every record), not
dependencies: an upgraded numpy reruns nothing, and the records say which
numpy made them.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[1]
# Modules that decide what to compute, not what a result holds.
NOT_RESULT_CODE = frozenset({"pipeline.batches", "pipeline.freshness", "pipeline.stages"})


@dataclass(frozen=True)
class Stage:
    """A stage: the quickgaze modules that compute it, the parameters its results
    depend on, and the rule params that do not change a result (which images a
    batch holds, paths, the device and batch sizes: bookkeeping)."""

    entry: tuple[str, ...]
    params: tuple[str, ...]
    bookkeeping: tuple[str, ...] = ()


STAGES: dict[str, Stage] = {
    "demo_dataset": Stage(("data.demo",), ("n_images", "seed"), ("root",)),
    "ground_truth": Stage(("pipeline.ground_truth",), ("fixation_format", "min_fixations"),
                          ("ids", "image_files", "maps")),
    # A variant block is the CAM's parameters (model, weights, input_scale, levels,
    # grid, sign policy, ...): all of it, whatever keys the schema grows.
    "cam": Stage(("pipeline.cam_job",), ("variants", "seed"),
                 ("ids", "image_files", "device", "forward_batch", "loader_workers")),
    "fixation_stats": Stage(("pipeline.fixation_stats_job",), ("ids", "centre_bias_sigma", "n_others", "seed")),
    "evaluation": Stage(("pipeline.evaluate",), ("sigma", "seed"), ("ids", "variant")),
    "baseline": Stage(("pipeline.baseline_job",), ("sigma", "seed", "baseline"), ("ids",)),
    "ceiling": Stage(("pipeline.ceiling_job",), ("ceiling", "repeats", "seed", "one_human_observers",
                                    "infinite_repeats"), ("ids",)),
    "metrics_table": Stage(("report.tables",), ("image_paths", "truth_paths", "strict")),
    "analysis": Stage(("report.tables", "report.figures"),
                      ("metric", "n", "n_boot", "seed", "exclude_degenerate")),
    "gallery": Stage(("report.figures",), ()),
    "compare": Stage(("report.tables", "report.figures"),
                     ("names", "baselines", "ceilings", "policies", "metric", "n_boot",
                      "seed")),
    "headline": Stage(("report.figures",), ("form", "formats")),
    "methods": Stage(("report.methods_page",), ("names", "dataset", "variants", "evaluation", "ranking",
                                         "categories")),
    "deep_dive": Stage(("report.figures",), ("names", "reference", "metric", "n", "exclude_degenerate")),
    # The annotation source is an input file (its date reruns the stage), not a parameter.
    "categories": Stage(("report.categories",), ("names", "baselines", "ceilings", "metric", "n_boot",
                                       "seed", "formats")),
}


def module_path(module: str) -> Path | None:
    """The source file of quickgaze module ``module`` (dotted, without ``quickgaze.``:
    ``saliency.metrics``), None when it is not a module of the package."""
    base = PACKAGE.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """The quickgaze modules ``module`` imports (at any depth of its code), dotted
    without ``quickgaze.``, with the packages that hold them (importing a module
    runs its package's ``__init__``)."""
    tree = ast.parse(module_path(module).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "quickgaze" or node.module.startswith("quickgaze."):
                base = node.module.removeprefix("quickgaze").lstrip(".")
                found.add(base)
                # `from quickgaze.report import figures` imports a module
                found.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("quickgaze.") for a in node.names
                         if a.name.startswith("quickgaze."))
    parents = {".".join(m.split(".")[:k]) for m in found for k in range(1, m.count(".") + 1)}
    return frozenset(m for m in found | parents if m and module_path(m) is not None)


def stage_modules(stage: str) -> list[str]:
    """The quickgaze modules a stage runs: its entry modules and their quickgaze imports,
    transitively, less :data:`NOT_RESULT_CODE`."""
    todo, seen = list(STAGES[stage].entry), set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(_imports(m))
    return sorted(seen - NOT_RESULT_CODE)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.cache
def module_hash(module: str) -> str:
    """Hash of a module's syntax tree without docstrings (``ast.dump`` leaves out line
    numbers, and comments and formatting are not in the tree)."""
    tree = _strip_docstrings(ast.parse(module_path(module).read_text()))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


@functools.cache
def code_hash(stage: str) -> str:
    """Hash of the code of a stage (:func:`stage_modules`)."""
    blob = json.dumps({m: module_hash(m) for m in stage_modules(stage)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def clear_caches() -> None:
    """Forget cached module hashes (for code edited while the process runs: tests)."""
    for cached in (_imports, module_hash, code_hash):
        cached.cache_clear()


def dependencies(stage: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the results of ``stage`` depend on: its parameters, exactly
    :attr:`Stage.params` (anything else is an error), and :func:`code_hash`."""
    expected = set(STAGES[stage].params)
    if set(params) != expected:
        raise ValueError(f"stage {stage}: parameters {sorted(params)}, expected "
                         f"{sorted(expected)} (quickgaze/pipeline/stages.py)")
    return {"stage": stage, "params": dict(params), "code": code_hash(stage)}


def stage_fingerprint(stage: str, params: Mapping[str, Any],
                      data: Mapping[str, Any] | None = None) -> str:
    """The fingerprint stored in every per-image record of ``stage``: a hash of its
    :func:`dependencies` and of ``data``, the identities of dataset-level inputs
    (for example the fixation statistics' digest)."""
    blob = json.dumps({**dependencies(stage, params), "data": dict(data or {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
