"""Galleries and the deep dive never mislabel (issue 28, item 3): with fewer than 3 N
ranked images top, middle and bottom do not overlap, and every rank is the image's
rank by the metric's direction. In-process, on the real gallery and deep-dive writers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quickgaze.io.images import write_map_png
from quickgaze.io.records import save_npz
from quickgaze.report import figures, tables


@pytest.mark.parametrize("k", range(40))
@pytest.mark.parametrize("n", [1, 2, 3, 5, 25])
def test_rank_groups_never_overlap_and_cover_a_small_study(k, n):
    groups = tables.rank_groups(k, n)
    assert [g for g, _, _ in groups] == ["top", "middle", "bottom"]
    slices = [range(start, stop) for _, start, stop in groups]
    members = [i for s in slices for i in s]
    assert len(members) == len(set(members)), groups  # no image in two groups
    assert members == sorted(members)  # top before middle before bottom
    if k >= 3 * n:
        assert [len(s) for s in slices] == [n, n, n]
        assert slices[0][0] == 0 and slices[2][-1] == k - 1
    else:
        assert members == list(range(k)), groups  # every image, once
        assert len(slices[0]) == len(slices[2]) or (k == 1 and len(slices[0]) == 1)


def test_rank_groups_of_the_issue_study():
    # 12 images, N = 25: top, middle and bottom all held the same 12 images before
    assert tables.rank_groups(12, 25) == [("top", 0, 4), ("middle", 4, 8), ("bottom", 8, 12)]
    assert tables.rank_groups(2, 25) == [("top", 0, 1), ("middle", 1, 1), ("bottom", 1, 2)]
    assert tables.rank_groups(1, 25) == [("top", 0, 1), ("middle", 1, 1), ("bottom", 1, 1)]


def _table(metric, values):
    return pd.DataFrame({"image": [f"im{k:02d}" for k in range(len(values))], "status": "ok",
                         "weights_label": "", metric: values})


@pytest.mark.parametrize("metric", ["cc_smooth", "kld_smooth"])
def test_ranking_of_twelve_images_with_n_25_labels_each_image_once_by_direction(metric):
    values = np.random.default_rng(3).normal(size=12)
    r = tables.ranking(_table(metric, values), metric, 25)
    assert sorted(r["image"]) == [f"im{k:02d}" for k in range(12)]  # once each
    assert r.groupby("group").size().to_dict() == {"top": 4, "middle": 4, "bottom": 4}
    # the rank is the image's place by the metric's direction, computed independently
    best_first = np.argsort(-values if metric == "cc_smooth" else values, kind="stable")
    expected = {f"im{k:02d}": place + 1 for place, k in enumerate(best_first)}
    assert dict(zip(r["image"], r["rank"])) == expected
    top, bottom = r[r["group"] == "top"], r[r["group"] == "bottom"]
    assert top["rank"].max() < r.loc[r["group"] == "middle", "rank"].min()
    assert bottom["rank"].min() > r.loc[r["group"] == "middle", "rank"].max()
    assert 1 in set(top["rank"]) and 12 in set(bottom["rank"])


def test_deep_dive_of_a_small_study_shows_the_worst_third_never_the_best():
    values = [0.9, 0.1, 0.5, -0.3, 0.7, 0.2, 0.0, 0.4, 0.8, -0.1, 0.6, 0.3]
    dive = tables.deep_dive_table({"v": _table("cc_smooth", values)}, "v", "cc_smooth", 25)
    assert list(dive["rank"]) == [12, 11, 10, 9]
    assert list(dive["image"]) == ["im03", "im09", "im06", "im01"]  # -0.3, -0.1, 0.0, 0.1
    assert "im00" not in set(dive["image"])  # the best image is not "bottom"


def test_titles_give_the_rank_among_all_ranked_images():
    assert figures.gallery_title("im03", "cc_smooth", -0.3, "seed", "bottom", 12, 12) == \
        "im03   cc_smooth = -0.300   (seed, bottom, rank 12 of 12)"
    assert figures.deep_dive_title("im03", "seed", 12, 12, "cc_smooth", "fine", 0.25) == \
        "im03   bottom of seed (rank 12 of 12) by cc_smooth; best: fine (0.250)"


def _image_files(root, image):
    """An image, its CAM record, smoothed map and ground truth, 40x48, as the workflow's."""
    rng = np.random.default_rng(len(image))
    paths = {"image_path": root / f"{image}.png", "cam_path": root / f"{image}.npz",
             "smooth_path": root / f"{image}_smooth.png", "truth_path": root / f"{image}_gt.npz"}
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(paths["image_path"])
    save_npz(paths["cam_path"], cam=rng.random((5, 6)).astype(np.float32),
             extent=np.array([5.0, 6.0]), offset=np.array([0.0, 0.0]))
    write_map_png(paths["smooth_path"], rng.random((40, 48)).astype(np.float32))
    save_npz(paths["truth_path"], map=rng.integers(0, 255, (40, 48), dtype=np.uint8))
    return {k: str(v) for k, v in paths.items()}


def test_gallery_and_deep_dive_files_of_five_images_with_n_25(tmp_path):
    values = [0.2, 0.8, -0.1, 0.5, 0.3]  # best first: im01, im03, im04, im00, im02
    table = _table("cc_smooth", values)
    files = pd.DataFrame([_image_files(tmp_path, i) for i in table["image"]])
    table = pd.concat([table, files], axis=1)
    table.to_parquet(tmp_path / "v.parquet")
    ranked = tables.ranking(table, "cc_smooth", 25)
    written = figures.write_gallery(ranked, table, tmp_path / "gallery", "v")
    names = sorted(str(p.relative_to(tmp_path / "gallery")) for p in written)
    assert names == ["bottom/00004_im00.jpg", "bottom/00005_im02.jpg",
                     "middle/00003_im04.jpg",
                     "top/00001_im01.jpg", "top/00002_im03.jpg"]
    dive = figures.write_deep_dive_outputs({"v": tmp_path / "v.parquet"}, "v", "cc_smooth", 25,
                                           tmp_path / "dive.csv", tmp_path / "dive")
    assert list(dive["image"]) == ["im02", "im00"]
    assert sorted(p.name for p in (tmp_path / "dive").iterdir()) == ["00004_im00.jpg",
                                                                    "00005_im02.jpg"]
