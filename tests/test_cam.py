"""The CAM engine: exactness against grad-cam, the large-grid solver, sign
policies, padding crop. Real resnet50 FPN (seeded random weights) on real
SALICON images; a synthetic FPN backbone only where the right answer must be
known by construction."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from quickgaze.cam.eigencam import (
    CamSettings,
    cam_from_projection,
    compute_cams,
    compute_variant_cams,
    minmax,
)
from quickgaze.cam.fpn import fpn_features, select_levels, to_tensor
from quickgaze.cam.fused_levels import FusedLevels, grid_geometry
from quickgaze.cam.models import build_detector
from quickgaze.cam.pca import GRAM_MAX, SVD_MAX_CELLS, top_principal_projection
from quickgaze.cam.sign import apply_sign_policy, sign_against
from quickgaze.io.images import read_rgb
from quickgaze.maps.resampling import cam_to_image

CPU = torch.device("cpu")
NOTEBOOK = CamSettings(levels=("all",), grid="pool", input_scale="detector", sign_policy="svd",
                       crop_padding=False)


@pytest.fixture(scope="module")
def all_images(salicon_examples):
    """Every real SALICON example image."""
    return [read_rgb(p) for p in sorted((salicon_examples / "images").glob("*.jpg"))]


@pytest.fixture(scope="module")
def images(all_images):
    return all_images[:3]


@pytest.fixture(scope="module")
def resnet():
    return build_detector("fasterrcnn_resnet50_fpn", "none", seed=0)


@pytest.fixture(scope="module")
def features(resnet, images):
    """abs()-ed FPN levels of the first image at detector scale, with its sizes."""
    with torch.inference_mode():
        feats, sizes, padded = fpn_features(resnet, [to_tensor(images[0])], "detector")
    return {k: v[0].abs() for k, v in feats.items()}, sizes[0], padded


def fused(features, grid: str, crop_padding: bool = True) -> FusedLevels:
    feats, size, padded = features
    grid_size = tuple(feats[grid].shape[-2:])
    geom = grid_geometry({k: tuple(v.shape[-2:]) for k, v in feats.items()}, grid, size, padded,
                         crop_padding)
    return FusedLevels(list(feats.values()), grid_size, geom.crop, matrices=geom.matrices)


# --- exactness against grad-cam ------------------------------------------------------------


def gradcam_cam(model, image, cam_class):
    """grad-cam's CAM of an image, the notebook's way (full detector forward)."""
    from pytorch_grad_cam.utils.reshape_transforms import fasterrcnn_reshape_transform

    x = to_tensor(image)[None]
    with cam_class(model, target_layers=[model.backbone],
                   reshape_transform=fasterrcnn_reshape_transform) as cam:
        # EigenCAM ignores targets, but BaseCAM needs some for a detector's output.
        return cam(x, targets=[lambda output: 0])[0]


OTHER_POLICIES = ("max_abs", "mean_activation")


@pytest.fixture(scope="module")
def policy_cams(resnet, all_images) -> list[dict]:
    """Per real image, the engine's CAMs of the notebook's variant and of the two other
    sign policies from one forward (a forward group, as the CAM job computes them),
    with the backbone + FPN levels of that forward (caught by a hook on the backbone)."""
    settings = [NOTEBOOK, *(CamSettings(grid="pool", sign_policy=p, crop_padding=False)
                            for p in OTHER_POLICIES)]
    out, caught = [], []
    hook = resnet.backbone.register_forward_hook(lambda _m, _i, o: caught.append(o))
    try:
        for image in all_images:
            results = compute_variant_cams(resnet, [image], settings, CPU)
            assert len(caught) == 1  # one forward for the three policies
            out.append({"features": caught.pop(), "svd": results[0][0],
                        **{p: results[k][0] for k, p in enumerate(OTHER_POLICIES, 1)}})
    finally:
        hook.remove()
    # A variant computed alone is the same map as in the group.
    alone = compute_cams(resnet, [all_images[0]], NOTEBOOK, CPU)[0]
    assert np.array_equal(alone.cam, out[0]["svd"].cam)
    return out


@pytest.mark.slow
def test_seed_equals_gradcam_eigencam_sign_included(all_images, policy_cams, resnet):
    """The notebook's variant is grad-cam's EigenCAM on every real image, with no
    sign freedom; the engine's own solver signs (which policy ``svd`` replaces)
    are shown to disagree with it on some images, so the sign really is decided."""
    from pytorch_grad_cam import EigenCAM

    assert len(all_images) == 10
    solver_disagrees = 0
    for image, cams in zip(all_images, policy_cams):
        ours = cams["svd"]
        assert ours.cam.shape == (13, 17) and ours.extent == (13.0, 17.0)
        assert ours.sign_flipped is False and ours.converged and not ours.error
        mapped = cam_to_image(ours.cam, ours.extent, image.shape[:2])
        reference = gradcam_cam(resnet, image, EigenCAM)
        assert reference.shape == mapped.shape == image.shape[:2]
        assert float(np.abs(mapped - reference).max()) <= 1e-4
        # The exact Gram solver's own sign, for contrast.
        feats = cams["features"]
        levels, _ = select_levels(feats, ("all",), "pool")
        op = FusedLevels([feats[k][0].abs() for k in levels], (13, 17), (13, 17))
        proj, _, _ = top_principal_projection(op, method="gram")
        solver = cam_to_image(cam_from_projection(proj).numpy(), ours.extent, image.shape[:2])
        solver_disagrees += float(np.abs(solver - reference).max()) > 0.1
    assert 0 < solver_disagrees < 10


@pytest.mark.slow
def test_sign_flag_is_relative_to_the_notebook(all_images, policy_cams):
    """For policies other than ``svd``, ``sign_flipped`` says exactly whether the map is
    the notebook's map inverted: not flipped -> the same map, flipped -> the other sign."""
    n_flipped = {p: 0 for p in OTHER_POLICIES}
    for cams in policy_cams:
        notebook = cams["svd"].cam
        for policy in n_flipped:
            res = cams[policy]
            assert res.sign_flipped is not None
            same = float(np.abs(res.cam - notebook).max()) <= 1e-4
            assert same != res.sign_flipped, (policy, res.sign_flipped)
            n_flipped[policy] += res.sign_flipped
    print(f"notebook map inverted, of {len(all_images)} images: {n_flipped}")


