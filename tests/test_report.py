"""The analysis end to end: a small demo study through `snakemake` and `snakemake --report`,
plus unit checks of the figure helpers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

import quickgaze
from quickgaze.pipeline import stages
from quickgaze.pipeline.provenance import library_versions
from quickgaze.report import figures
from quickgaze.saliency.baselines import BASELINES
from quickgaze.saliency.ceiling import CEILINGS
from quickgaze.saliency.metrics import better_direction

from conftest import FAST_VARIANT, snakemake, write_config

N_IMAGES, N_RANK = 6, 2
VARIANTS = {"plain": {**FAST_VARIANT, "sign_policy": "svd"},
            "aligned": {**FAST_VARIANT, "sign_policy": "mean_activation"}}


def test_colour_overlay_blends_and_checks_shapes():
    img = np.full((4, 5, 3), 200, np.uint8)
    sal = np.zeros((4, 5))
    sal[0, 0] = 1.0
    out = figures.colour_overlay(img, sal, alpha=0.0)
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert (out == 200).all()  # alpha 0: the image itself
    hot = figures.colour_overlay(img, sal, alpha=1.0)
    assert tuple(hot[0, 0]) != tuple(hot[1, 1])  # peak and background differ in colour
    with pytest.raises(ValueError, match=r"map shape \(3, 5\)"):
        figures.colour_overlay(img, np.zeros((3, 5)))


def test_save_figure_refuses_unknown_format(tmp_path):
    fig = figures.deciles_plot(pd.DataFrame({"decile": range(1, 11), "low": 0.0, "high": 1.0,
                                             "n": 1, "mean": 0.5}), "cc_smooth")
    with pytest.raises(ValueError, match=r"plot\.tiff: figures are written as \.png, \.jpg, "
                                         r"\.pdf, \.svg"):
        figures.save_figure(fig, tmp_path / "plot.tiff")
    figures.save_figure(fig, tmp_path / "plot.png")
    assert iio.imread(tmp_path / "plot.png").shape[2] in (3, 4)
    for fmt, magic in (("pdf", b"%PDF"), ("svg", b"<?xml")):
        figures.save_figure(fig, tmp_path / f"plot.{fmt}")
        assert (tmp_path / f"plot.{fmt}").read_bytes().startswith(magic)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A 6-image demo study with two fast variants, run to the end and to report.zip."""
    work = tmp_path_factory.mktemp("study")
    write_config(work, {"dataset": {"demo": {"n_images": N_IMAGES}}, "batch_size": 3,
                        "ranking": {"n": N_RANK, "bootstrap": 500},
                        "ceiling": {"names": list(CEILINGS)}},
                 replace_variants=VARIANTS)
    snakemake(work)
    snakemake(work, "--report", "report.zip")
    return work


def image_shape(path: Path) -> tuple[int, ...]:
    img = iio.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4), f"{path}: not an RGB(A) image"
    return img.shape


@pytest.mark.slow
def test_tables_have_the_expected_shape(study):
    res = study / "results" / "demo"
    for v in VARIANTS:
        t = pd.read_parquet(res / v / "metrics.parquet")
        assert len(t) == N_IMAGES and (t["status"] == "ok").all()
        for col in ("sign_flipped", "explained_variance", "error", "cc_raw", "cc_smooth",
                    "image_path", "truth_path", "cam_path", "smooth_path", "metrics_path"):
            assert col in t.columns, f"{v}: metrics table lacks {col}"
        assert all((study / p).exists() for p in t["image_path"])
        assert all((study / p).exists() for p in t["truth_path"])
        assert pd.read_csv(res / v / "metrics.csv").shape == t.shape
        metrics = [c for c in t.columns if c.endswith(("_raw", "_smooth"))]
        ranking = pd.read_csv(res / v / "ranking.csv")
        assert list(ranking["group"]) == ["top"] * N_RANK + ["middle"] * N_RANK + \
            ["bottom"] * N_RANK
        deciles = pd.read_csv(res / v / "deciles.csv")
        assert len(deciles) == 10 and deciles["n"].sum() == N_IMAGES
        summary = pd.read_csv(res / v / "summary.csv")
        assert list(summary["metric"]) == [*sorted(metrics), "explained_variance"]
        assert (summary["ci_low"] <= summary["ci_high"]).all()
    cmp = res / "comparison"
    means = pd.read_csv(cmp / "means.csv")
    scored = [*VARIANTS, *BASELINES, *CEILINGS]
    assert sorted(set(means["name"])) == sorted(scored)
    assert len(means) == len(scored) * len(metrics)
    paired = pd.read_csv(cmp / "paired.csv")
    n_pairs = len(scored) * (len(scored) - 1) // 2
    assert len(paired) == n_pairs * len(metrics)
    assert (paired["n_pairs"] == N_IMAGES).all()
    # A Wilcoxon p-value exists exactly where some paired difference is not zero
    # (two variants can give the same map on every image: then no test, NaN).
    tested = paired["p_value"].notna()
    assert paired.loc[tested, "p_value"].between(0, 1).all()
    assert (paired.loc[~tested, ["mean_diff", "ci_low", "ci_high"]] == 0).all().all()
    assert tested.sum() > len(paired) // 2
    assert (paired.loc[tested, "p_holm"] >= paired.loc[tested, "p_value"]).all()
    assert paired.loc[tested, "q_bh"].between(0, 1).all()
    assert list(paired["direction"]) == [better_direction(m) for m in paired["metric"]]
    flips = pd.read_csv(cmp / "sign_flips.csv").set_index("name")
    assert flips.loc["plain", "share_flipped"] == 0  # policy svd is the reference
    assert flips.loc[[*BASELINES, *CEILINGS], "share_flipped"].isna().all()  # no CAM, no sign
    dive = pd.read_csv(cmp / "deep_dive.csv")
    assert len(dive) == N_RANK and set(dive["best"]) <= set(VARIANTS)


