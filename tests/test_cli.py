"""The `quickgaze` command and the API without rough edges (issue 28, item 5): one-line
errors, --version, plain-text help, the default sign policy, score's inputs and
outputs, CamMapper.map_many, and the README's API snippet run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import quickgaze
from quickgaze.api import METRIC_UNITS, CamMapper, row_col
from quickgaze.io.images import read_map, write_map_png

from conftest import FAST_VARIANT, REPO

COMMAND = Path(sys.executable).with_name("quickgaze")
needs_command = pytest.mark.skipif(not COMMAND.exists(),
                                   reason="console script not installed (pip install -e .)")
FAST = ["--model", FAST_VARIANT["model"], "--weights", "none", "--input-scale", "native",
        "--device", "cpu"]


def run(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([str(COMMAND), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module")
def images(salicon_examples):
    return sorted((salicon_examples / "images").glob("*.jpg"))[:3]


@needs_command
def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout == f"quickgaze {quickgaze.__version__}\n"


@needs_command
@pytest.mark.parametrize("command", [[], ["cam"], ["score"]])
def test_help_is_plain_text(command):
    proc = run(*command, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: quickgaze")
    for markup in ("``", ":func:", ":class:", ":data:", "`"):
        assert markup not in proc.stdout, markup


@needs_command
def test_expected_failures_are_one_line_with_a_nonzero_status(tmp_path, images):
    image = str(images[0])
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a JPEG")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00garbage")
    bad_table = tmp_path / "fix.txt"
    bad_table.write_text("1 2 3\n4 5 6\n")
    out = str(tmp_path / "m.png")
    cases = [
        (["cam", image, "-o", out, "--grdi", "pool"], 2,
         "quickgaze: error: unrecognized arguments: --grdi pool (see 'quickgaze --help')"),
        (["cam", image, "-o", out, "--sign-policy", "sv"], 2,
         ("quickgaze cam: error: argument --sign-policy: invalid choice: 'sv' (choose from "
          "'mean_activation', 'max_abs', 'svd') (see 'quickgaze cam --help')")),
        (["cam", image, "-o", out, "--model", "nope", "--weights", "none"], 1,
         "quickgaze cam: error: quickgaze.cam_map: variant 'cam_map': model 'nope' unknown;"),
        (["cam", str(tmp_path / "missing.jpg"), "-o", out, *FAST], 1,
         (f"quickgaze cam: error: {tmp_path / 'missing.jpg'}: cannot decode image "
          "(FileNotFoundError")),
        (["cam", str(not_an_image), "-o", out, *FAST], 1,
         f"quickgaze cam: error: {not_an_image}: cannot decode image (UnidentifiedImageError"),
        (["cam", image, "-o", out, "--weights", str(tmp_path / "none.pth")], 1,
         (f"quickgaze cam: error: quickgaze.cam_map: variant 'cam_map': weights: local "
          f"state_dict file '{tmp_path / 'none.pth'}' does not exist (or is not a file)")),
        (["cam", image, "-o", out, "--weights", str(corrupt)], 1,
         (f"quickgaze cam: error: weights file '{corrupt}' is not a state_dict of "
          "fasterrcnn_resnet50_fpn: not a valid PyTorch checkpoint (UnpicklingError)")),
        (["score", str(not_an_image), "--fixations", str(bad_table)], 1,
         f"quickgaze score: error: {not_an_image}: cannot decode map"),
        (["score", image, "--fixations", str(bad_table)], 1,
         (f"quickgaze score: error: {bad_table}: points must be an (M, 2) array; got shape "
          "(2, 3)")),
        (["score", image], 1, "quickgaze score: error: give --fixations and/or --truth-map"),
    ]
    if not torch.cuda.is_available():
        cases.append((["cam", image, "-o", out, *FAST[:-2], "--device", "cuda:0"], 1,
                      ("quickgaze cam: error: --device cuda:0: CUDA is not available on this "
                       "machine")))
    for args, status, message in cases:
        proc = run(*args)
        assert proc.returncode == status, (args, proc.stderr)
        lines = [line for line in proc.stderr.splitlines()
                 if not line.startswith("quickgaze cam: warning: --weights none")]
        assert len(lines) == 1 and lines[0].startswith(message), (args, proc.stderr)


@needs_command
def test_weights_unavailable_offline_is_one_error_line(tmp_path, images):
    # Offline made certain: an empty hub cache and a proxy that refuses every connection.
    env = {"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = run("cam", str(images[0]), "-o", str(tmp_path / "m.png"), "--model",
               FAST_VARIANT["model"], "--weights", "coco", "--device", "cpu", env=env)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("Downloading: ") for line in lines[:-1])  # torch's, if any
    assert len(lines) <= 2 and lines[-1].startswith(
        f"quickgaze cam: error: COCO weights for {FAST_VARIANT['model']} are not in the torch "
        "hub cache and could not be downloaded")
    assert f"place it as '{FAST_VARIANT['model']}-" in lines[-1]


@needs_command
def test_default_sign_policy_is_mean_activation_and_svd_one_flag_away(tmp_path, images):
    fast = dict(FAST_VARIANT)
    assert CamMapper(device="cpu", **fast).variant["sign_policy"] == "mean_activation"
    for flag, policy in (([], "mean_activation"), (["--sign-policy", "svd"], "svd")):
        out = tmp_path / f"{policy}.png"
        proc = run("cam", str(images[0]), "-o", str(out), *FAST, *flag)
        assert proc.returncode == 0, proc.stderr
        direct = quickgaze.cam_map(images[0], device="cpu", sign_policy=policy, **fast)
        assert np.abs(read_map(out) - direct).max() <= 0.5 / 255 + 1e-6  # 8-bit PNG


@needs_command
def test_score_reads_other_fixations_xy_and_one_based_points_and_gives_units(tmp_path):
    rng = np.random.default_rng(1)
    saliency = rng.random((48, 64)).astype(np.float32)
    write_map_png(tmp_path / "map.png", saliency)
    saliency = read_map(tmp_path / "map.png")
    points = np.stack([rng.integers(0, 48, 30), rng.integers(0, 64, 30)], axis=1)
    others = np.stack([rng.integers(0, 48, 200), rng.integers(0, 64, 200)], axis=1)
    np.savetxt(tmp_path / "fix.txt", points, fmt="%d")
    np.savetxt(tmp_path / "others.txt", others, fmt="%d")
    # the same points as 1-based (x, y)
    np.savetxt(tmp_path / "fix_xy1.txt", points[:, ::-1] + 1, fmt="%d")
    np.savetxt(tmp_path / "others_xy1.txt", others[:, ::-1] + 1, fmt="%d")
    expected = quickgaze.score(saliency, fixations=points, other_fixations=others)
    assert np.isfinite(expected["sauc"])

    proc = run("score", str(tmp_path / "map.png"), "--fixations", str(tmp_path / "fix.txt"))
    alone = json.loads(proc.stdout)
    assert alone["scores"]["sauc"] is None
    assert alone["null_reasons"] == {"sauc": "needs other images' fixations, the shuffled-AUC "
                                             "negatives (--other-fixations)"}
    assert alone["units"]["info_gain"] == "bits per fixation"
    assert alone["units"]["kld"] == "nats" and alone["units"]["cc"] == "unitless"
    assert alone["units"] == {k: METRIC_UNITS.get(k, "unitless") for k in expected}

    for files, flags in ((("fix.txt", "others.txt"), []),
                         (("fix_xy1.txt", "others_xy1.txt"), ["--xy", "--one-based"])):
        proc = run("score", str(tmp_path / "map.png"), "--fixations", str(tmp_path / files[0]),
                   "--other-fixations", str(tmp_path / files[1]), *flags)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["scores"] == pytest.approx(expected, abs=0) and out["null_reasons"] == {}
    # only the map against a truth map: the fixation metrics say why they are null
    write_map_png(tmp_path / "truth.png", rng.random((48, 64)))
    truth = json.loads(run("score", str(tmp_path / "map.png"), "--truth-map",
                           str(tmp_path / "truth.png")).stdout)
    assert truth["null_reasons"]["nss"] == "needs fixations (--fixations)"
    assert truth["scores"]["cc"] is not None


def test_row_col_converts_only_what_it_is_told():
    pts = np.array([[10.0, 20.0], [1.0, 1.0]])
    np.testing.assert_array_equal(row_col(pts), pts)
    np.testing.assert_array_equal(row_col(pts, xy=True), [[20, 10], [1, 1]])
    np.testing.assert_array_equal(row_col(pts, one_based=True), [[9, 19], [0, 0]])
    with pytest.raises(ValueError, match=r"points must be an \(M, 2\) array; got shape \(3,\)"):
        row_col(np.zeros(3))


def test_map_many_batches_forwards_and_equals_one_image_calls(images):
    mapper = CamMapper(device="cpu", **FAST_VARIANT)
    calls = []
    hook = mapper.model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    try:
        many = mapper.map_many(images, batch_size=3)
        assert len(calls) == 1 and calls[0][0] == 3  # one forward of three images
        calls.clear()
        one = [mapper(p) for p in images]
        assert len(calls) == 3
    finally:
        hook.remove()
    for a, b in zip(many, one):
        assert a.shape == b.shape == (480, 640)
        assert np.abs(a - b).max() <= 1e-5
    assert [m.shape for m in mapper.map_many(images[:2], batch_size=5)] == [(480, 640)] * 2
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        mapper.map_many(images, batch_size=0)


def readme_api_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Outside the workflow"):]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.slow
def test_readme_api_snippet_runs_as_written(tmp_path, monkeypatch, salicon_examples):
    snippet = readme_api_snippet()
    assert "points = " in snippet  # every name it uses is defined in it
    image = min((salicon_examples / "images").glob("*.jpg"))
    (tmp_path / "photo.jpg").write_bytes(image.read_bytes())
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "photo_fixations.txt",
               np.stack([rng.integers(0, 480, 40), rng.integers(0, 640, 40)], axis=1), fmt="%d")
    # weights="coco" as written: a real checkpoint file where torch's hub cache keeps the COCO
    # weights (this machine is offline), holding a seeded random state_dict of the detector.
    from quickgaze.cam.models import build_detector, coco_checkpoint_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = coco_checkpoint_path("fasterrcnn_resnet50_fpn")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    target.parent.mkdir(parents=True)
    torch.save(build_detector("fasterrcnn_resnet50_fpn", "none", seed=0).state_dict(), target)
    proc = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    nss, info_gain = map(float, proc.stdout.split())
    assert np.isfinite(nss) and np.isfinite(info_gain)