def test_svd_policy_refuses_grids_too_large_for_the_dense_svd():
    image, _ = square_image(True)
    with pytest.raises(ValueError, match=f"feasible up to {SVD_MAX_CELLS} grid cells"):
        compute_cams(IntensityDetector().eval(), [image], CamSettings(grid="0",
                                                                       input_scale="native"), CPU)
    # Other policies work there, without a reference sign.
    res = compute_cams(IntensityDetector().eval(), [image],
                       CamSettings(grid="0", input_scale="native", sign_policy="max_abs"), CPU)[0]
    assert res.cam.shape == (120, 160) and res.sign_flipped is None


@pytest.mark.slow
def test_max_abs_equals_gradcam_sign_corrected_projection(resnet, images):
    """No sign ambiguity left: Seg-Eigen-CAM's rule must give grad-cam's exact map."""
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

    class SignCorrectedEigenCAM(EigenCAM):
        def get_cam_image(self, input_tensor, target_layer, target_category, activations,
                          grads, eigen_smooth):
            return get_2d_projection_with_sign_correction(activations)

    image = images[1]
    settings = CamSettings(grid="pool", sign_policy="max_abs", crop_padding=False)
    ours = compute_cams(resnet, [image], settings, CPU)[0]
    mapped = cam_to_image(ours.cam, ours.extent, image.shape[:2])
    reference = gradcam_cam(resnet, image, SignCorrectedEigenCAM)
    assert float(np.abs(mapped - reference).max()) <= 1e-4


# --- the solver ------------------------------------------------------------------------------


def exact_top(a: np.ndarray) -> tuple[np.ndarray, float]:
    """Top PC projection and explained-variance ratio by numpy's full SVD."""
    a = a.astype(np.float64)
    a = a - a.mean(axis=0)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    return a @ vt[0], float(s[0] ** 2 / (s**2).sum())


