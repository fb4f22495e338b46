"""Software environments: every third-party import of quickgaze/ and workflow_scripts/
is declared in pyproject.toml and envs/quickgaze.yaml, and jobs find the repository's
quickgaze without PYTHONPATH or an install (as in a `--sdm conda` env). Conda
channels cannot be reached from the test machines, so the env is checked statically."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import yaml

from conftest import REPO
from test_readme_commands import repo_copy

# import name -> (pip distribution, conda-forge package)
DISTRIBUTIONS = {"PIL": ("pillow", "pillow"), "torch": ("torch", "pytorch"),
                 "matplotlib": ("matplotlib", "matplotlib-base"),
                 "pytorch_grad_cam": ("grad-cam", "grad-cam")}
LOCAL = {"quickgaze", "quickgaze_path"}


def third_party_imports() -> set[str]:
    names: set[str] = set()
    for folder in ("quickgaze", "workflow_scripts"):
        for path in (REPO / folder).rglob("*.py"):  # the subpackages too
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - LOCAL


def requirement_names(specs: list[str]) -> dict[str, str]:
    """``name -> spec`` of requirement strings (pip or conda match specs)."""
    out = {}
    for spec in specs:
        name = re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()
        out[name] = spec
    return out


def test_every_third_party_import_is_declared_with_a_lower_bound_in_both_files():
    # no tomllib on Python 3.10: the one list is read with a regular expression
    block = re.search(r"^dependencies = \[(.*?)^\]", (REPO / "pyproject.toml").read_text(),
                      re.MULTILINE | re.DOTALL)
    pip = requirement_names(re.findall(r'"([^"]+)"', block.group(1)))
    env = yaml.safe_load((REPO / "envs/quickgaze.yaml").read_text())
    conda = requirement_names([d for d in env["dependencies"] if isinstance(d, str)])
    imports = third_party_imports()
    assert {"numpy", "torch", "PIL"} <= imports  # the parse finds them
    for name in sorted(imports):
        pip_name, conda_name = DISTRIBUTIONS.get(name, (name.lower(), name.lower()))
        assert ">=" in pip.get(pip_name, ""), f"{name}: no '{pip_name}>=...' in pyproject.toml"
        assert ">=" in conda.get(conda_name, ""), (
            f"{name}: no '{conda_name}>=...' in envs/quickgaze.yaml")
    # the parquet engine of pandas is imported by pandas, not by quickgaze
    assert "pyarrow" in pip and "pyarrow" in conda
    # the README's `snakemake --report` imports it, and Snakemake does not declare it
    # (the test extra brings it in through pytest, so the report test cannot see it)
    assert ">=" in pip.get("pygments", ""), "no 'pygments>=...' in pyproject.toml"


def test_every_workflow_script_finds_the_repository_quickgaze_first():
    for path in (REPO / "workflow_scripts").glob("*.py"):
        if path.name == "quickgaze_path.py":
            continue
        tree = ast.parse(path.read_text())
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        local = [k for k, n in enumerate(imports) if (
            isinstance(n, ast.ImportFrom) and (n.module or "").startswith("quickgaze")) or (
            isinstance(n, ast.Import) and n.names[0].name.startswith("quickgaze"))]
        assert local and isinstance(imports[local[0]], ast.Import) and (
            imports[local[0]].names[0].name == "quickgaze_path"), path.name


def test_a_job_imports_the_repository_quickgaze_without_pythonpath_or_install(tmp_path):
    """As Snakemake runs a script (its folder appended to sys.path), from another
    folder, with no PYTHONPATH: quickgaze comes from the copy beside the script,
    even where another quickgaze is installed (here: the editable checkout)."""
    copy = repo_copy(tmp_path / "repo", small_demo=False)
    script = (f"import sys; sys.path.append({str(copy / 'workflow_scripts')!r}); "
              "import quickgaze_path, quickgaze.pipeline.scoring, quickgaze; print(quickgaze.__file__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(copy / "quickgaze" / "__init__.py")
