"""Shared helpers: real Snakemake runs in temporary directories, real SALICON examples."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """``shared/data`` beside the checkout (or QUICKGAZE_SHARED_DATA)."""
    for candidate in (os.environ.get("QUICKGAZE_SHARED_DATA"), REPO.parent / "shared" / "data",
                      Path("/work/shared/data")):
        if candidate and Path(candidate, "salicon-train-examples").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def salicon_examples() -> Path:
    """The ten real SALICON train images with their real fixations (read-only)."""
    data = shared_data()
    if data is None:
        pytest.skip("shared/data/salicon-train-examples not found (set QUICKGAZE_SHARED_DATA)")
    return data / "salicon-train-examples"


def deep_merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Workflow tests compute no human ceiling unless they are about it (a `ceiling` block in
# their overrides): the three ceilings are 3 of the 5 pseudo-variants, most of a small
# study's jobs.
NO_CEILINGS = {"ceiling": {"names": []}}


def write_config(workdir: Path, overrides: dict, replace_variants: dict | None = None) -> Path:
    """Write ``workdir/config.yaml``: the repository's config.yaml with ``overrides``
    merged in (and its variants replaced by ``replace_variants`` when given); no
    ceiling unless ``overrides`` has a ``ceiling`` block (NO_CEILINGS)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = deep_merge(deep_merge(config, NO_CEILINGS), overrides)
    if replace_variants is not None:
        config["variants"] = replace_variants
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` as a subprocess."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--cores", "2", *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


# A small, fast, real detector for workflow tests that are about orchestration.
FAST_VARIANT = {"model": "fasterrcnn_mobilenet_v3_large_320_fpn", "weights": "none",
                "input_scale": "native"}


# pysaliency, in an environment of its own (its __init__ imports torch, its AUC code
# needs numpy 1): tests/pysaliency_reference.py runs in it.
PYSALIENCY_REFERENCE = Path(__file__).with_name("pysaliency_reference.py")


def pysaliency_python() -> Path:
    """A venv with pysaliency and numpy<2 (pysaliency's AUC code needs numpy 1),
    created once under the user cache. Skips the test when it cannot be built."""
    root = Path(os.environ.get("QUICKGAZE_REFERENCE_VENV",
                               Path.home() / ".cache" / "quickgaze" / "pysaliency-venv"))
    python = root / "bin" / "python"
    ready = root / ".installed"
    if not ready.exists():
        steps = [[sys.executable, "-m", "venv", "--clear", str(root)],
                 [str(python), "-m", "pip", "install", "-q", "numpy<2", "pysaliency"]]
        for cmd in steps:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.skip(f"cannot build the pysaliency reference environment "
                            f"({' '.join(cmd[-3:])}): {proc.stderr.strip()[-500:]}")
        ready.write_text("numpy<2 pysaliency\n")
    return python