def abs_cosine(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x.ravel(), y.ravel()
    return float(abs(x @ y) / np.linalg.norm(x) / np.linalg.norm(y))


@pytest.mark.slow
def test_subspace_iteration_matches_numpy_svd(features):
    op = fused(features, "2")
    assert op.n == 50 * 67 and op.n_channels == 1280
    proj, ratio, converged = top_principal_projection(op, method="subspace")
    assert converged
    exact_proj, exact_ratio = exact_top(op.dense().numpy())
    assert proj.shape == (50, 67)
    assert abs_cosine(proj.numpy(), exact_proj) > 0.9999
    assert abs(ratio - exact_ratio) < 1e-4
    # the same magnitude too, not just the direction
    assert np.linalg.norm(proj.numpy()) == pytest.approx(np.linalg.norm(exact_proj), rel=1e-4)


@pytest.mark.slow
def test_finest_grid_uses_subspace_and_matches_exact_covariance(features):
    op = fused(features, "0")
    assert (op.rows, op.cols) == (200, 267) and min(op.n, op.n_channels) > GRAM_MAX
    proj, ratio, converged = top_principal_projection(op)  # auto: the subspace path
    assert converged
    # Reference: float64 covariance of the densely fused matrix, built by numpy in
    # chunks (a full SVD of 53400 x 1280 takes minutes here).
    a = op.dense().numpy()
    mean = a.mean(axis=0, dtype=np.float64)
    cov = np.zeros((a.shape[1], a.shape[1]))
    for start in range(0, len(a), 8192):
        chunk = a[start:start + 8192].astype(np.float64) - mean
        cov += chunk.T @ chunk
    vals, vecs = np.linalg.eigh(cov)
    exact_proj = np.concatenate([(a[s:s + 8192].astype(np.float64) - mean) @ vecs[:, -1]
                                 for s in range(0, len(a), 8192)])
    assert abs_cosine(proj.numpy(), exact_proj) > 0.9999
    assert abs(ratio - vals[-1] / np.trace(cov)) < 1e-4


def test_fused_operator_products_match_dense_fusion():
    """The implicit operator equals F.interpolate fusion (up/down-sampling, crop)."""
    gen = torch.Generator().manual_seed(0)
    levels = [torch.rand(6, 40, 52, generator=gen), torch.rand(5, 20, 26, generator=gen),
              torch.rand(4, 5, 7, generator=gen)]
    for grid, crop in (((40, 52), (40, 50)), ((20, 26), (19, 26)), ((5, 7), (5, 7))):
        op = FusedLevels(levels, grid, crop)
        dense = torch.cat([F.interpolate(x[None], size=grid, mode="bilinear")[0]
                           [:, : crop[0], : crop[1]] for x in levels]).flatten(1).T.double()
        q = torch.randn(15, 3, generator=gen)
        y = torch.randn(3, op.n, generator=gen)
        torch.testing.assert_close(op.matmul(q).T.double(), dense @ q.double(), rtol=1e-5,
                                   atol=1e-5)
        torch.testing.assert_close(op.rmatmul(y).double(), dense.T @ y.T.double(), rtol=1e-5,
                                   atol=1e-4)
        torch.testing.assert_close(op.column_means().double(), dense.mean(0), rtol=1e-5,
                                   atol=1e-6)
        assert op.squared_norm() == pytest.approx(float(dense.square().sum()), rel=1e-6)
        centred = op.centred().dense().double()
        torch.testing.assert_close(centred, dense - dense.mean(0), rtol=1e-5, atol=1e-5)


def test_gram_and_subspace_agree_on_constructed_activations():
    gen = torch.Generator().manual_seed(1)
    pattern = torch.rand(30, 40, generator=gen)
    acts = torch.rand(64, 1, 1, generator=gen) * pattern + 0.2 * torch.rand(64, 30, 40,
                                                                            generator=gen)
    p_gram, r_gram, _ = top_principal_projection(acts, method="gram")
    p_sub, r_sub, converged = top_principal_projection(acts, method="subspace")
    assert converged
    assert abs_cosine(p_gram.numpy(), p_sub.numpy()) > 1 - 1e-9
    assert r_sub == pytest.approx(r_gram, abs=1e-6)
    assert 0.5 < r_gram < 1  # the planted component dominates
    with pytest.raises(ValueError, match="method 'svd' unknown"):
        top_principal_projection(acts, method="svd")


def tied_activations(gap: float) -> torch.Tensor:
    """``(64, 30, 40)`` activations with two planted components whose variances
    differ by the factor ``1 + gap`` (near-tied for small ``gap``)."""
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 30, 40, generator=gen) - 0.5
    b = b - (a * b).sum() / (a * a).sum() * a  # orthogonal spatial patterns
    a, b = a / a.norm(), b / b.norm()
    ua, ub = torch.randn(2, 64, 1, 1, generator=gen)
    ua, ub = ua / ua.norm(), ub - (ua * ub).sum() * ua
    ub = ub / ub.norm()
    return (1 + gap) ** 0.5 * ua * a + ub * b + 1e-4 * torch.rand(64, 30, 40, generator=gen)


