"""Per-image tables, rankings and cross-variant tables (quickgaze.report.tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quickgaze.io.files import write_json
from quickgaze.report import tables


def record(image, cc, status="ok", flipped=False, extra=None):
    """A metrics record with the keys quickgaze.pipeline.evaluate.evaluate_job writes."""
    rec = {"image": image, "variant": "v", "status": status, "fingerprint": "x",
           "error": "" if status == "ok" else "cannot decode image", "warnings": "",
           "weights_label": "COCO_V1", "explained_variance": 0.5, "sign_flipped": flipped,
           "n_fixations": 10, "n_dropped": 0, "map_source": "official",
           "cc_raw": cc, "cc_smooth": cc, "cc_mask_raw": cc, "cc_mask_smooth": cc,
           "cam_path": f"cam/{image}.npz", "smooth_path": f"smooth/{image}.png"}
    rec.update(extra or {})
    return rec


def write_records(root, records):
    paths = []
    for rec in records:
        p = root / f"{rec['image']}.json"
        write_json(p, rec)
        paths.append(p)
    return paths


@pytest.fixture
def scored(tmp_path):
    """Twelve images with cc = 0.1 * k, one error, one NaN metric."""
    recs = [record(f"im{k:02d}", 0.1 * k - 0.5, flipped=k % 3 == 0) for k in range(12)]
    recs[4] = record("im04", np.nan)
    recs[7] = record("im07", 5.0, status="error")
    return write_records(tmp_path, recs[::-1])  # reversed: the table must sort


def test_metrics_table_columns_and_paths(scored):
    ids = [p.stem for p in scored]
    t = tables.metrics_table(scored, {i: f"img/{i}.png" for i in ids},
                             {i: f"gt/{i}.npz" for i in ids})
    assert list(t["image"]) == sorted(ids)
    assert list(t.columns[:7]) == list(tables.LEAD_COLUMNS)
    assert list(t.columns[-5:]) == list(tables.PATH_COLUMNS)
    assert tables.metric_columns(t) == ["cc_mask_raw", "cc_mask_smooth", "cc_raw", "cc_smooth"]
    assert "fingerprint" not in t.columns
    row = t.set_index("image").loc["im03"]
    assert row["image_path"] == "img/im03.png" and row["truth_path"] == "gt/im03.npz"
    assert row["metrics_path"].endswith("im03.json")
    assert bool(row["sign_flipped"])
    assert np.isnan(t.set_index("image").loc["im04", "cc_smooth"])


def test_metrics_table_names_a_record_without_image(tmp_path):
    p = tmp_path / "bad.json"
    write_json(p, {"status": "ok"})
    with pytest.raises(KeyError, match="bad.json"):
        tables.metrics_table([p])


def test_ranking_groups_skip_errors_and_nan(scored):
    t = tables.metrics_table(scored)
    r = tables.ranking(t, "cc_smooth", 3)
    assert list(r["group"]) == ["top"] * 3 + ["middle"] * 3 + ["bottom"] * 3
    assert list(r.loc[r["group"] == "top", "image"]) == ["im11", "im10", "im09"]
    assert list(r.loc[r["group"] == "bottom", "image"]) == ["im02", "im01", "im00"]
    assert {"im04", "im07"}.isdisjoint(r["image"])  # NaN and error never rank
    assert r["rank"].max() == 10
    assert (np.diff(r["value"]) <= 0).all()
    with pytest.raises(KeyError, match="available: cc_mask_raw"):
        tables.ranking(t, "nss_smooth", 3)


def test_strict_table_lists_bad_images(tmp_path, scored):
    with pytest.raises(tables.BadImagesError, match="im07: cannot decode image"):
        tables.write_metrics_table(scored, tmp_path / "t.parquet", tmp_path / "t.csv", tmp_path / "e.csv", None, None,
                                   strict=True)
    assert (tmp_path / "t.parquet").exists()  # written before failing, for inspection


def test_variant_analysis_outputs(tmp_path, scored):
    tables.write_metrics_table(scored, tmp_path / "t.parquet", tmp_path / "t.csv", tmp_path / "e.csv", None, None,
                               strict=False)
    out = tables.write_variant_analysis(tmp_path / "t.parquet", tmp_path / "r.csv",
                                        tmp_path / "d.csv", tmp_path / "s.csv", "cc_smooth",
                                        n=2, n_boot=300, seed=0)
    summary = pd.read_csv(tmp_path / "s.csv")
    assert list(summary["metric"]) == ["cc_mask_raw", "cc_mask_smooth", "cc_raw", "cc_smooth",
                                       "explained_variance"]
    assert (summary["n"] == [10, 10, 10, 10, 11]).all()
    assert (summary["n_errors"] == 1).all() and (summary["n_images"] == 12).all()
    assert (summary["ci_low"] <= summary["mean"]).all()
    assert (summary["mean"] <= summary["ci_high"]).all()
    assert len(pd.read_csv(tmp_path / "d.csv")) == 10
    assert pd.read_csv(tmp_path / "d.csv")["n"].sum() == 10
    assert len(pd.read_csv(tmp_path / "r.csv")) == 6
    assert out["ranking"]["image"].iloc[0] == "im11"


def _variant(values, flips=None, drop=()):
    ids = [f"im{k}" for k in range(len(values))]
    t = pd.DataFrame({"image": ids, "status": "ok", "cc_smooth": values, "cc_raw": values})
    if flips is not None:
        t["sign_flipped"] = flips
    return t.drop(columns=list(drop))


def test_comparison_with_a_baseline_without_cam(tmp_path):
    paths = {}
    frames = {"seed": _variant([0.1, 0.2, 0.3, 0.4], [False] * 4),
              "aligned": _variant([0.3, 0.5, 0.2, 0.6], [True, True, False, False]),
              "centre_bias": _variant([0.2, 0.2, 0.2, 0.2], drop=["cc_raw"])}
    for name, t in frames.items():
        paths[name] = tmp_path / f"{name}.parquet"
        t.to_parquet(paths[name])
    out = tables.write_comparison(paths, ["centre_bias"], {"seed": "none",
                                                            "aligned": "mean_activation"},
                                  tmp_path / "m.csv", tmp_path / "p.csv", tmp_path / "f.csv",
                                  n_boot=300, seed=0)
    means = pd.read_csv(tmp_path / "m.csv")
    assert len(means) == 5  # the baseline has no cc_raw
    assert means.set_index(["name", "metric"]).loc[("centre_bias", "cc_smooth"), "kind"] == \
        "baseline"
    paired = pd.read_csv(tmp_path / "p.csv")
    assert sorted(zip(paired["metric"], paired["a"], paired["b"])) == sorted(
        [("cc_smooth", "seed", "aligned"), ("cc_smooth", "seed", "centre_bias"),
         ("cc_smooth", "aligned", "centre_bias"), ("cc_raw", "seed", "aligned")])
    flips = out["flips"].set_index("name")
    assert flips.loc["aligned", "share_flipped"] == 0.5
    assert flips.loc["seed", "share_flipped"] == 0.0
    assert np.isnan(flips.loc["centre_bias", "share_flipped"])
    assert flips.loc["aligned", "sign_policy"] == "mean_activation"


def test_deep_dive_names_the_best_variant():
    # six images: 3 n for n = 2, so the bottom group is the worst two
    tabs = {"seed": _variant([0.9, -0.5, 0.1, -0.2, 0.5, 0.3]),
            "fine": _variant([0.8, 0.4, 0.0, -0.3, 0.0, 0.0]),
            "aligned": _variant([0.7, 0.3, 0.2, np.nan, 0.0, 0.0])}
    dive = tables.deep_dive_table(tabs, "seed", "cc_smooth", 2)
    assert list(dive["image"]) == ["im1", "im3"]  # worst first
    assert list(dive["rank"]) == [6, 5]
    assert list(dive["best"]) == ["fine", "seed"]
    assert dive["best_value"].tolist() == [0.4, -0.2]
    with pytest.raises(KeyError, match="reference 'nope'"):
        tables.deep_dive_table(tabs, "nope", "cc_smooth", 2)


def test_variant_analysis_without_a_scored_image_names_the_table(tmp_path):
    paths = write_records(tmp_path, [record("a", 0.1, status="error"), record("b", np.nan)])
    tables.write_metrics_table(paths, tmp_path / "t.parquet", tmp_path / "t.csv", tmp_path / "e.csv", None, None,
                               strict=False)
    with pytest.raises(ValueError, match=r"t.parquet: no image with status ok"):
        tables.write_variant_analysis(tmp_path / "t.parquet", tmp_path / "r.csv",
                                      tmp_path / "d.csv", tmp_path / "s.csv", "cc_smooth",
                                      n=2, n_boot=300, seed=0)


def _scores(metric, values):
    return pd.DataFrame({"image": [f"im{k}" for k in range(len(values))], "status": "ok",
                         metric: values})


def test_ranking_top_is_the_lowest_for_a_lower_is_better_metric():
    t = _scores("kld_smooth", [0.9, 0.2, 1.5, 0.5, np.nan, 1.1])
    r = tables.ranking(t, "kld_smooth", 2)
    top = r[r["group"] == "top"]
    assert list(top["image"]) == ["im1", "im3"] and list(top["rank"]) == [1, 2]
    assert list(r.loc[r["group"] == "bottom", "image"]) == ["im5", "im2"]
    assert (np.diff(r["value"]) >= 0).all()
    higher = tables.ranking(_scores("cc_smooth", [0.9, 0.2, 1.5, 0.5, np.nan, 1.1]),
                            "cc_smooth", 2)
    assert list(higher.loc[higher["group"] == "top", "image"]) == ["im2", "im5"]


def test_deep_dive_best_is_the_lowest_for_a_lower_is_better_metric():
    tabs = {"seed": _scores("mae_smooth", [0.1, 0.5, 0.2, 0.4, 0.25, 0.3]),
            "fine": _scores("mae_smooth", [0.2, 0.3, 0.1, 0.6, 0.1, 0.1]),
            "aligned": _scores("mae_smooth", [0.3, 0.4, np.nan, 0.2, 0.1, 0.1])}
    dive = tables.deep_dive_table(tabs, "seed", "mae_smooth", 2)
    assert list(dive["image"]) == ["im1", "im3"]  # seed's worst (highest MAE) first
    assert list(dive["rank"]) == [6, 5]
    assert list(dive["best"]) == ["fine", "aligned"]
    assert dive["best_value"].tolist() == [0.3, 0.2]


def test_comparison_orients_share_better_by_metric(tmp_path):
    paths = {}
    ids = [f"im{k}" for k in range(8)]
    kld = np.linspace(1.0, 2.0, 8)
    for name, shift in (("good", -0.2), ("poor", 0.0)):
        paths[name] = tmp_path / f"{name}.parquet"
        pd.DataFrame({"image": ids, "status": "ok", "kld_smooth": kld + shift,
                      "cc_smooth": 0.5 - kld / 4 - shift}).to_parquet(paths[name])
    tables.write_comparison(paths, [], {}, tmp_path / "m.csv", tmp_path / "p.csv",
                            tmp_path / "f.csv", n_boot=300, seed=0)
    paired = pd.read_csv(tmp_path / "p.csv", keep_default_na=False).set_index("metric")
    assert list(paired.columns[:3]) == ["direction", "a", "b"]
    assert paired.loc["kld_smooth", "direction"] == -1
    assert paired.loc["kld_smooth", "share_a_better"] == 1.0
    assert paired.loc["cc_smooth", "share_a_better"] == 1.0
    assert (paired["better"] == "a").all() and (paired["rank_biserial"] == 1.0).all()
    assert {"p_holm", "q_bh", "ci_method"} <= set(paired.columns)
    assert (paired["ci_method"] == "point").all()  # every difference equal: CI is the point
    means = pd.read_csv(tmp_path / "m.csv")
    assert (means["ci_method"] == "bca").all()  # 8 images: BCa


def test_paired_plot_colours_the_better_side_by_direction():
    from matplotlib.colors import to_hex

    from quickgaze.report import figures, stats

    ids = [f"im{k}" for k in range(10)]
    base = np.linspace(1.0, 2.0, 10)
    noise = np.random.default_rng(8).normal(0, 0.02, 10)
    tabs = {"good": pd.DataFrame({"image": ids, "status": "ok", "kld_smooth": base - 0.3 + noise,
                                  "cc_smooth": base + 0.3 + noise}),
            "poor": pd.DataFrame({"image": ids, "status": "ok", "kld_smooth": base,
                                  "cc_smooth": base})}
    paired = stats.paired_table(tabs, ["kld_smooth", "cc_smooth"], n_boot=300)
    for metric, side in (("kld_smooth", "lower"), ("cc_smooth", "higher")):
        fig = figures.paired_plot(paired, metric)
        ax = fig.axes[0]
        marker = ax.containers[0].lines[0]
        assert to_hex(marker.get_color()) == to_hex(figures.BETTER_COLOURS["a"])  # good wins
        assert f"{side} is better" in ax.get_xlabel()


def test_share_of_gap_places_each_variant_between_centre_bias_and_humans(tmp_path):
    """0 at the centre bias, 1 at the humans, the same for a lower-is-better metric;
    NaN where the humans equal the centre bias; the humans are a ceiling, not a variant."""
    frames = {"v": _variant([0.2, 0.5, 0.8, 0.3]).assign(kld_smooth=[2.0, 1.5, 1.0, 0.5]),
              "centre_bias": _variant([0.2, 0.2, 0.2, 0.3]).assign(kld_smooth=2.0),
              "humans": _variant([0.8, 0.8, 0.8, 0.3]).assign(kld_smooth=1.0)}
    frames["v"].loc[3, "status"] = "error"  # left out: scored by only two of the three
    paths = {}
    for name, t in frames.items():
        paths[name] = tmp_path / f"{name}.parquet"
        t.to_parquet(paths[name])
    out = tables.write_comparison(paths, ["centre_bias"], {"v": "svd"}, tmp_path / "m.csv",
                                  tmp_path / "p.csv", tmp_path / "f.csv", n_boot=300, seed=0,
                                  ceilings=["humans"], share_csv=tmp_path / "s.csv",
                                  share_images_csv=tmp_path / "si.csv")
    kinds = out["means"].drop_duplicates("name").set_index("name")["kind"]
    assert kinds.to_dict() == {"v": "variant", "centre_bias": "baseline", "humans": "ceiling"}
    per_image = pd.read_csv(tmp_path / "si.csv")
    cc = per_image[per_image["metric"] == "cc_smooth"].set_index("image")["share"]
    assert cc.to_dict() == pytest.approx({"im0": 0.0, "im1": 0.5, "im2": 1.0})
    kld = per_image[per_image["metric"] == "kld_smooth"].set_index("image")["share"]
    assert kld.to_dict() == pytest.approx({"im0": 0.0, "im1": 0.5, "im2": 1.0})
    assert set(per_image["name"]) == {"v"}
    share = pd.read_csv(tmp_path / "s.csv").set_index("metric")
    assert share.loc["cc_smooth", "n"] == 3
    assert share.loc["cc_smooth", "mean_of_shares"] == pytest.approx(0.5)
    # headline: ratio of means (0 + 0.3 + 0.6) / (0.6 + 0.6 + 0.6), with its joint CI
    assert share.loc["cc_smooth", "share"] == pytest.approx(0.5)
    assert share.loc["cc_smooth", "ci_low"] <= 0.5 <= share.loc["cc_smooth", "ci_high"]
    assert (share.loc["cc_smooth", "mean_of_shares_ci_low"] <= 0.5
            <= share.loc["cc_smooth", "mean_of_shares_ci_high"])
    # The humans equal the centre bias on an image: no share there.
    frames["v"].loc[3, "status"] = "ok"
    gap = tables.share_of_gap_images(frames, {"v": "variant", "centre_bias": "baseline",
                                              "humans": "ceiling"})
    one = gap[(gap["metric"] == "cc_raw") & (gap["image"] == "im3")]
    assert len(one) == 1 and np.isnan(one["share"].iloc[0])
    # Without the ceiling among the tables there is no share at all.
    assert tables.share_of_gap_images({"v": frames["v"]}, {"v": "variant"}).empty


def _means(rows):
    return pd.DataFrame([dict(zip(["name", "kind", "metric", "n", "mean", "ci_low", "ci_high"], r))
                         for r in rows])


def test_headline_table_orders_kinds_and_writes_markdown_and_latex():
    means = _means([("humans", "ceiling", "cc_smooth", 3, 0.9, 0.85, 0.95),
                    ("fast_v", "variant", "cc_smooth", 3, 0.5, 0.4, 0.6),
                    ("fast_v", "variant", "cc_raw", 3, 0.1, 0.0, 0.2),
                    ("centre_bias", "baseline", "cc_smooth", 4, 0.3, 0.2, 0.4),
                    ("centre_bias", "baseline", "nss_smooth", 4, 1.0, np.nan, np.nan)])
    table = tables.headline_table(means)
    assert table["name"].tolist() == ["fast_v", "centre_bias", "humans"]
    assert table["n"].tolist() == [3, 4, 3]
    assert table.loc[0, "cc"] == 0.5 and table.loc[0, "cc_ci_high"] == 0.6  # smooth, not raw
    assert np.isnan(table.loc[0, "nss"])
    assert tables.headline_table(means, "raw").loc[0, "cc"] == 0.1
    md = tables.headline_markdown(table).splitlines()
    assert md[0] == "| name | kind | n | CC | NSS | AUC-Judd | sAUC | SIM | IG (bits) |"
    assert md[2] == "| fast_v | variant | 3 | 0.500 [0.400, 0.600] | n/a | n/a | n/a | n/a | n/a |"
    assert md[3].startswith("| centre_bias | baseline | 4 | 0.300 [0.200, 0.400] | 1.000 | n/a")
    tex = tables.headline_latex(table, caption="SALICON 5%").splitlines()
    assert tex[2] == "\\begin{tabular}{llrrrrrrr}"
    assert "fast\\_v & variant & 3 & 0.500 & n/a & n/a & n/a & n/a & n/a \\\\" in tex
    assert " &  &  & \\footnotesize [0.400, 0.600] &  &  &  &  &  \\\\" in tex
    assert tex.count("\\midrule") == 3  # after the header, then between the three kinds
    assert "\\caption{SALICON 5\\%}" in tex
    with pytest.raises(ValueError, match="form must be raw or smooth"):
        tables.headline_table(means, "smoothed")


# --- aggregates one image cannot blow up; degenerate studies (issues 26.3, 29.5, 29.8) ---

def _gap_frames(model, floor, ceiling):
    ids = [f"im{k:02d}" for k in range(len(model))]
    return {name: pd.DataFrame({"image": ids, "status": "ok", "cc_smooth": values})
            for name, values in (("v", model), ("centre_bias", floor), ("humans", ceiling))}


GAP_KINDS = {"v": "variant", "centre_bias": "baseline", "humans": "ceiling"}


def test_headline_share_is_not_blown_up_by_one_image():
    """Ten images with a centre-to-ceiling gap of 0.12-0.2, then an eleventh whose
    ceiling exceeds the centre bias by 1e-3 (its own share: -80): the headline
    share (ratio of means) moves by less than 10%, the mean of shares by over 300%."""
    rng = np.random.default_rng(26)
    floor = rng.uniform(0.65, 0.8, 10)
    ceiling = floor + rng.uniform(0.12, 0.2, 10)
    model = floor - rng.uniform(0.2, 0.5, 10)
    before = tables.share_of_gap_table(
        tables.share_of_gap_images(_gap_frames(model, floor, ceiling), GAP_KINDS), 500, 0)
    gap_image = tables.share_of_gap_images(
        _gap_frames([*model, 0.62], [*floor, 0.7], [*ceiling, 0.701]), GAP_KINDS)
    assert gap_image["share"].iloc[-1] == pytest.approx(-80)
    after = tables.share_of_gap_table(gap_image, 500, 0)
    b, a = before.iloc[0], after.iloc[0]
    assert a["n"] == b["n"] + 1 == 11
    assert abs(a["share"] - b["share"]) < 0.1 * abs(b["share"])
    assert abs(a["mean_of_shares"] - b["mean_of_shares"]) > 3 * abs(b["mean_of_shares"])
    for row in (a, b):
        assert row["ci_method"] == "bca" and row["ci_low"] < row["share"] < row["ci_high"]
        assert row["share"] == pytest.approx(np.sum(gap_image["value"][:int(row["n"])]
                                                    - gap_image["floor"][:int(row["n"])])
                                             / np.sum(gap_image["ceiling"][:int(row["n"])]
                                                      - gap_image["floor"][:int(row["n"])]))


def test_comparison_of_a_constant_column_writes_every_table_and_figure(tmp_path):
    """Three copies of one image: every metric constant over the images. The means
    of [0.1] * 3 and [0.7] * 3 are an ulp off their values; the CIs are those
    means, and the overview, paired and headline figures are drawn."""
    from quickgaze.report import figures

    paths = {}
    for name, cc, kld in (("fast", 0.1, 1.3), ("other", 0.2, 1.1), ("centre_bias", 0.7, 0.9),
                          ("humans", 0.9, 0.1)):
        paths[name] = tmp_path / f"{name}.parquet"
        pd.DataFrame({"image": ["a", "b", "c"], "status": "ok", "cc_smooth": [cc] * 3,
                      "cc_raw": [cc] * 3, "kld_smooth": [kld] * 3}).to_parquet(paths[name])
    out = tables.write_comparison(paths, ["centre_bias"], {"fast": "svd", "other": "svd"},
                                  tmp_path / "m.csv", tmp_path / "p.csv", tmp_path / "f.csv",
                                  n_boot=300, seed=0, ceilings=["humans"],
                                  share_csv=tmp_path / "s.csv",
                                  share_images_csv=tmp_path / "si.csv")
    means = out["means"]
    assert (means["ci_method"] == "point").all()
    assert (means["ci_low"] == means["mean"]).all() and (means["ci_high"] == means["mean"]).all()
    assert (out["paired"]["ci_low"] == out["paired"]["mean_diff"]).all()
    assert (out["paired"]["better"] == "").all()  # three equal differences: p = 0.25
    share = out["share"].set_index(["name", "metric"])
    assert (share["ci_method"] == "point").all()
    assert (share["share"] == share["ci_low"]).all() and (share["share"] == share["ci_high"]).all()
    assert share.loc[("fast", "cc_smooth"), "share"] == pytest.approx((0.1 - 0.7) / (0.9 - 0.7))
    figures.write_comparison_plots(out, "cc_smooth", tmp_path / "overview.png",
                                   tmp_path / "paired.png")
    figures.write_headline(tmp_path / "m.csv", "smooth", [tmp_path / "headline.png"],
                           tmp_path / "headline.md", tmp_path / "headline.tex")
    for name in ("overview.png", "paired.png", "headline.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    assert figures.error_bar(0.1, 0.1, 0.1 + 1e-17) == [[0.0], [pytest.approx(1e-17)]]
    assert figures.error_bar(0.3, 0.30000000000000004, 0.4) == [[0.0], [pytest.approx(0.1)]]
    assert figures.error_bar(0.3, np.nan, 0.4) is None


def test_centre_bias_fit_says_when_it_cannot_be_held_out(tmp_path):
    """One image with fixations: its centre bias is fitted on itself, and the
    comparison tables and the methods page say so; with three images each is
    held out (leave-one-out)."""
    from quickgaze.report.methods_page import methods_page
    from quickgaze.saliency.fixation_stats import fixation_stats

    rng = np.random.default_rng(0)
    points = {f"im{k}": (rng.integers(0, 40, size=(30, 2)), (40, 40)) for k in range(3)}
    one = fixation_stats({"im0": points["im0"]}, None, "fit", 10, 0)
    three = fixation_stats(points, None, "fit", 10, 0)
    fixed = fixation_stats(points, None, 0.2, 10, 0)

    def text(s):
        return tables.centre_bias_fit(s.sigma_source, len(s.images), len(s.fold_sigma))

    assert text(one) == ("not held out: 1 image with fixations, so the centre bias is "
                         "fitted on the image it scores")
    assert text(three) == ("held out: each image's width fitted without its fold "
                           "(leave-one-out, 3 images with fixations)")
    assert text(fixed).startswith("set in the config")
    assert tables.centre_bias_fit("fixations", 40, 10).startswith("held out: each image's "
                                                                  "width fitted without its "
                                                                  "fold (10 seeded folds")
    assert tables.centre_bias_fit("maps", 0, 0).startswith("not held out: no image has fixations")
    with pytest.raises(ValueError, match="sigma_source 'guess'"):
        tables.centre_bias_fit("guess", 1, 0)
    paths = {}
    for name, cc in (("fast", 0.3), ("centre_bias", 0.6), ("humans", 0.9)):
        paths[name] = tmp_path / f"{name}.parquet"
        pd.DataFrame({"image": ["im0"], "status": "ok", "cc_smooth": [cc]}).to_parquet(paths[name])
    out = tables.write_comparison(paths, ["centre_bias"], {"fast": "svd"}, tmp_path / "m.csv",
                                  tmp_path / "p.csv", tmp_path / "f.csv", n_boot=300, seed=0,
                                  ceilings=["humans"], share_csv=tmp_path / "s.csv",
                                  centre_bias_fit=text(one))
    for csv in ("m.csv", "p.csv", "s.csv"):
        assert set(pd.read_csv(tmp_path / csv)["centre_bias_fit"]) == {text(one)}
    assert (out["paired"]["better"].fillna("") == "").all()  # one image: no winner
    page = methods_page({n: pd.read_parquet(p) for n, p in paths.items()}, {"kind": "folder"},
                        {}, {"sigma": 19}, {"metric": "cc_smooth"}, centre_bias=text(one))
    assert f"<p>centre bias: {text(one)}</p>" in page
