"""Every `snakemake` command of README.md, run verbatim in a temporary copy of the repository.

The two install commands (venv, pip install torch ...) are run by CI itself
(.ci/run, tests/test_lint.py); here only their last step, `snakemake --cores
all`, runs. The demo study of the copy is made small (4 images, fast
variants, the split-half ceiling only) so that the run takes seconds: the commands are the README's, the
study is a smaller one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FAST_VARIANT, REPO, deep_merge

README = (REPO / "README.md").read_text()
IGNORED = shutil.ignore_patterns(".git", ".venv", ".gpu-venv", ".snakemake", "results",
                                 "resources", "logs", "__pycache__", "*.egg-info",
                                 ".pytest_cache", ".ruff_cache", "benchmarks")


def readme_commands() -> list[str]:
    """The `snakemake` commands of README.md: lines of code blocks and inline code
    that start with ``snakemake `` (or end an install line with ``&& snakemake ...``)."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    inline = re.findall(r"`(snakemake [^`]+)`", README)
    found = [c.split(" && ")[-1] for c in lines + inline
             if c.startswith("snakemake ") or " && snakemake " in c]
    return list(dict.fromkeys(found))


DEMO = "snakemake --cores all"
REPORT = "snakemake --report report.zip"
UNLOCK = "snakemake --unlock"
STUDY = "snakemake --cores all --configfile config.yaml studies/salicon-val.yaml"
STUDY_REPORT = "snakemake --report report.zip --configfile config.yaml studies/salicon-val.yaml"
METHODS = "snakemake --cores all --configfile config.yaml studies/methods.yaml"
METHODS_REPORT = "snakemake --report report.zip --configfile config.yaml studies/methods.yaml"
SLURM = ("snakemake --profile profiles/slurm --configfile config.yaml studies/salicon-val.yaml "
         "site.yaml")
SLURM_DRY = SLURM + " -n"
TESTED = {DEMO, REPORT, UNLOCK, STUDY, STUDY_REPORT, SLURM_DRY, METHODS, METHODS_REPORT}
# Not runnable here, with the reason (and what checks it instead).
NOT_RUN = {
    "snakemake --sdm conda": "conda channels cannot be reached from the test machines",
    # SLURM runs for real on a localhost cluster in tests/test_slurm.py; here as SLURM_DRY
    SLURM: "submits jobs: run here as its dry run, SLURM_DRY",
}


def test_every_readme_snakemake_command_is_run_by_a_test():
    """A command added to the README without a test here fails this test."""
    assert set(readme_commands()) == TESTED | set(NOT_RUN)


def repo_copy(dest: Path, small_demo: bool = True) -> Path:
    """The repository's files (no results, no venv) at ``dest``, with a small demo study."""
    shutil.copytree(REPO, dest, ignore=IGNORED, symlinks=True)
    if small_demo:
        config = yaml.safe_load((dest / "config.yaml").read_text())
        # humans only of the ceilings: the share of the gap's reference
        config = deep_merge(config, {"dataset": {"demo": {"n_images": 4}}, "batch_size": 2,
                                     "ranking": {"n": 1, "bootstrap": 200},
                                     "ceiling": {"names": ["humans"]}})
        config["variants"] = {"plain": FAST_VARIANT,
                              "aligned": {**FAST_VARIANT, "sign_policy": "mean_activation"}}
        (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def run(command: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """``command`` verbatim through a shell in ``cwd``, this venv's bin first on PATH and
    the copy's code first on PYTHONPATH (CI's editable install points at the checkout)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(cwd)}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def ok(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{proc.args} failed ({proc.returncode}):\n{out[-6000:]}"
    return out


@pytest.mark.slow
def test_demo_then_report_then_unlock_as_written(tmp_path):
    work = repo_copy(tmp_path / "repo")
    # Before anything ran (no --cores anywhere): these parse the workflow too.
    for command in (UNLOCK, "snakemake --summary", "snakemake --dag"):
        ok(run(command, work))
    ok(run(DEMO, work))
    assert (work / "results/demo/comparison/means.csv").is_file()
    ok(run(REPORT, work))
    assert (work / "report.zip").stat().st_size > 0
    ok(run(UNLOCK, work))


@pytest.mark.slow
def test_salicon_study_offline_says_what_to_download_and_where(tmp_path):
    work = repo_copy(tmp_path / "repo", small_demo=False)
    proc = run(STUDY, work, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    study = yaml.safe_load((work / "studies/salicon-val.yaml").read_text())
    for part, archive in study["dataset"]["salicon"]["archives"].items():
        assert archive["url"] in out, out[-4000:]
        assert str((work / "resources/salicon/archives" / part).resolve()) in out
    ok(run(STUDY_REPORT, work))  # nothing to report yet: the download targets only


def test_slurm_command_as_a_dry_run(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    work = repo_copy(tmp_path / "repo", small_demo=False)
    # site.yaml as profiles/README.md writes it
    site = re.search(r"cat > site.yaml <<'EOF'\n(.*?)EOF\n",
                     (REPO / "profiles/README.md").read_text(), re.DOTALL)
    assert site, "profiles/README.md no longer shows a site.yaml"
    (work / "site.yaml").write_text(site.group(1))
    out = ok(run(SLURM_DRY, work, timeout=300))
    assert "download_salicon_archive" in out and "This was a dry-run" in out


@pytest.mark.slow
def test_methods_study_demo_sized_untrained_runs_through_the_report(tmp_path):
    """studies/methods.yaml as written, made demo-sized and untrained (2 images in one
    batch, weights none, detection_score 0): every variant gets a CAM for every image,
    and the comparison pairs them all. (A gradient method on the detector is a
    forward and a backward at 800x1066 per image, 15-40 s on 2 cores.)"""
    work = repo_copy(tmp_path / "repo")
    path = work / "studies/methods.yaml"
    study = yaml.safe_load(path.read_text())
    n_images = 2
    study["dataset"]["demo"]["n_images"] = n_images
    study["ranking"] = {**study.get("ranking", {}), "n": 1, "bootstrap": 200}
    for block in study["variants"].values():
        block["weights"] = "none"
        if "detection_score" in block:
            block["detection_score"] = 0.0
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    ok(run(METHODS, work, timeout=1500))
    results = work / "results" / "methods"
    for name in study["variants"]:
        errors = (results / name / "errors.csv").read_text().strip().splitlines()
        assert len(errors) == 1, (name, errors)  # the header alone: no image failed
        assert len(list((results / name / "cam").glob("*.npz"))) == n_images
    paired = (results / "comparison" / "paired.csv").read_text()
    assert all(name in paired for name in study["variants"])
    ok(run(METHODS_REPORT, work))
    assert (work / "report.zip").stat().st_size > 0