def test_subspace_iteration_reports_non_convergence_on_a_near_tied_spectrum():
    acts = tied_activations(1e-6)
    _, _, converged = top_principal_projection(acts, method="subspace", max_iter=3, tol=1e-12)
    assert converged is False
    # the same spectrum with room to converge, and a clear gap, converge
    assert top_principal_projection(tied_activations(0.5), method="subspace")[2] is True


def test_non_convergence_reaches_the_cam_record(monkeypatch):
    import quickgaze.cam.pca as pca_module

    real = pca_module._subspace_top
    monkeypatch.setattr(pca_module, "_subspace_top",
                        lambda op, tol, max_iter: real(op, 1e-30, 2))
    image, _ = square_image(True)
    res = compute_cams(IntensityDetector().eval(), [image],
                       CamSettings(grid="0", input_scale="native", sign_policy="max_abs"), CPU,
                       method="subspace")[0]
    assert res.converged is False and "did not converge" in res.warnings and not res.error


def test_sign_against_is_undefined_for_different_components():
    ref = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    assert sign_against(torch.tensor([[2.0, 0.1], [0.0, 0.0]]), ref) is False
    assert sign_against(torch.tensor([[-2.0, 0.1], [0.0, 0.0]]), ref) is True
    assert sign_against(torch.tensor([[0.0, 1.0], [0.0, 0.0]]), ref) is None


@pytest.mark.slow
def test_solver_paths_give_the_same_map_for_each_policy(features):
    """Exact Gram and subspace iteration, each with its own arbitrary solver sign,
    give the same signed map for every policy at a grid both can run."""
    op = fused(features, "3")
    mean_map = op.matmul(op.levels[0].new_full((op.n_channels, 1), 1 / op.n_channels)
                         ).reshape(op.rows, op.cols)
    for policy in ("max_abs", "mean_activation"):
        cams = []
        for method in ("gram", "subspace"):
            proj, _, _ = top_principal_projection(op, method=method)
            cams.append(cam_from_projection(apply_sign_policy(proj, mean_map, policy)[0]))
        torch.testing.assert_close(cams[0], cams[1], atol=1e-5, rtol=0)


PEAK_MEMORY_SCRIPT = """
import json, sys, torch
from quickgaze.cam.eigencam import CamSettings, compute_cams
from quickgaze.io.images import read_rgb
from quickgaze.cam.models import build_detector

def peak_kib():  # this process's own high-water mark (ru_maxrss survives exec)
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])

model = build_detector("fasterrcnn_resnet50_fpn", "none", seed=0)
image = read_rgb(sys.argv[1])
before = peak_kib()
res = compute_cams(model, [image], CamSettings(grid=sys.argv[2], sign_policy="mean_activation"),
                   torch.device("cpu"))[0]
print(json.dumps({"model_kib": before, "peak_kib": peak_kib(), "shape": list(res.cam.shape)}))
"""


def peak_memory(image, grid: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(image), grid],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_finest_grid_fusion_fits_in_2_gb(salicon_examples):
    """Peak RSS of a whole process (torch, model, forward, CAM) at the finest grid,
    and what it adds over the pool grid (the notebook's)."""
    image = min((salicon_examples / "images").glob("*.jpg"))
    fine, pool = peak_memory(image, "finest"), peak_memory(image, "pool")
    assert fine["shape"] == [200, 267] and pool["shape"] == [13, 17]
    gib = {k: v / 2**20 for k, v in fine.items() if k.endswith("kib")}
    print(f"finest grid: process peak {gib['peak_kib']:.2f} GiB (model built: "
          f"{gib['model_kib']:.2f} GiB; pool grid peak {pool['peak_kib'] / 2**20:.2f} GiB)")
    assert gib["peak_kib"] < 2.0
    assert fine["peak_kib"] - pool["peak_kib"] < 0.5 * 2**20


