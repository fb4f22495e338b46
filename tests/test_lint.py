"""The repository's own hygiene: ruff, snakemake --lint, snakefmt, and CI running the
README's command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from conftest import REPO


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)], check=False,
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_lint_is_clean(tmp_path):
    # In a copy of the study: parsing writes results/<dataset>/params/*.json.
    shutil.copy(REPO / "config.yaml", tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint",
                           "-s", str(REPO / "Snakefile")], check=False,
                          capture_output=True, text=True, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Lints for" not in out, out


def test_snakemake_files_are_snakefmt_clean():
    # As the Snakemake workflow catalog checks: `snakefmt --check` on every Snakemake file.
    files = ["Snakefile", *sorted(str(p.relative_to(REPO)) for p in (REPO / "rules").glob("*.smk"))]
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "--diff", *files],
                          check=False, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"```\n\s*(python3 -m venv[^\n]+)\n", readme)
    assert len(commands) == 2, commands
    assert "pytest" in commands[1]
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines
