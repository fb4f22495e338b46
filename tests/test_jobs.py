"""The batch jobs called in-process, without Snakemake."""

from __future__ import annotations

import shutil

import numpy as np

from quickgaze.cam_job import cam_job

from conftest import FAST_VARIANT

VARIANT = {"levels": "all", "grid": "coarsest", "sign_policy": "svd", "crop_padding": True,
           **FAST_VARIANT}


def test_cam_job_with_and_without_loader_workers(tmp_path, salicon_examples):
    images = {p.stem: p for p in sorted((salicon_examples / "images").glob("*.jpg"))[:3]}
    bad = tmp_path / "bad.jpg"
    bad.write_text("no image")
    images["bad"] = bad
    ids = sorted(images)
    records = {}
    for workers in (0, 1):
        out = {i: tmp_path / f"w{workers}" / f"{i}.npz" for i in ids}
        assert cam_job(ids, images, out, VARIANT, "cpu", 0, forward_batch=2,
                       loader_workers=workers) == 4
        assert cam_job(ids, images, out, VARIANT, "cpu", 0, forward_batch=2,
                       loader_workers=workers) == 0  # all fresh now
        records[workers] = {i: dict(np.load(out[i])) for i in ids}
    assert "bad.jpg" in str(records[0]["bad"]["error"])
    for i in ids:
        if i != "bad":
            assert str(records[1][i]["error"]) == ""
            np.testing.assert_allclose(records[0][i]["cam"], records[1][i]["cam"], atol=1e-6)
    # A changed variant parameter makes every record stale.
    out = {i: tmp_path / "w1" / f"{i}.npz" for i in ids}
    assert cam_job(ids, images, out, {**VARIANT, "sign_policy": "max_abs"}, "cpu", 0,
                   forward_batch=2) == 4
    shutil.rmtree(tmp_path / "w0")
