"""Datasets: the demo generator, folder listing, SALICON downloads and archives."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from quickgaze.data.archives import DownloadError, download_archive, extract_archive
from quickgaze.data.demo import demo_ids, write_demo_dataset
from quickgaze.data.layout import layout, list_images
from quickgaze.io.images import read_map, read_rgb
from quickgaze.saliency.fixations import load_salicon2015_json


def test_demo_dataset_is_deterministic_and_salicon_shaped(tmp_path):
    write_demo_dataset(tmp_path / "a", 3, seed=0)
    write_demo_dataset(tmp_path / "b", 3, seed=0)
    write_demo_dataset(tmp_path / "c", 3, seed=1)
    for i in demo_ids(3):
        a = read_rgb(tmp_path / "a/images" / f"{i}.png")
        assert a.shape == (480, 640, 3)
        assert (a == read_rgb(tmp_path / "b/images" / f"{i}.png")).all()
        assert not (a == read_rgb(tmp_path / "c/images" / f"{i}.png")).all()
        gt = read_map(tmp_path / "a/maps" / f"{i}.png")
        assert gt.shape == (480, 640) and gt.max() == 1.0 and gt.min() == 0.0
    fix = load_salicon2015_json(tmp_path / "a/fixations.json")
    assert sorted(fix) == demo_ids(3)
    pts = fix["demo_000"]["points"]
    assert len(pts) > 100
    # Fixations concentrate where the ground-truth map is high.
    gt = read_map(tmp_path / "a/maps/demo_000.png")
    inside = np.round(pts).astype(int)
    inside = inside[(inside[:, 0] >= 0) & (inside[:, 0] < 480)
                    & (inside[:, 1] >= 0) & (inside[:, 1] < 640)]
    assert gt[inside[:, 0], inside[:, 1]].mean() > 3 * gt.mean()


def test_list_images_by_stem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no .jpg"):
        list_images(tmp_path)
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "a.PNG").write_bytes(b"")
    assert list(list_images(tmp_path)) == ["a", "b"]
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="share the stem 'a'"):
        list_images(tmp_path)


def test_download_offline_names_the_url_and_the_place(tmp_path):
    dest = tmp_path / "archives" / "images"
    with pytest.raises(DownloadError) as err:
        download_archive("http://127.0.0.1:9/val.zip", dest, None)
    assert "http://127.0.0.1:9/val.zip" in str(err.value)
    assert str(dest.resolve()) in str(err.value)
    assert not dest.exists()


def test_hand_placed_archive_checksum_and_extraction(tmp_path):
    archive = tmp_path / "images"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("val/x.jpg", b"jpeg bytes")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    download_archive("http://127.0.0.1:9/val.zip", archive, digest)  # present: only checked
    with pytest.raises(DownloadError, match="expected 0000"):
        download_archive("http://127.0.0.1:9/val.zip", archive, "0000")
    extract_archive(archive, tmp_path / "root/images")
    assert (tmp_path / "root/images/val/x.jpg").read_bytes() == b"jpeg bytes"


def test_layout_says_what_each_dataset_kind_has(tmp_path):
    demo = layout({"kind": "demo", "demo": {"n_images": 2}}, demo_root=tmp_path / "res")
    assert demo.generated and not demo.downloaded
    assert demo.image_files() == {"demo_000": tmp_path / "res/images/demo_000.png",
                                  "demo_001": tmp_path / "res/images/demo_001.png"}
    assert demo.map_file("demo_001") == tmp_path / "res/maps/demo_001.png"  # to be generated
    assert demo.fixations == tmp_path / "res/fixations.json"

    (tmp_path / "imgs").mkdir()
    (tmp_path / "maps").mkdir()
    for name in ("b.jpg", "a.png"):
        (tmp_path / "imgs" / name).write_bytes(b"")
    (tmp_path / "maps" / "a.png").write_bytes(b"")
    folder = layout({"kind": "folder", "folder": {"images": str(tmp_path / "imgs"),
                                                  "maps": str(tmp_path / "maps")}}, "unused")
    assert not folder.generated and not folder.downloaded and folder.fixations is None
    assert list(folder.image_files()) == ["a", "b"]
    assert folder.map_file("a") == tmp_path / "maps/a.png" and folder.map_file("b") is None
    bare = layout({"kind": "folder", "folder": {"images": str(tmp_path / "imgs")}}, "unused")
    assert bare.map_file("a") is None

    salicon = layout({"kind": "salicon", "salicon": {"root": str(tmp_path / "s"), "split": "val",
                                                     "archives": {"images": {}}}}, "unused")
    assert salicon.downloaded and not salicon.generated
    assert salicon.image_files() == {}  # archives not extracted yet
    (tmp_path / "s/images/val").mkdir(parents=True)
    (tmp_path / "s/images/val/COCO_1.jpg").write_bytes(b"")
    assert list(salicon.image_files()) == ["COCO_1"]
    with pytest.raises(ValueError, match="dataset.kind 'other' unknown"):
        layout({"kind": "other"}, "unused")


def test_layout_says_where_categories_come_from_or_why_not(tmp_path):
    assert layout({"kind": "demo"}, tmp_path).categories is None
    assert "demo dataset has no object annotations" in layout({"kind": "demo"},
                                                              tmp_path).categories_note
    (tmp_path / "objects.csv").write_text("image,category,area\n")
    folder = {"kind": "folder", "folder": {"images": "imgs", "categories": None}}
    bare = layout(folder, "unused")
    assert bare.categories is None and bare.categories_note == (
        "dataset.folder.categories is not set")
    folder["folder"]["categories"] = str(tmp_path / "objects.csv")
    assert layout(folder, "unused").categories == tmp_path / "objects.csv"
    for value, why in (("objects.txt", "is not a COCO instances .json or a .csv"),
                       (str(tmp_path / "absent.json"), "does not exist")):
        folder["folder"]["categories"] = value
        with pytest.raises(ValueError, match=rf"dataset\.folder\.categories: '{value}' {why}"):
            layout(folder, "unused")
    salicon = {"kind": "salicon", "salicon": {
        "root": "res", "split": "val", "archives": {"images": {}}, "annotations": {
            "url": "http://h/annotations/annotations_trainval2014.zip", "sha256": None,
            "member": "annotations/instances_val2014.json"}}}
    coco = layout(salicon, "unused")
    assert coco.categories == Path("res/annotations/instances_val2014.json")
    assert coco.annotations["archive"] == "res/archives/annotations_trainval2014.zip"
    salicon["salicon"]["annotations"]["url"] = "http://h/images"
    with pytest.raises(ValueError, match="annotations.url: its file name 'images' is also"):
        layout(salicon, "unused")


def test_extract_only_the_members_asked_for(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("annotations/instances_val2014.json", "{}")
        zf.writestr("annotations/captions_val2014.json", "[]")
    extract_archive(archive, tmp_path / "root", members=["annotations/instances_val2014.json"])
    assert [p.name for p in (tmp_path / "root/annotations").iterdir()] == [
        "instances_val2014.json"]
    with pytest.raises(DownloadError, match=r"a\.zip' has no member 'instances_x\.json'; it "
                                            r"holds annotations/instances_val2014\.json"):
        extract_archive(archive, tmp_path / "root", members=["instances_x.json"])
