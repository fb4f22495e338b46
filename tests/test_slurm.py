"""The SLURM profile on a real single-node SLURM on localhost (see slurm_localhost.py).

The demo study runs once locally and once through ``--profile profiles/slurm``;
the per-image results must agree, every batch job must have been a SLURM job,
and only the CAM jobs may have been allocated a GPU (a fake one here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from slurm_localhost import LocalSlurm, install, unavailable_reason

from conftest import FAST_VARIANT, REPO, snakemake, write_config

pytestmark = pytest.mark.slow

N_IMAGES, BATCH = 6, 3  # two batches per batch rule


@pytest.fixture(scope="module")
def cluster():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("snakemake_executor_plugin_slurm",
                        reason="snakemake-executor-plugin-slurm is not installed")
    install()
    # Not under pytest's tmp dirs: they are private to root, and munged runs as munge.
    state = tempfile.mkdtemp(prefix="quickgaze-slurm-")
    slurm = LocalSlurm(state)
    slurm.start()
    yield slurm
    slurm.stop()
    shutil.rmtree(state, ignore_errors=True)


def slurm_jobs(cluster: LocalSlurm) -> dict[str, dict[str, str]]:
    """Jobs the controller still knows (MinJobAge=3600 s), by their comment (the rule)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         env={**os.environ, **cluster.env()}, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "Comment" in fields:
            jobs[fields["Comment"]] = fields
    return jobs


def assert_records_equal(a: dict, b: dict, where: str) -> None:
    assert a.keys() == b.keys(), where
    for key, value in a.items():
        if key == "input_tokens":  # random per write, by design
            continue
        if isinstance(value, float):
            assert value == pytest.approx(b[key], rel=1e-6, abs=1e-9, nan_ok=True), \
                f"{where}: {key}"
        else:
            assert value == b[key], f"{where}: {key}"


def test_slurm_profile_matches_local_run(cluster, tmp_path):
    overrides = {"dataset": {"demo": {"n_images": N_IMAGES}}, "batch_size": BATCH}
    local, remote = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, remote):
        write_config(workdir, overrides, replace_variants={"fast": FAST_VARIANT})
    snakemake(local)
    # Localhost overrides: no slurmdbd (so squeue, not sacct, and no account), a
    # short first status wait; the profile's batch_size yields to the study's.
    proc = snakemake(remote, "--profile", str(REPO / "profiles" / "slurm"),
                     "--slurm-status-command", "squeue", "--slurm-no-account",
                     "--slurm-init-seconds-before-status-checks", "1",
                     "--config", f"batch_size={BATCH}", env=cluster.env())
    log = proc.stdout + proc.stderr

    batch_rules = [f"{rule}_b{k:04d}" for rule in ("ground_truth", "cam_fast", "evaluate_fast",
                                                   "baseline_centre_bias", "baseline_uniform")
                   for k in range(N_IMAGES // BATCH)]
    jobs = slurm_jobs(cluster)
    assert len(re.findall(r"submitted with SLURM jobid", log)) == len(jobs), log[-3000:]
    assert all(job["JobState"] == "COMPLETED" for job in jobs.values()), jobs
    for rule in batch_rules:
        job = jobs[f"rule_{rule}"]
        assert job["JobState"] == "COMPLETED", (rule, job)
        gpus = job.get("TresPerJob", "")
        if rule.startswith("cam_"):
            assert "gpu:1" in gpus, (rule, job)  # cam_resources: {gpu: 1} in config.yaml
        else:
            assert "gpu" not in gpus, (rule, job)
            assert job["NumCPUs"] == "2", (rule, job)  # the job's threads (CPU_JOB_THREADS)
    # localrules ran on the submit host, not as jobs
    assert not any(c.startswith(("rule_analyse_variant", "rule_demo_dataset")) for c in jobs)

    metrics = sorted((local / "results/demo/fast/metrics").glob("*.json"))
    assert len(metrics) == N_IMAGES
    for path in metrics:
        rel = path.relative_to(local)
        a, b = json.loads(path.read_text()), json.loads((remote / rel).read_text())
        assert a["status"] == "ok", (rel, a)
        assert_records_equal(a, b, str(rel))
        cam = f"results/demo/fast/cam/{path.stem}.npz"
        with np.load(local / cam) as x, np.load(remote / cam) as y:
            np.testing.assert_allclose(x["cam"], y["cam"], atol=1e-6, err_msg=cam)
    assert (local / "results/demo/fast/ranking.csv").read_text() == \
        (remote / "results/demo/fast/ranking.csv").read_text()