@pytest.mark.slow
def test_figures_open_and_are_listed_in_the_report(study):
    res = study / "results" / "demo"
    plots = [res / v / "deciles.png" for v in VARIANTS]
    plots += [res / "comparison" / n for n in ("overview.png", "paired.png", "headline.png")]
    galleries = {v: sorted((res / v / "gallery").rglob("*.jpg")) for v in VARIANTS}
    dives = sorted((res / "comparison" / "deep_dive").glob("*.jpg"))
    for v, files in galleries.items():
        ranking = pd.read_csv(res / v / "ranking.csv")
        expected = {figures.gallery_name(r.group, r.rank, r.image) for r in ranking.itertuples()}
        assert {str(p.relative_to(res / v / "gallery")) for p in files} == expected
        for p in files:
            h, w, _ = image_shape(p)
            assert w > 3 * h, f"{p}: a 4-panel gallery figure is wide"
    assert len(dives) == N_RANK
    for p in plots + dives:
        image_shape(p)

    tables = [res / v / name for v in VARIANTS
              for name in ("ranking.csv", "deciles.csv", "summary.csv")]
    tables += [res / "comparison" / n for n in ("means.csv", "paired.csv", "sign_flips.csv",
                                                "share_of_gap.csv", "headline.md",
                                                "deep_dive.csv", "methods.html")]
    with zipfile.ZipFile(study / "report.zip") as z:
        names = z.namelist()
        html = z.read("report/report.html").decode()
    listed = {n.split("/", 4)[-1] for n in names if n.startswith("report/data/raw/")}
    for p in tables + plots:
        assert p.name in listed, f"{p.name} missing from the report"
    for v, files in galleries.items():
        for p in files:
            assert str(p.relative_to(res / v / "gallery")) in listed
            assert str(p.relative_to(study)) in html
    for p in dives:
        assert str(p.relative_to(study)) in html
    for category in ("0. Methods", "1. Comparison", "2. Per variant", "3. Galleries",
                     "4. Deep dive"):
        assert category in html
    assert '"group": "bottom"' in html  # gallery labels from the file pattern


@pytest.mark.slow
def test_batch_jobs_log_progress(study):
    log = (study / "logs" / "demo" / "plain" / "cam" / "b0000.log").read_text()
    assert "3/3 done" in log
    gallery_log = (study / "logs" / "demo" / "plain" / "gallery.log").read_text()
    assert f"gallery {3 * N_RANK}/{3 * N_RANK}" in gallery_log


def stored_provenance(path: Path) -> dict:
    if path.suffix == ".npz":
        with np.load(path) as z:
            return json.loads(str(z["provenance"]))
    return json.loads(path.read_text())["provenance"]


@pytest.mark.slow
def test_every_record_and_table_carries_its_provenance(study):
    res = study / "results" / "demo"
    expected = {"quickgaze": quickgaze.__version__, **library_versions(), "device": "cpu"}
    weights = "none: seeded random initialisation"
    records = {"ground_truth": sorted((res / "ground_truth").glob("*.npz"))}
    for v in VARIANTS:
        records["cam"] = records.get("cam", []) + sorted((res / v / "cam").glob("*.npz"))
        records["evaluation"] = (records.get("evaluation", [])
                                 + sorted((res / v / "metrics").glob("*.json")))
    for b in BASELINES:
        records["baseline"] = records.get("baseline", []) + sorted((res / b / "metrics").glob("*"))
    for stage, paths in records.items():
        assert len(paths) == N_IMAGES * {"ground_truth": 1, "baseline": len(BASELINES)}.get(
            stage, len(VARIANTS)), stage
        for p in paths:
            prov = stored_provenance(p)
            own = {k: prov[k] for k in expected}
            assert own == expected and prov["stage"] == stage, p
            assert prov["code"] == stages.code_hash(stage), p
            if stage == "cam":
                assert prov["weights"] == weights, p
            if stage == "evaluation":
                assert prov["cam"] == stored_provenance(res / p.parent.parent.name / "cam" /
                                                        f"{p.stem}.npz"), p

    table = pd.read_parquet(res / "plain" / "metrics.parquet")
    assert (table["provenance_cam_weights"] == weights).all()
    assert (table["provenance_code"] == stages.code_hash("evaluation")).all()
    aggregates = {"analysis": [res / v / n for v in VARIANTS
                               for n in ("ranking.csv", "deciles.csv", "summary.csv")],
                  "compare": [res / "comparison" / n for n in ("means.csv", "paired.csv",
                                                               "sign_flips.csv")],
                  "deep_dive": [res / "comparison" / "deep_dive.csv"]}
    for stage, paths in aggregates.items():
        for p in paths:
            t = pd.read_csv(p, keep_default_na=False)
            assert (t["quickgaze"] == quickgaze.__version__).all(), p
            assert (t["code"] == stages.code_hash(stage)).all(), p
            assert (t["provenance_torch"] == library_versions()["torch"]).all(), p
    means = pd.read_csv(res / "comparison" / "means.csv", keep_default_na=False)
    by_kind = means.groupby("kind")["provenance_cam_weights"].agg(set).to_dict()
    # a baseline or a ceiling has no CAM
    assert by_kind == {"variant": {weights}, "baseline": {""}, "ceiling": {""}}

    page = (res / "comparison" / "methods.html").read_text()
    for value in (FAST_VARIANT["model"], "mean_activation", weights,
                  stages.code_hash("cam"), library_versions()["torch"],
                  "linear correlation coefficient of two", f"<td>{N_IMAGES}</td>",
                  "categories: not available (the demo dataset has no object annotations)"):
        assert value in page, value