# --- sign policies and padding, on a backbone whose answer is known ------------------------


class IntensityBackbone(nn.Module):
    """FPN-shaped backbone with known activations: channel ``c`` of every level is
    ``(c + 1) * relu(normalised red)`` averaged over stride-``s`` cells, so the
    activation is high exactly where the image is bright."""

    strides = (("0", 4), ("1", 8), ("pool", 64))

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        red = x[:, :1].clamp_min(0)
        scale = torch.arange(1, 5, dtype=x.dtype, device=x.device).view(1, 4, 1, 1)
        return OrderedDict((k, F.avg_pool2d(red, s, ceil_mode=True) * scale)
                           for k, s in self.strides)


class IntensityDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transform = GeneralizedRCNNTransform(800, 1333, [0.485, 0.456, 0.406],
                                                  [0.229, 0.224, 0.225])
        self.backbone = IntensityBackbone()


def square_image(bright_square: bool) -> tuple[np.ndarray, np.ndarray]:
    inside = np.zeros((480, 640), bool)
    inside[180:300, 260:380] = True
    value = inside if bright_square else ~inside
    return np.repeat((value * 255).astype(np.uint8)[..., None], 3, axis=2), inside


@pytest.mark.parametrize("bright_square", [True, False])
@pytest.mark.parametrize("policy", ["max_abs", "mean_activation"])
def test_sign_policies_choose_the_known_sign(bright_square, policy):
    """Bright square on black: both policies highlight the square. Black square on
    white: mean_activation highlights the bright surround (where activation is),
    max_abs the square (the extreme of the projection). At the pool grid, the
    flag says whether the map is grad-cam's (policy svd) inverted."""
    image, inside = square_image(bright_square)
    model = IntensityDetector().eval()
    for grid in ("0", "pool"):
        settings = CamSettings(grid=grid, input_scale="native", sign_policy=policy)
        res = compute_cams(model, [image], settings, CPU)[0]
        cam = cam_to_image(res.cam, res.extent, image.shape[:2])
        square_wins = cam[inside].mean() > cam[~inside].mean()
        assert square_wins == (bright_square or policy == "max_abs")
    svd = compute_cams(model, [image], CamSettings(grid="pool", input_scale="native"), CPU)[0]
    assert svd.sign_flipped is False and res.sign_flipped is not None
    same_as_svd = np.allclose(res.cam, svd.cam, atol=1e-5)
    assert same_as_svd != res.sign_flipped
    assert res.explained_variance == pytest.approx(svd.explained_variance, rel=1e-5)


def test_apply_sign_policy_is_independent_of_the_solver_sign():
    proj = torch.tensor([[3.0, -1.0], [-0.5, -0.5]])
    mean_map = torch.tensor([[2.0, 0.0], [0.5, 0.5]])
    for policy in ("max_abs", "mean_activation"):
        a, flip_a = apply_sign_policy(proj, mean_map, policy)
        b, flip_b = apply_sign_policy(-proj, mean_map, policy)
        assert torch.equal(a, b) and flip_a != flip_b
        assert torch.equal(a, proj) and not flip_a
    # max_abs: |min| > |max| flips; mean_activation follows the mean map, not the extreme
    spike = torch.tensor([[-4.0, 1.0], [1.0, 1.0]])
    assert apply_sign_policy(spike, -spike, "max_abs")[1] is True
    assert apply_sign_policy(spike, spike, "mean_activation")[1] is False
    with pytest.raises(ValueError, match="sign_policy 'flip' unknown"):
        apply_sign_policy(proj, mean_map, "flip")
    with pytest.raises(ValueError, match="allowed: svd, max_abs, mean_activation"):
        CamSettings(sign_policy="positive")
    with pytest.raises(ValueError, match="'none'.*removed.*use 'svd'"):
        CamSettings(sign_policy="none")


