"""Puts this repository's root first on ``sys.path``, so that every job runs the
quickgaze package next to its workflow, installed or not (in a `--sdm conda`
environment it is not). Snakemake puts a script's own folder on ``sys.path``;
each workflow script imports this module before quickgaze."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
