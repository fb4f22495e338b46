"""The package by concept: imports run one way, read from the source (no import runs).

Layers, bottom up: ``io`` <- ``maps`` <- ``saliency`` <- ``data``; ``cam`` stands on
``io`` and ``maps``; ``report`` reads records (never ``cam`` or a stage job);
``pipeline`` wires them into stage jobs; ``api`` and ``cli`` are on top.
"""

from __future__ import annotations

import ast
import pkgutil

import quickgaze
from quickgaze.pipeline import stages

# What each subpackage may import of quickgaze besides itself. ``report`` takes only
# the stage definitions and provenance of ``pipeline`` (every table names its code).
ALLOWED = {
    "io": set(),
    "maps": {"io"},
    "saliency": {"io", "maps"},
    "data": {"io", "maps", "saliency"},
    "cam": {"io", "maps"},
    "report": {"io", "maps", "saliency", "data", "pipeline", "pipeline.provenance",
               "pipeline.stages"},
    "pipeline": {"io", "maps", "saliency", "data", "cam"},
    "api": {"io", "maps", "saliency", "data", "cam", "pipeline", "pipeline.cam_job"},
    "cli": {"io", "api"},
}
NO_TORCH = ("io", "maps", "saliency", "data", "report")


def modules() -> list[str]:
    return [m.name.removeprefix("quickgaze.")
            for m in pkgutil.walk_packages(quickgaze.__path__, "quickgaze.")]


def third_party(module: str) -> set[str]:
    tree = ast.parse(stages.module_path(module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_every_module_is_in_a_layer():
    assert {m.split(".")[0] for m in modules()} == set(ALLOWED)
    # the old flat modules are gone: one home per concept
    assert not [p.name for p in stages.PACKAGE.glob("*.py")
                if p.stem not in {"__init__", "api", "cli"}]


def test_imports_run_one_way():
    wrong = []
    for module in modules():
        package = module.split(".")[0]
        for target in stages._imports(module):
            outer = target.split(".")[0]
            if outer != package and outer not in ALLOWED[package] and target not in ALLOWED[
                    package]:
                wrong.append(f"{module} -> {target}")
            if package == "report" and outer == "pipeline" and target not in ALLOWED["report"]:
                wrong.append(f"{module} -> {target} (a stage job)")
    assert not wrong, wrong


def test_the_science_and_the_report_never_import_torch():
    """Directly or through another quickgaze module: CPU jobs and the report must not
    pay seconds for torch."""
    for module in modules():
        if module.split(".")[0] not in NO_TORCH:
            continue
        closure, todo = set(), [module]
        while todo:
            m = todo.pop()
            if m not in closure:
                closure.add(m)
                todo.extend(stages._imports(m))
        heavy = {m for m in closure if third_party(m) & {"torch", "torchvision", "pytorch_grad_cam"}}
        assert not heavy, (module, heavy)


def test_subpackage_faces_hand_nothing_on():
    """Each subpackage's ``__init__`` is its docstring only, so importing one module
    of it does not import (and hash) the others."""
    for init in stages.PACKAGE.glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr), init
