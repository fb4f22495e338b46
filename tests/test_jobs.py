"""The batch jobs called in-process, without Snakemake."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from quickgaze.pipeline.cam_job import cam_job

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
        assert cam_job(ids, images, {"v": out}, {"v": VARIANT}, "cpu", 0, forward_batch=2,
                       loader_workers=workers) == 4
        assert cam_job(ids, images, {"v": out}, {"v": VARIANT}, "cpu", 0, forward_batch=2,
                       loader_workers=workers) == 0  # all fresh now
        records[workers] = {i: dict(np.load(out[i])) for i in ids}
    assert "bad.jpg" in str(records[0]["bad"]["error"])
    for i in ids:
        if i != "bad":
            assert str(records[1][i]["error"]) == ""
            np.testing.assert_allclose(records[0][i]["cam"], records[1][i]["cam"], atol=1e-6)
    # A changed variant parameter makes every record stale.
    out = {i: tmp_path / "w1" / f"{i}.npz" for i in ids}
    assert cam_job(ids, images, {"v": out}, {"v": {**VARIANT, "sign_policy": "max_abs"}}, "cpu", 0,
                   forward_batch=2) == 4
    shutil.rmtree(tmp_path / "w0")


def test_a_forward_group_runs_one_forward_per_image_for_all_its_variants(tmp_path, caplog,
                                                                        salicon_examples):
    """Variants sharing model, weights and scale: one forward per image that any of
    them needs, each variant's records as its own job would write them, staleness
    per variant (a deleted file or a changed parameter recomputes that variant only)."""
    import logging

    images = {p.stem: p for p in sorted((salicon_examples / "images").glob("*.jpg"))[:3]}
    ids = sorted(images)
    variants = {"a": VARIANT, "b": {**VARIANT, "sign_policy": "mean_activation"},
                "c": {**VARIANT, "grid": "0", "sign_policy": "max_abs"}}
    out = {v: {i: tmp_path / v / f"{i}.npz" for i in ids} for v in variants}
    assert cam_job(ids, images, out, variants, "cpu", 0, forward_batch=2) == 3
    for v, variant in variants.items():
        alone = {i: tmp_path / "alone" / v / f"{i}.npz" for i in ids}
        cam_job(ids, images, {v: alone}, {v: variant}, "cpu", 0, forward_batch=2)
        for i in ids:
            np.testing.assert_array_equal(np.load(out[v][i])["cam"], np.load(alone[i])["cam"])
    tokens = {v: {i: str(np.load(out[v][i])["token"]) for i in ids} for v in variants}

    out["b"][ids[1]].unlink()
    assert cam_job(ids, images, out, variants, "cpu", 0, forward_batch=2) == 1
    changed = {**variants, "c": {**variants["c"], "sign_policy": "mean_activation"}}
    with caplog.at_level(logging.INFO, logger="quickgaze"):
        assert cam_job(ids, images, out, changed, "cpu", 0, forward_batch=2) == 3
    assert "forward passes: 3; per variant: a 0, b 0, c 3" in caplog.messages
    for v in ("a", "b"):  # untouched: the same records, not rewritten
        assert {i: str(np.load(out[v][i])["token"]) for i in ids} == tokens[v]
    with pytest.raises(ValueError, match="do not share a forward"):
        cam_job(ids, images, out, {**variants, "d": {**VARIANT, "input_scale": "detector"}},
                "cpu", 0, forward_batch=2)


@pytest.mark.parametrize("cells", [(6, 8), (1, 8)])
def test_evaluation_record_names_each_warning_once(cells):
    """The CAM's warnings and the ground truth's reach the metrics record once each
    (they were appended twice); a 1-cell-wide CAM adds its degenerate reason once."""
    from quickgaze.pipeline.evaluate import evaluate_image
    from quickgaze.saliency.fixation_stats import fixation_stats

    shape = (48, 64)
    rng = np.random.default_rng(0)
    points = np.stack([rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)], 1)
    truth = {"map": (rng.random(shape) * 255).astype(np.uint8), "points": points,
             "n_dropped": np.array(0), "map_source": np.array("fixations"),
             "warnings": np.array("2 fixations outside the image dropped")}
    stats = fixation_stats({"a": (points, shape)}, None, [0.25, 0.25], 0, 0)
    cam = {"cam": rng.random(cells).astype(np.float32), "extent": np.array(shape, float),
           "warnings": np.array("image downscaled to 4000000 pixels"),
           "weights_label": np.array("untrained: smoke run")}
    record = evaluate_image(cam, truth, 19.0, stats, "a", 0)
    notes = record["warnings"].split("; ")
    assert notes.count("image downscaled to 4000000 pixels") == 1, notes
    assert notes.count("2 fixations outside the image dropped") == 1, notes
    degenerate = [n for n in notes if n.startswith("degenerate: CAM")]
    assert len(degenerate) == (1 if min(cells) < 2 else 0), notes
    assert record["status"] == "ok"
