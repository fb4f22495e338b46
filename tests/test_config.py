"""config.yaml is checked against schemas/config.schema.yaml before anything runs."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, snakemake, write_config


@pytest.mark.parametrize(
    ("overrides", "variants", "expected"),
    [
        ({"dataset": {"kind": "demo", "colour": "red"}}, None, ["colour"]),
        ({"evaluation": {"sigma": -1}}, None, ["sigma", "minimum"]),
        ({"dataset": {"kind": "imagenet"}}, None, ["imagenet", "kind", "demo", "folder", "salicon"]),
        ({}, {"seed": {"modle": "x"}}, ["modle"]),
        ({}, {"seed": {"model": "yolo"}}, ["yolo", "fasterrcnn_resnet50_fpn"]),
        ({}, {"seed": {"sign_policy": "flip"}}, ["flip", "max_abs", "mean_activation"]),
        ({"device": "gpu"}, None, ["device", "gpu"]),
        ({}, {"seed": {"sign_policy": "none"}}, ["none", "svd"]),
    ],
)
def test_schema_errors_name_the_key_and_the_allowed_values(tmp_path, overrides, variants, expected):
    write_config(tmp_path, overrides, replace_variants=variants)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "ValidationError" in output or "validation" in output.lower()
    for word in expected:
        assert word in output, f"'{word}' missing from:\n{output[-3000:]}"


def test_the_shipped_configs_validate(tmp_path):
    write_config(tmp_path, {})
    proc = snakemake(tmp_path, "-n")
    assert "cam_seed_b0000" in proc.stdout + proc.stderr
    assert "rule categories" not in proc.stdout + proc.stderr  # the demo has no annotations
    methods = json.loads((tmp_path / "results/demo/params/methods.json").read_text())
    assert methods["params"]["categories"] == (
        "not available (the demo dataset has no object annotations)")  # the page's line


def test_the_salicon_study_first_downloads_everything_with_coco_annotations(tmp_path):
    proc = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"),
                     str(REPO / "studies/salicon-val.yaml"))
    out = proc.stdout + proc.stderr
    for job in ("download_salicon_archive", "extract_salicon_archive",
                "download_coco_annotations", "extract_coco_annotations"):
        assert f"rule {job}:" in out, job
    assert "output: resources/salicon/archives/annotations_trainval2014.zip" in out
    assert "output: resources/salicon/annotations/instances_val2014.json" in out


@pytest.mark.parametrize(("dataset", "expected"), [
    ({"folder": {"categories": "objects.txt"}},
     ["dataset.folder.categories: 'objects.txt' is not a COCO instances .json"]),
    ({"folder": {"categories": "absent.json"}},
     ["dataset.folder.categories: 'absent.json' does not exist"]),
    ({"kind": "salicon", "salicon": {"root": "r", "split": "val", "archives": {},
                                     "annotations": {"url": "http://h/a.zip"}}},
     ["member", "required"]),
])
def test_category_sources_are_checked_naming_key_and_value(tmp_path, salicon_examples,
                                                           dataset, expected):
    folder = {"kind": "folder", "folder": {"images": str(salicon_examples / "images")}}
    write_config(tmp_path, {"dataset": {**folder, **dataset}})
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.parametrize(("device", "threads"), [("cpu", 8), ("cuda", 4)])
def test_cam_jobs_take_every_core_on_the_cpu_and_four_with_cuda(tmp_path, device, threads):
    write_config(tmp_path, {"device": device})
    proc = snakemake(tmp_path, "-n", "--cores", "8")
    job = (proc.stdout + proc.stderr).split("rule cam_seed_b0000:")[1].split("\n\n")[0]
    assert f"threads: {threads}\n" in job, job


def test_svd_sign_at_the_finest_grid_is_a_config_error(tmp_path):
    write_config(tmp_path, {}, replace_variants={"fine": {"grid": "finest"}})
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "variant 'fine': sign_policy 'svd'" in output and "finest grid" in output