def stripe_centre(crop_padding: bool) -> float:
    """Column of the centre of the CAM of a white stripe (columns 400-479) on a
    black 480x640 image, at detector scale (the midpoint of the two crossings of
    0.5, which the ReLU shifts alike on both sides)."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, 400:480] = 255
    # Level 0 alone: the coarser levels blur the stripe asymmetrically.
    settings = CamSettings(levels=("0",), grid="0", input_scale="detector",
                           sign_policy="mean_activation", crop_padding=crop_padding)
    res = compute_cams(IntensityDetector().eval(), [image], settings, CPU)[0]
    if crop_padding:
        # 800x1066 of the 800x1088 input: 200 x 266.5 cells of level 0, 267 kept
        assert res.extent == (200.0, 266.5) and res.cam.shape == (200, 267)
    else:
        assert res.extent == (200.0, 272.0) and res.cam.shape == (200, 272)
    row = cam_to_image(res.cam, res.extent, (480, 640))[240]
    peak = int(row.argmax())
    rise = np.interp(0.5, row[:peak + 1], np.arange(peak + 1))
    fall = np.interp(0.5, row[peak:][::-1], np.arange(peak, 640)[::-1])
    return float((rise + fall) / 2)


def test_crop_padding_maps_the_cam_back_onto_the_image():
    # Pixel centres: the stripe's centre is at 439.5. Stretching the padded grid over
    # the image (grad-cam, the notebook) moves it to 440 * 1066 / 1088 - 0.5 = 430.6.
    assert stripe_centre(True) == pytest.approx(439.5, abs=1.0)
    assert stripe_centre(False) == pytest.approx(440 * 1066 / 1088 - 0.5, abs=1.0)


@pytest.mark.slow
def test_real_detector_crop_at_detector_scale(resnet, images):
    res = compute_cams(resnet, [images[0]], CamSettings(grid="finest",
                                                        sign_policy="mean_activation"), CPU)[0]
    assert res.extent == (200.0, 266.5) and res.cam.shape == (200, 267)
    assert res.sign_flipped is None  # no dense-SVD reference at 53400 cells
    assert 0 < res.explained_variance < 1 and res.cam.min() == 0 and res.cam.max() > 0.99
    mapped = cam_to_image(res.cam, res.extent, (480, 640))
    assert mapped.shape == (480, 640) and mapped.min() == 0 and mapped.max() == pytest.approx(1)


class NaNBackbone(IntensityBackbone):
    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = super().forward(x)
        feats["1"][..., 3, 3] = float("nan")
        return feats


@pytest.mark.parametrize(("grid", "policy", "method"), [("0", "max_abs", "subspace"),
                                                      ("pool", "max_abs", "gram"),
                                                      ("pool", "svd", "auto")])
def test_non_finite_activations_give_an_error_record(grid, policy, method):
    image, _ = square_image(True)
    model = IntensityDetector().eval()
    model.backbone = NaNBackbone()
    settings = CamSettings(grid=grid, input_scale="native", sign_policy=policy)
    res = compute_cams(model, [image, image], settings, CPU, method=method)
    assert all("non-finite" in r.error and r.cam.size == 0 for r in res)


def test_minmax_matches_gradcam_scale():
    x = torch.tensor([2.0, 4.0, 6.0])
    torch.testing.assert_close(minmax(x), (x - 2) / (4 + 1e-7))


class BumpBackbone(nn.Module):
    """ResNet-FPN-shaped levels of strides 4 to 32 and torchvision's pool level
    (``max_pool2d(P5, 1, 2)``), whose activation is a bump at a fixed place of
    the network input: level cell values are the share of the cell inside input
    rows ``[256, 288)`` and columns ``[320, 352)`` (centre 271.5, 335.5)."""

    rows, cols = (256, 288), (320, 352)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        mask = x.new_zeros(x.shape[0], 1, *x.shape[-2:])
        mask[..., slice(*self.rows), slice(*self.cols)] = 1
        scale = torch.arange(1, 5, dtype=x.dtype, device=x.device).view(1, 4, 1, 1)
        out = OrderedDict((str(k), F.avg_pool2d(mask, 4 * 2**k, ceil_mode=True) * scale)
                          for k in range(4))
        out["pool"] = F.max_pool2d(out["3"], 1, 2, 0)
        return out


@pytest.mark.parametrize("input_scale", ["native", "detector"])
@pytest.mark.parametrize("grid", ["0", "1", "2", "3", "pool"])
def test_cropped_cam_lands_where_its_features_came_from(grid, input_scale):
    """Exact geometry: the bump's centre, mapped from the network input to the
    image, is where the CAM mapped back to the image peaks, within one pixel."""
    model = IntensityDetector().eval()
    model.backbone = BumpBackbone()
    image = np.zeros((480, 640, 3), np.uint8)
    settings = CamSettings(grid=grid, input_scale=input_scale, sign_policy="mean_activation")
    res = compute_cams(model, [image], settings, CPU)[0]
    cam = cam_to_image(res.cam, res.extent, (480, 640), res.offset)
    # input pixel centre c <-> image pixel centre (c + 0.5) / scale - 0.5
    scale = (800 / 480, 1066 / 640) if input_scale == "detector" else (1.0, 1.0)
    expected = [(sum(r) / 2 - 0.5 + 0.5) / f - 0.5 for r, f in zip(
        (BumpBackbone.rows, BumpBackbone.cols), scale)]
    found = np.argwhere(cam >= 0.5).mean(axis=0)
    assert np.abs(found - expected).max() <= 1.0, (found, expected, res.extent, res.offset)


def test_variants_of_one_forward_equal_their_own_runs():
    """Forward groups: every variant's CAM from shared features is the CAM it gets
    alone; unwanted (variant, image) pairs are skipped; mixed input scales refuse."""
    model = IntensityDetector().eval()
    model.backbone = BumpBackbone()
    images = [square_image(True)[0], square_image(False)[0]]
    variants = [CamSettings(grid="pool", crop_padding=False),
                CamSettings(grid="pool", sign_policy="mean_activation"),
                CamSettings(grid="0", levels=("0", "1"), sign_policy="max_abs")]
    wanted = [[True, True], [False, True], [True, False]]
    together = compute_variant_cams(model, images, variants, CPU, wanted)
    for v, settings in enumerate(variants):
        alone = compute_cams(model, images, settings, CPU)
        for k in range(2):
            if not wanted[v][k]:
                assert together[v][k] is None
                continue
            np.testing.assert_array_equal(together[v][k].cam, alone[k].cam)
            assert together[v][k].sign_flipped == alone[k].sign_flipped
    with pytest.raises(ValueError, match="share input_scale"):
        compute_variant_cams(model, images, [variants[0], CamSettings(input_scale="native")], CPU)


def test_reduced_precision_runs_the_forward_in_that_dtype_and_returns_fp32_levels(resnet,
                                                                                  images):
    seen: list[torch.dtype] = []
    hook = resnet.backbone.body.conv1.register_forward_hook(
        lambda _m, _i, out: seen.append(out.dtype))
    try:
        tensors = [to_tensor(images[0])]
        full, _, _ = fpn_features(resnet, tensors, "detector")
        half, _, _ = fpn_features(resnet, tensors, "detector", "bf16")
    finally:
        hook.remove()
    assert seen == [torch.float32, torch.bfloat16]
    assert all(half[k].dtype == torch.float32 for k in half)
    differs = max(float((half[k] - full[k]).abs().max()) for k in full)
    assert differs > 0  # the setting reached the forward
    with pytest.raises(ValueError, match="precision 'fp8' unknown; allowed: fp32, bf16, fp16"):
        fpn_features(resnet, tensors, "detector", "fp8")
    mixed = [NOTEBOOK, CamSettings(**{**NOTEBOOK.__dict__, "precision": "bf16"})]
    with pytest.raises(ValueError, match="must share input_scale, precision and channels_last"):
        compute_variant_cams(resnet, images[:1], mixed, CPU)


def test_channels_last_gives_the_fp32_cam(resnet, images):
    """Channels-last changes only the memory layout of the same fp32 arithmetic; the
    convolutions may sum in another order, so equal to 1e-4, not bit for bit."""
    plain = compute_cams(resnet, images[:2], NOTEBOOK, CPU)
    last = CamSettings(**{**NOTEBOOK.__dict__, "channels_last": True})
    model = build_detector("fasterrcnn_resnet50_fpn", "none", seed=0).to(
        memory_format=torch.channels_last)
    for a, b in zip(plain, compute_cams(model, images[:2], last, CPU)):
        assert np.abs(a.cam - b.cam).max() <= 1e-4
