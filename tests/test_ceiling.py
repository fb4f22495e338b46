"""The human ceiling on the real SALICON examples: observer ids from the JSON, the
split-half, one-human and infinite-observer pseudo-variants, and "not available"."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quickgaze.data.layout import list_images
from quickgaze.io.files import read_json
from quickgaze.io.records import NOT_AVAILABLE, load_npz
from quickgaze.pipeline.baseline_job import evaluate_baseline_image
from quickgaze.pipeline.ceiling_job import ceiling_job, evaluate_ceiling_image
from quickgaze.pipeline.fixation_stats_job import fixation_stats_job
from quickgaze.pipeline.ground_truth import ground_truth_job
from quickgaze.report.tables import (
    BadImagesError,
    metrics_table,
    share_of_gap_images,
    write_metrics_table,
    write_variant_analysis,
)
from quickgaze.saliency.baselines import centre_bias_map
from quickgaze.saliency.ceiling import extrapolate, group_sizes
from quickgaze.saliency.fixation_stats import load_fixation_stats
from quickgaze.saliency.fixations import saliency_from_fixations
from quickgaze.saliency.metrics import METRICS, image_seed, prepare_truth, saliency_metrics

JSON_NAME = "fixations_train2014examples.json"


def truth_records(examples: Path, fixations: Path, out: Path) -> tuple[list[str], dict, Path]:
    images = list_images(examples / "images")
    ids = sorted(images)
    truths = {i: out / "ground_truth" / f"{i}.npz" for i in ids}
    ground_truth_job(ids, images, {}, fixations, "auto", truths)
    fixation_stats_job(ids, truths, out / "stats.npz", "fit", 10, 0)
    return ids, truths, out / "stats.npz"


@pytest.fixture(scope="module")
def real(salicon_examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("ceiling")
    ids, truths, stats = truth_records(salicon_examples, salicon_examples / JSON_NAME, out)
    return {"ids": ids, "truths": truths, "stats": stats, "out": out}


@pytest.fixture(scope="module")
def scored(real):
    """Every ceiling on every real image (few repeats: the claims below hold for any)."""
    stats = load_fixation_stats(real["stats"])
    return {c: {i: evaluate_ceiling_image(c, load_npz(real["truths"][i]), stats, i, 0,
                                          repeats=3, one_human_observers=6, infinite_repeats=1)
                for i in real["ids"]}
            for c in ("humans", "one_human", "infinite_humans")}


def test_ground_truth_keeps_each_fixations_worker_id(salicon_examples, real):
    data = json.loads((salicon_examples / JSON_NAME).read_text())
    stems = {img["id"]: Path(img["file_name"]).stem for img in data["images"]}
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    for image_id, stem in stems.items():
        expected, points = Counter(), []
        for ann in data["annotations"]:
            if ann["image_id"] != image_id:
                continue
            h, w = sizes[image_id]
            for row, col in ann["fixations"]:  # 1-based [row, col]
                if 1 <= row <= h and 1 <= col <= w:
                    expected[str(ann["worker_id"])] += 1
                    points.append((row - 1, col - 1, str(ann["worker_id"])))
        record = load_npz(real["truths"][stem])
        assert bool(record["observers_known"])
        assert Counter(record["observers"].tolist()) == expected
        got = sorted(zip(record["points"][:, 0].tolist(), record["points"][:, 1].tolist(),
                         record["observers"].tolist()))
        assert got == sorted(points)
        assert len(expected) >= 55  # SALICON: about 60 observers per image


def test_split_half_with_one_repeat_is_half_a_predicting_half_b(salicon_examples, real):
    """The documented split: observers sorted, permuted by default_rng([image seed, 0]),
    the first floor(K/2) predict the rest; built here from the JSON directly."""
    data = json.loads((salicon_examples / JSON_NAME).read_text())
    stats = load_fixation_stats(real["stats"])
    image = real["ids"][3]
    image_id = next(img["id"] for img in data["images"] if Path(img["file_name"]).stem == image)
    by_worker: dict[str, list] = {}
    for ann in data["annotations"]:
        if ann["image_id"] == image_id:
            by_worker.setdefault(str(ann["worker_id"]), []).extend(ann["fixations"])
    names = sorted(by_worker)
    seed = image_seed(0, image)
    order = np.random.default_rng([seed, 0]).permutation(len(names))

    def pixels(workers):
        pts = np.array([p for w in workers for p in by_worker[w]]) - 1
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < 480) & (pts[:, 1] >= 0) & (pts[:, 1] < 640)
        return pts[inside]

    a = pixels([names[k] for k in order[:len(names) // 2]])
    b = pixels([names[k] for k in order[len(names) // 2:]])
    truth = prepare_truth(saliency_from_fixations(b, (480, 640)), b,
                          stats.other_fixated(image, (480, 640)),
                          centre_bias_map((480, 640), stats.centre_bias_for(image)), seed)
    expected = saliency_metrics(saliency_from_fixations(a, (480, 640)), truth)
    record = evaluate_ceiling_image("humans", load_npz(real["truths"][image]), stats, image, 0,
                                    repeats=1, one_human_observers=None, infinite_repeats=1)
    assert record["status"] == "ok" and record["n_observers"] == len(names)
    for m in METRICS:
        assert record[f"{m}_raw"] == record[f"{m}_smooth"]
        np.testing.assert_allclose(record[f"{m}_raw"], expected[m], rtol=1e-12, equal_nan=True)


def test_every_ceiling_scores_every_metric_on_every_real_image(scored):
    for ceiling, records in scored.items():
        for image, record in records.items():
            assert record["status"] == "ok", (ceiling, image, record["error"])
            for m in METRICS:
                assert np.isfinite(record[f"{m}_raw"]), (ceiling, image, m)
                assert record[f"{m}_raw"] == record[f"{m}_smooth"]


def test_more_observers_predict_people_better(scored):
    """Per image, half of the observers predict the other half better than one observer
    predicts the rest (CC and NSS). Over the images, the infinite-observer CC lies above
    the split-half CC (its fit extrapolates the curve beyond the half's size; per image
    the extrapolation of a one-draw curve is noisy) and not above 1."""
    for image in scored["humans"]:
        humans, one = scored["humans"][image], scored["one_human"][image]
        assert humans["cc_raw"] > one["cc_raw"], image
        assert humans["nss_raw"] > one["nss_raw"], image
    mean = {c: np.mean([r["cc_raw"] for r in records.values()]) for c, records in scored.items()}
    assert mean["humans"] < mean["infinite_humans"] <= 1.0


def test_extrapolation_recovers_an_exact_one_over_n_curve():
    sizes = group_sizes(60)
    assert list(sizes) == [2, 4, 8, 15, 30]
    assert extrapolate(sizes, 0.9 - 0.5 / sizes) == pytest.approx(0.9, abs=1e-12)
    # Only the three largest sizes count: a different start does not move it.
    bent = 0.9 - 0.5 / sizes
    bent[:2] = [0.1, 0.0]
    assert extrapolate(sizes, bent) == pytest.approx(0.9, abs=1e-12)
    assert np.isnan(extrapolate(sizes[:1], np.array([0.3])))
    assert len(group_sizes(5)) == 1 and len(group_sizes(3)) == 0


def test_without_observer_ids_the_ceiling_is_not_available_and_others_kept(salicon_examples,
                                                                           tmp_path):
    data = json.loads((salicon_examples / JSON_NAME).read_text())
    stripped = data["images"][0]["id"]
    for ann in data["annotations"]:
        if ann["image_id"] == stripped:
            del ann["worker_id"]
    fixations = tmp_path / "fixations.json"
    fixations.write_text(json.dumps(data))
    ids, truths, stats = truth_records(salicon_examples, fixations, tmp_path)
    stem = Path(data["images"][0]["file_name"]).stem
    out = {i: tmp_path / "humans" / f"{i}.json" for i in ids}
    assert ceiling_job(ids, truths, stats, out, "humans", repeats=1, seed=0,
                       one_human_observers=None, infinite_repeats=1) == len(ids)
    records = {i: read_json(out[i]) for i in ids}
    assert records[stem]["status"] == "error"
    assert records[stem]["error"].startswith(f"{NOT_AVAILABLE}: the fixation source names no "
                                             f"observer")
    assert "cc_raw" not in records[stem]  # no score, as a baseline's error record
    assert all(records[i]["status"] == "ok" for i in ids if i != stem)
    # A rerun computes nothing; a changed parameter recomputes every image.
    assert ceiling_job(ids, truths, stats, out, "humans", repeats=1, seed=0,
                       one_human_observers=None, infinite_repeats=1) == 0
    assert ceiling_job(ids[:2], truths, stats, out, "humans", repeats=2, seed=0,
                       one_human_observers=None, infinite_repeats=1) == 2


def test_not_available_is_not_a_bad_image_in_strict_mode(tmp_path):
    paths = []
    for i, error in (("a", f"{NOT_AVAILABLE}: no observer"), ("b", "cannot decode b.jpg")):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps({"image": i, "variant": "humans", "status": "error",
                                         "error": error}))
    with pytest.raises(BadImagesError, match=r"1 of 2 images failed \(strict: true\):\n"
                                             r"  b: cannot decode b.jpg$"):
        write_metrics_table(paths, str(tmp_path / "t.parquet"), str(tmp_path / "t.csv"),
                            str(tmp_path / "e.csv"), None, None, strict=True)
    assert pd.read_csv(tmp_path / "e.csv")["image"].tolist() == ["a", "b"]
    write_metrics_table(paths[:1], str(tmp_path / "t.parquet"), str(tmp_path / "t.csv"),
                        str(tmp_path / "e.csv"), None, None, strict=True)  # no raise


def test_a_ceiling_not_available_anywhere_is_analysed_not_failed(tmp_path):
    paths = []
    for i in ("a", "b"):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps({
            "image": i, "variant": "humans", "status": "error",
            "error": f"{NOT_AVAILABLE}: the fixation source names no observer",
            "cc_raw": None, "cc_smooth": None}))
    table = metrics_table(paths)
    table.to_parquet(tmp_path / "t.parquet", index=False)
    out = write_variant_analysis(str(tmp_path / "t.parquet"), str(tmp_path / "r.csv"),
                                 str(tmp_path / "d.csv"), str(tmp_path / "s.csv"),
                                 "cc_smooth", 2, 200, 0)
    assert out["ranking"].empty and pd.read_csv(tmp_path / "r.csv").empty
    summary = pd.read_csv(tmp_path / "s.csv")
    assert summary["n"].tolist() == [0] and summary["n_errors"].tolist() == [2]
    assert summary["note"].iloc[0].startswith(NOT_AVAILABLE)
    # A bad image beside them is one more error, not a failure of the analysis ...
    table.loc[0, "error"] = "undecodable image"
    table.to_parquet(tmp_path / "t.parquet", index=False)
    out = write_variant_analysis(str(tmp_path / "t.parquet"), str(tmp_path / "r.csv"),
                                 str(tmp_path / "d.csv"), str(tmp_path / "s.csv"),
                                 "cc_smooth", 2, 200, 0)
    reason = f"{NOT_AVAILABLE}: the fixation source names no observer"
    assert out["summary"]["note"].tolist() == [reason]
    # ... but a table of bad images only still fails it.
    table.loc[1, "error"] = "undecodable image"
    table.to_parquet(tmp_path / "t.parquet", index=False)
    with pytest.raises(ValueError, match="no image with status ok"):
        write_variant_analysis(str(tmp_path / "t.parquet"), str(tmp_path / "r.csv"),
                               str(tmp_path / "d.csv"), str(tmp_path / "s.csv"),
                               "cc_smooth", 2, 200, 0)


def test_share_of_gap_on_the_real_examples(real, scored):
    """One observer treated as a variant: on every real image its share of the gap
    from the centre bias to the split-half humans is below 1, and each share is
    (one - centre) / (humans - centre) of the three records."""
    stats = load_fixation_stats(real["stats"])
    centre = {}
    for i in real["ids"]:
        centre[i] = evaluate_baseline_image("centre_bias", load_npz(real["truths"][i]), 19.0,
                                            stats, i, 0)
        centre[i].pop("smooth")

    def table(records):
        return pd.DataFrame([{**r, "image": i} for i, r in records.items()])

    gap = share_of_gap_images({"one": table(scored["one_human"]), "centre_bias": table(centre),
                               "humans": table(scored["humans"])},
                              {"one": "variant", "centre_bias": "baseline", "humans": "ceiling"})
    for metric in ("cc_smooth", "nss_smooth", "auc_judd_smooth", "sim_smooth"):
        share = gap[gap["metric"] == metric].set_index("image")["share"]
        assert sorted(share.index) == real["ids"]
        assert (share < 1).all(), (metric, share.to_dict())
        for i in real["ids"]:
            one, c, h = scored["one_human"][i][metric], centre[i][metric], scored["humans"][i][metric]
            assert share[i] == pytest.approx((one - c) / (h - c), rel=1e-12)
