"""Provenance: what every record and table says made it."""

from __future__ import annotations

import datetime
import hashlib
from importlib import metadata

import pandas as pd

import quickgaze
from quickgaze.cam.models import coco_checkpoint_path, weights_identity
from quickgaze.pipeline import stages
from quickgaze.pipeline.provenance import LIBRARIES, flat, provenance
from quickgaze.report.methods_page import image_counts, methods_page, metric_definitions
from quickgaze.report.tables import with_provenance
from quickgaze.saliency.metrics import METRICS


def test_provenance_names_version_code_libraries_device_and_weights():
    prov = provenance("cam", "cuda:0 (NVIDIA H200)", "coco: x.pth 3:abc")
    assert prov == {"quickgaze": quickgaze.__version__, "stage": "cam",
                    "code": stages.code_hash("cam"),
                    **{lib: metadata.version(lib) for lib in LIBRARIES},
                    "device": "cuda:0 (NVIDIA H200)", "weights": "coco: x.pth 3:abc"}
    assert "weights" not in provenance("evaluation")  # no network ran
    nested = provenance("evaluation", cam=prov)
    assert nested["cam"] == prov
    columns = flat(nested)
    assert columns["provenance_cam_device"] == "cuda:0 (NVIDIA H200)"
    assert columns["provenance_code"] == stages.code_hash("evaluation")
    assert "provenance_stage" not in columns


def test_weights_identity_is_the_checkpoint_name_and_the_hash_of_its_bytes(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    checkpoint = coco_checkpoint_path("fasterrcnn_resnet50_fpn")
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"not really weights")
    sha1 = hashlib.sha1(b"not really weights").hexdigest()
    assert weights_identity("fasterrcnn_resnet50_fpn", "coco") == \
        f"coco: {checkpoint.name} 18:{sha1}"
    assert checkpoint.name.startswith("fasterrcnn_resnet50_fpn_coco-")
    local = tmp_path / "mine.pth"
    local.write_bytes(b"12345")
    assert weights_identity("fasterrcnn_resnet50_fpn", str(local)) == \
        f"local: mine.pth 5:{hashlib.sha1(b'12345').hexdigest()}"
    assert weights_identity("fasterrcnn_resnet50_fpn", "none") == \
        "none: seeded random initialisation"


def _table(**columns):
    return pd.DataFrame({"image": ["a", "b"], "status": ["ok", "ok"], "cc_smooth": [0.1, 0.2],
                         **columns})


def test_aggregate_tables_carry_each_sources_provenance_and_show_a_mix():
    tables = {"v": _table(provenance_cam_device=["cpu", "cuda:0 (X)"]),
              "w": _table(provenance_cam_device=["cpu", "cpu"])}
    out = pd.DataFrame({"name": ["w", "v"], "mean": [0.0, 1.0]})
    per_row = with_provenance(out, "compare", tables, by="name")
    assert list(per_row["provenance_cam_device"]) == ["cpu", "cpu | cuda:0 (X)"]
    assert (per_row["quickgaze"] == quickgaze.__version__).all()
    assert (per_row["code"] == stages.code_hash("compare")).all()
    together = with_provenance(out, "deep_dive", tables)
    assert (together["provenance_cam_device"] == "cpu | cuda:0 (X)").all()
    assert (together["code"] == stages.code_hash("deep_dive")).all()


def test_methods_page_lists_data_parameters_metrics_and_provenance():
    tables = {"v": _table(degenerate=["", "degenerate: tiny"],
                          provenance_cam_weights=["coco: c.pth 9:ff", "coco: c.pth 9:ff"]),
              "centre_bias": _table(status=["ok", "error"])}
    page = methods_page(tables, dataset={"kind": "folder", "folder": {"images": "imgs/"}},
                        variants={"v": {"model": "retinanet_resnet50_fpn", "grid": "3"}},
                        evaluation={"sigma": 19}, ranking={"metric": "cc_smooth"},
                        categories="not available (dataset.folder.categories is not set)",
                        today=datetime.date(2026, 12, 2))
    for text in ("Made on 2026-12-02", "folder.images", "imgs/", "retinanet_resnet50_fpn",
                 "<td>19</td>", "coco: c.pth 9:ff", "Kullback-Leibler",
                 "<p>categories: not available (dataset.folder.categories is not set)</p>"):
        assert text in page, text
    counts = image_counts(tables)
    assert counts.to_dict("list") == {"name": ["v", "centre_bias"], "images": [2, 2],
                                      "ok": [2, 1], "errors": [0, 1], "degenerate": [1, 0]}
    assert counts.to_html(index=False, border=0) in page
    definitions = metric_definitions().set_index("metric")
    assert list(definitions.index) == list(METRICS)
    assert definitions.loc["kld", "better"] == "lower"
    assert definitions.loc["nss", "better"] == "higher"
    assert definitions.loc["nss", "definition"].startswith("Normalised scanpath saliency (MIT ``NSS.m``)")
