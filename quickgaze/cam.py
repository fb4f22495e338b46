"""EigenCAM on the FPN of a torchvision detector.

Only the detector's transform (or plain normalisation, at native scale) and
its backbone + FPN run: no RPN, no ROI heads. The FPN levels are ``abs()``-ed,
resampled to one grid and concatenated (grad-cam's
``fasterrcnn_reshape_transform``); the CAM is the projection of the centred
activations on their top principal component (Muhammad & Yeasin 2020,
"Eigen-CAM", arXiv:2008.00299), signed by a policy, ReLU-ed and min-max
normalised.

The sign of a principal component is arbitrary; what every map is measured
against is the sign grad-cam's ``EigenCAM`` (and so the user's notebook) gets:
numpy's SVD of the centred float32 activation matrix (policy ``svd``, see
:func:`gradcam_projection`). Each CAM records whether its sign differs from
that reference.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIGN_POLICIES = ("svd", "max_abs", "mean_activation")
# The forward's arithmetic: fp32, or the autocast dtype (benchmarks/precision.py
# measures what bf16 and fp16 change).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                             "fp16": torch.float16}
# Largest grid (cells) on which numpy's dense SVD, the sign reference, is run: a
# (3350 x 1280) float32 SVD takes 1.8 s on one core; the finest grid (54400 cells
# at detector scale) would take minutes per image.
SVD_MAX_CELLS = 4096
NOT_CONVERGED = ("subspace iteration did not converge: the component is the best estimate "
                 "after the iteration limit")
INPUT_SCALES = ("detector", "native")


@dataclass(frozen=True)
class CamSettings:
    """Parameters of one CAM variant.

    levels: FPN keys to fuse, or ``("all",)``.
    grid: FPN key whose spatial size all levels are resampled to, or
        ``coarsest`` / ``finest``.
    input_scale: ``detector`` (the model's resize and pad) or ``native``.
    sign_policy: one of SIGN_POLICIES (``svd``: grad-cam's and the notebook's
        sign, only on grids of at most SVD_MAX_CELLS cells).
    crop_padding: drop the detector's padding from the grid before the PCA
        (the notebook and grad-cam kept it and stretched the padded grid).
    precision: the forward's arithmetic, one of PRECISIONS: ``fp32``, or
        ``bf16`` / ``fp16`` autocast of the transform, backbone and FPN (the
        features are cast back to float32: fusion, PCA and sign run in fp32).
    channels_last: the forward in channels-last memory format (the model is
        converted by the caller, :func:`quickgaze.cam_job.cam_job`).
    """

    levels: tuple[str, ...] = ("all",)
    grid: str = "coarsest"
    input_scale: str = "detector"
    sign_policy: str = "svd"
    crop_padding: bool = True
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.sign_policy == "none":
            raise ValueError("sign_policy 'none' (the solver's arbitrary sign) was removed: "
                             "use 'svd' for the sign grad-cam's EigenCAM and the notebook get")
        if self.sign_policy not in SIGN_POLICIES:
            raise ValueError(
                f"sign_policy '{self.sign_policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}"
            )
        if self.input_scale not in INPUT_SCALES:
            raise ValueError(
                f"input_scale '{self.input_scale}' unknown; allowed: {', '.join(INPUT_SCALES)}"
            )


@dataclass
class CamResult:
    """One image's CAM.

    cam: ``(h, w)`` float32 in [0, 1] on the fusion grid (padding cropped
        when requested).
    extent: ``(rows, cols)`` of the grid, in grid cells, that the image covers
        (fractional when a padded cell is only partly image).
    offset: shift of the cell centres, in cells, from a uniform grid over
        ``extent`` (-0.25 on the pool grid with ``crop_padding``; see
        :func:`level_geometry` and :func:`quickgaze.resampling.cam_resampling`).
    explained_variance: share of the total variance of the fused activations
        carried by the top component.
    sign_flipped: the map's sign is the opposite of the reference sign (policy
        ``svd`` on the same grid and crop: grad-cam's and the notebook's); None
        where the reference cannot be computed (grids above SVD_MAX_CELLS) or is
        undefined (the two solvers found different components: near-tied spectrum).
    converged: the iterative solver met its tolerance (always true for exact solvers).
    warnings: what the record's reader should know (non-convergence, ties); "" if none.
    error: empty, or why this image has no CAM (the other fields are then empty).
    """

    cam: np.ndarray
    extent: tuple[float, float]
    offset: tuple[float, float]
    explained_variance: float
    sign_flipped: bool | None
    converged: bool = True
    warnings: str = ""
    error: str = ""


def to_tensor(image: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """``(H, W, 3)`` uint8 array or tensor -> ``(3, H, W)`` float32 in [0, 1] on ``device``.

    The uint8 image is moved first (4x fewer bytes; asynchronous from pinned memory).
    """
    t = torch.as_tensor(image).to(device or "cpu", non_blocking=True)
    return t.permute(2, 0, 1).float().div_(255.0)


def fpn_features(
    model: nn.Module, images: list[torch.Tensor], input_scale: str, precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]], tuple[int, int]]:
    """Run the transform and backbone + FPN on a batch.

    images: list of ``(3, H, W)`` float tensors in [0, 1], on the model's device.
    precision: ``fp32``, or ``bf16`` / ``fp16`` under ``torch.autocast`` on the
    images' device (the levels come back as float32). channels_last: the batch
    in channels-last memory format (the model should be too).
    Returns the FPN dict of ``(B, C, h_l, w_l)`` float32 tensors, each image's
    size in the network input (before padding) and the padded batch size
    ``(Hp, Wp)``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' unknown; allowed: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    with torch.autocast(images[0].device.type, dtype=dtype, enabled=dtype is not None):
        return _fpn_features(model, images, input_scale, channels_last)


def _fpn_features(model: nn.Module, images: list[torch.Tensor], input_scale: str,
                  channels_last: bool
                  ) -> tuple[OrderedDict[str, torch.Tensor], list[tuple[int, int]],
                             tuple[int, int]]:
    if input_scale == "detector":
        image_list, _ = model.transform(images)
        batch, sizes = image_list.tensors, [tuple(s) for s in image_list.image_sizes]
    else:
        mean = torch.tensor(model.transform.image_mean, device=images[0].device)[:, None, None]
        std = torch.tensor(model.transform.image_std, device=images[0].device)[:, None, None]
        sizes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        hp, wp = max(s[0] for s in sizes), max(s[1] for s in sizes)
        batch = images[0].new_zeros((len(images), 3, hp, wp))
        for i, im in enumerate(images):
            batch[i, :, : im.shape[1], : im.shape[2]] = (im - mean) / std
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    features = OrderedDict((k, v.float().contiguous()) for k, v in model.backbone(batch).items())
    return features, sizes, (int(batch.shape[-2]), int(batch.shape[-1]))


def select_levels(features: OrderedDict[str, torch.Tensor], levels: tuple[str, ...],
                  grid: str) -> tuple[list[str], str]:
    """Resolve ``levels`` and ``grid`` against the keys the backbone returned."""
    keys = list(features.keys())
    chosen = keys if levels == ("all",) else list(levels)
    unknown = [k for k in chosen if k not in features]
    if unknown or not chosen:
        raise ValueError(f"FPN levels {unknown or chosen} not available; this model has {keys}")
    if grid in ("coarsest", "finest"):
        by_area = sorted(keys, key=lambda k: features[k].shape[-2] * features[k].shape[-1])
        grid = by_area[0] if grid == "coarsest" else by_area[-1]
    if grid not in features:
        raise ValueError(f"FPN grid '{grid}' not available; this model has {keys}")
    return chosen, grid


def position_matrix(n_in: int, src: torch.Tensor) -> torch.Tensor:
    """``(len(src), n_in)`` float64 weights of 1-D linear interpolation: output
    ``j`` reads input coordinate ``src[j]`` (clamped to ``[0, n_in - 1]``)
    between inputs ``floor(src)`` and the next. Rows sum to 1."""
    src = src.double().clamp(0, n_in - 1)
    i0 = src.floor().long().clamp_max(n_in - 1)
    i1 = (i0 + 1).clamp_max(n_in - 1)
    lam = src - i0
    weights = torch.zeros(len(src), n_in, dtype=torch.float64)
    rows = torch.arange(len(src))
    weights.index_put_((rows, i0), 1 - lam, accumulate=True)
    weights.index_put_((rows, i1), lam, accumulate=True)
    return weights


def interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``(n_out, n_in)`` float64 weights of 1-D bilinear resampling as
    ``F.interpolate`` (``align_corners=False``, no antialias) applies them:
    output ``j`` reads ``src = max(0, (j + 0.5) * n_in / n_out - 0.5)``."""
    return position_matrix(
        n_in, ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5))


# torchvision's LastLevelMaxPool adds this level: max_pool2d(kernel 1, stride 2) of
# the last one, so its cell j is the last level's cell 2j.
POOL_KEY = "pool"


def level_geometry(key: str, n: int, padded: int) -> tuple[int, float]:
    """Stride and cell-centre shift of an FPN level along one axis, in input pixels.

    A level of stride ``s`` (a power of two) computed from a ``padded``-pixel
    input has ``ceil(padded / s)`` cells; the stride is the smallest power of
    two that gives the level's ``n`` cells (a ValueError when none does). Cell
    ``i`` covers input pixels ``[s i, s (i + 1))``, centre ``s i + (s - 1) / 2
    + shift`` in pixel-index coordinates, with ``shift`` 0 except for the
    :data:`POOL_KEY` level: its cell ``j`` is its parent's cell ``2 j`` (stride
    ``s / 2``), so it covers ``[s j, s j + s / 2)`` and ``shift = -s / 4``
    (13 pool rows of an 800-row input span 832 rows, of which the image covers
    12.5 cells, not 13).
    """
    for k in range(12):
        stride = 2**k
        if -(-padded // stride) == n:
            return stride, (-stride / 4 if key == POOL_KEY else 0.0)
    raise ValueError(f"FPN level '{key}' has {n} cells along an axis of {padded} input "
                     "pixels: no power-of-two stride gives that, so its geometry is unknown")


@dataclass(frozen=True)
class GridGeometry:
    """Where one image's fusion grid lies, and how each level is resampled onto it.

    extent: ``(rows, cols)`` of grid cells the image covers; offset: shift of
    the cell centres in cells (see :func:`level_geometry`); crop: the cells
    kept; matrices: per level, None (the grid level itself) or its ``(gh, h_m)``
    and ``(gw, w_m)`` resampling matrices (float64, before the crop); all None
    when the levels are resampled as ``F.interpolate`` does (no crop: grad-cam).
    """

    extent: tuple[float, float]
    offset: tuple[float, float]
    crop: tuple[int, int]
    matrices: list[tuple[torch.Tensor, torch.Tensor] | None] | None


def grid_geometry(shapes: dict[str, tuple[int, int]], grid: str, size: tuple[int, int],
                  padded: tuple[int, int], crop_padding: bool) -> GridGeometry:
    """The :class:`GridGeometry` of levels of spatial sizes ``shapes`` (key ->
    ``(h_m, w_m)``, in fusion order) fused on level ``grid``; ``size`` is the
    image in the network input, ``padded`` the padded batch.

    Without ``crop_padding``, grad-cam's: every level resampled by
    ``F.interpolate`` to the grid, which is stretched over the image. With it,
    exact: the grid's cells lie where :func:`level_geometry` says; each level is
    sampled at the grid cells' centres; the image covers ``size / stride`` cells.
    """
    gsize = shapes[grid]
    if not crop_padding:
        return GridGeometry((float(gsize[0]), float(gsize[1])), (0.0, 0.0), gsize, None)
    extent, offset, crop, centres = [], [], [], []
    for axis in (0, 1):
        stride, shift = level_geometry(grid, gsize[axis], padded[axis])
        extent.append(size[axis] / stride)
        offset.append(shift / stride)
        crop.append(min(gsize[axis], int(np.ceil(extent[-1] - 1e-9))))
        centres.append(torch.arange(gsize[axis], dtype=torch.float64) * stride
                       + (stride - 1) / 2 + shift)
    matrices = []
    for key, shape in shapes.items():
        if key == grid:
            matrices.append(None)
            continue
        pair = []
        for axis in (0, 1):
            stride, shift = level_geometry(key, shape[axis], padded[axis])
            pair.append(position_matrix(shape[axis],
                                        (centres[axis] - (stride - 1) / 2 - shift) / stride))
        matrices.append(tuple(pair))
    return GridGeometry(tuple(extent), tuple(offset), tuple(crop), matrices)


def _support(weights: torch.Tensor) -> torch.Tensor:
    """Indices of the inputs that a resampling matrix reads (sorted)."""
    return (weights != 0).any(dim=0).nonzero()[:, 0]


def _take(x: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``x.index_select(dim, index)``, as a view when ``index`` is a range."""
    if int(index[-1] - index[0]) + 1 == len(index):
        return x.narrow(dim, int(index[0]), len(index))
    return x.index_select(dim, index.to(x.device))


class Resampling1d:
    """A bilinear resampling matrix (``(n_out, n_in)``, at most two adjacent
    inputs per output) applied by gathering, and its adjoint by scattering:
    ``O(n_out)`` work per line instead of a dense product."""

    def __init__(self, weights: torch.Tensor) -> None:
        nonzero = weights != 0
        idx = torch.arange(weights.shape[1], device=weights.device).expand_as(weights)
        self.i0 = torch.where(nonzero, idx, weights.shape[1]).amin(dim=1)
        self.i1 = torch.where(nonzero, idx, -1).amax(dim=1)
        rows = torch.arange(weights.shape[0], device=weights.device)
        self.w0 = weights[rows, self.i0]
        self.w1 = torch.where(self.i1 != self.i0, weights[rows, self.i1], 0)
        self.n_in = weights.shape[1]

    def to(self, x: torch.Tensor) -> Resampling1d:
        for name in ("i0", "i1"):
            setattr(self, name, getattr(self, name).to(x.device))
        for name in ("w0", "w1"):
            setattr(self, name, getattr(self, name).to(x))
        return self

    def apply(self, z: torch.Tensor, dim: int) -> torch.Tensor:
        shape = [1] * z.dim()
        shape[dim] = -1
        return (z.index_select(dim, self.i0) * self.w0.view(shape)
                + z.index_select(dim, self.i1) * self.w1.view(shape))

    def adjoint(self, y: torch.Tensor, dim: int) -> torch.Tensor:
        shape = [1] * y.dim()
        shape[dim] = -1
        size = list(y.shape)
        size[dim] = self.n_in
        out = y.new_zeros(size)
        out.index_add_(dim, self.i0, y * self.w0.view(shape))
        return out.index_add_(dim, self.i1, y * self.w1.view(shape))


class FusedLevels:
    """The fused activation matrix ``A`` (``n = rows * cols`` positions x ``C``
    channels) of one image, held as its FPN levels.

    Column block ``m`` of ``A`` is ``vec(P_h |X_m| P_w^T)`` per channel: level
    ``m`` (``(C_m, h_m, w_m)``) ``abs()``-ed (unless ``absolute`` is false),
    bilinearly resampled to the ``grid`` size (``F.interpolate``, as grad-cam's
    ``fasterrcnn_reshape_transform`` does for all levels and the pool grid) and
    cropped to its first ``rows x cols`` cells (``matrices``: other resampling
    matrices per level, see :class:`GridGeometry`). ``A`` itself (``54400 x 1280``
    at the finest grid of an 800x1088 input) is only formed by :meth:`dense`;
    :meth:`matmul` and :meth:`rmatmul` use each level at its own size, and
    only the rows and columns of it that the resampling reads (a few of the
    finest level for the pool grid). Bilinear rows sum to 1, so subtracting
    the column means before the resampling centres ``A`` exactly
    (:meth:`centred`).
    """

    def __init__(self, levels: list[torch.Tensor], grid: tuple[int, int],
                 crop: tuple[int, int], absolute: bool = True,
                 matrices: list[tuple[torch.Tensor, torch.Tensor] | None] | None = None
                 ) -> None:
        self.grid = grid
        self.rows, self.cols = crop
        self.n = self.rows * self.cols
        self.widths = [int(x.shape[0]) for x in levels]
        self.n_channels = sum(self.widths)
        # Per level: the part used, (rows, h) and (cols, w) weights (None: the grid level).
        self.levels, self.ph, self.pw = [], [], []
        for m, x in enumerate(levels):
            given = None if matrices is None else matrices[m]
            if given is None and (matrices is not None or tuple(x.shape[-2:]) == tuple(grid)):
                ph = pw = None
                x = x[:, : self.rows, : self.cols]
            else:
                ph, pw = given or (interpolation_matrix(x.shape[-2], grid[0]),
                                   interpolation_matrix(x.shape[-1], grid[1]))
                ph, pw = ph[: self.rows], pw[: self.cols]
                # Downsampling reads a few rows and columns: keep only those.
                rs, cs = _support(ph), _support(pw)
                x = _take(_take(x, 1, rs), 2, cs)
                ph, pw = ph[:, rs].to(x), pw[:, cs].to(x)
            self.levels.append(x.abs() if absolute else x)
            self.ph.append(ph)
            self.pw.append(pw)
        self._sparse = [None if ph is None else (Resampling1d(ph).to(x), Resampling1d(pw).to(x))
                        for x, ph, pw in zip(self.levels, self.ph, self.pw)]

    def _resample(self, m: int, z: torch.Tensor) -> torch.Tensor:
        """``(k, h_m, w_m)`` -> ``(k, rows, cols)`` on the grid."""
        if self.ph[m] is None:
            return z
        rows, cols = self._sparse[m]
        return cols.apply(rows.apply(z, -2), -1)

    def _resample_adjoint(self, m: int, y: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`_resample`: ``(k, rows, cols)`` -> ``(k, h_m, w_m)``."""
        if self.ph[m] is None:
            return y
        rows, cols = self._sparse[m]
        return rows.adjoint(cols.adjoint(y, -1), -2)

    def matmul(self, q: torch.Tensor) -> torch.Tensor:
        """``(A q)^T``: ``q`` is ``(C, k)``; returns ``(k, n)``."""
        out = None
        for m, (x, qm) in enumerate(zip(self.levels, q.split(self.widths))):
            z = (qm.T @ x.flatten(1)).reshape(q.shape[1], *x.shape[-2:])
            z = self._resample(m, z)
            out = z if out is None else out + z
        return out.reshape(q.shape[1], self.n)

    def rmatmul(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y^T``: ``y`` is ``(k, n)``; returns ``(C, k)``."""
        y = y.reshape(-1, self.rows, self.cols)
        return torch.cat([x.flatten(1) @ self._resample_adjoint(m, y).flatten(1).T
                          for m, x in enumerate(self.levels)])

    def column_means(self) -> torch.Tensor:
        """``(C,)`` mean of each column of ``A``."""
        ones = self.levels[0].new_ones(1, self.n)
        return self.rmatmul(ones)[:, 0] / self.n

    def centred(self) -> FusedLevels:
        """The same operator for ``A`` minus its column means (new level tensors)."""
        means = self.column_means().split(self.widths)
        out = FusedLevels.__new__(FusedLevels)
        out.__dict__.update(self.__dict__)
        out.levels = [x - mu[:, None, None] for x, mu in zip(self.levels, means)]
        return out

    def squared_norm(self) -> float:
        """``||A||_F^2`` (float64 accumulation) without resampling large levels.

        For an upsampled level, ``sum_c ||P_h X_c P_w^T||^2 = sum_c <X_c, G_h X_c G_w>``
        with ``G = P^T P``. Each row of a bilinear ``P`` touches two adjacent
        inputs, so ``G`` is tridiagonal and the sum is five weighted products
        of the level with its shifts (the other four follow by symmetry).
        """
        total = 0.0
        for m, x in enumerate(self.levels):
            h, w = x.shape[-2:]
            if self.ph[m] is None or self.n <= h * w:
                norms = torch.linalg.vector_norm(self._resample(m, x).flatten(1), dim=1)
                total += float(norms.double().square().sum())
                continue
            gh = self.ph[m].T.double() @ self.ph[m].double()
            gw = self.pw[m].T.double() @ self.pw[m].double()
            for di, dj, mult in ((0, 0, 1), (0, 1, 2), (1, 0, 2), (1, 1, 2), (1, -1, 2)):
                ra, rb = slice(0, h - di), slice(di, h)
                ca, cb = (slice(0, w - dj), slice(dj, w)) if dj >= 0 else (slice(1, w),
                                                                           slice(0, w - 1))
                prod = (x[:, ra, ca] * x[:, rb, cb]).sum(dim=0).double()
                weight = torch.diagonal(gh, di)[:, None] * torch.diagonal(gw, dj)[None, :]
                total += mult * float((weight.to(prod.device) * prod).sum())
        return total

    def sample_rows(self, step: int) -> torch.Tensor:
        """Rows of ``A`` at every ``step``-th grid row and column: ``(n_s, C)``."""
        r = torch.arange(0, self.rows, step)
        c = torch.arange(0, self.cols, step)
        parts = []
        for x, ph, pw in zip(self.levels, self.ph, self.pw):
            if ph is None:
                parts.append(_take(_take(x, 1, r), 2, c))
            else:
                rows, cols = Resampling1d(ph[r]).to(x), Resampling1d(pw[c]).to(x)
                parts.append(cols.apply(rows.apply(x, -2), -1))
        return torch.cat(parts).flatten(1).T

    def dense(self) -> torch.Tensor:
        """``A`` as an ``(n, C)`` tensor."""
        return torch.cat([self._resample(m, x) for m, x in enumerate(self.levels)]
                         ).flatten(1).T


@contextmanager
def single_thread() -> Iterator[None]:
    """Run small LAPACK calls (eigh, QR of a few hundred rows) on one thread.

    Multithreaded MKL spends more on synchronisation than on such work: an
    eigh of 221 x 221 took 7 ms on one thread and 50 ms (median, up to 1.6 s)
    on two threads of a loaded 2-core machine. The thread count is restored.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# Up to this many rows or columns, the exact Gram eigendecomposition is cheap.
GRAM_MAX = 512


def top_principal_projection(acts: torch.Tensor | FusedLevels, method: str = "auto",
                             tol: float = 1e-5, max_iter: int = 500
                             ) -> tuple[torch.Tensor, float, bool]:
    """Projection of centred activations on their top principal component.

    acts: ``(C, h, w)`` or a :class:`FusedLevels`. With ``A`` the ``(n, C)``
    activation matrix centred per channel (column) and ``v`` its top right
    singular vector, returns ``A v`` as ``(h, w)`` float64 and the
    explained-variance ratio ``s_1^2 / sum_i s_i^2 = s_1^2 / ||A||_F^2``, and
    whether the solver converged (``subspace`` only can fail to, after
    ``max_iter`` steps; its result is then the best estimate so far).
    The sign of ``v`` is the solver's (arbitrary): :func:`apply_sign_policy` fixes it.

    method ``gram`` (``auto`` when ``min(n, C) <= GRAM_MAX``): exact eigh of the
    smaller Gram matrix of the dense ``A`` in float64. ``subspace``: block
    subspace iteration (8 vectors started from a row sample, Rayleigh-Ritz each
    step) on the operator, which never forms ``A``, ``A^T A`` or ``U``; it stops when the
    residual ``||A^T A v - s_1^2 v|| / s_1^2 < tol``, so the angle to the exact
    vector is at most ``tol / (1 - s_2^2 / s_1^2)``.
    """
    if isinstance(acts, torch.Tensor):
        c, h, w = acts.shape
        acts = FusedLevels([acts], (h, w), (h, w), absolute=False)
    n, c = acts.n, acts.n_channels
    if method == "auto":
        method = "gram" if min(n, c) <= GRAM_MAX else "subspace"
    if method == "gram":
        a = acts.dense().double()
        a = a - a.mean(dim=0, keepdim=True)
        total = float(a.square().sum())
        if not np.isfinite(total):
            return torch.full((acts.rows, acts.cols), float("nan")), float("nan"), True
        gram = a @ a.T if n <= c else a.T @ a
        with single_thread():
            vals, vecs = torch.linalg.eigh(gram)
        proj = vecs[:, -1] * vals[-1].clamp_min(0).sqrt() if n <= c else a @ vecs[:, -1]
        lam, converged = float(vals[-1]), True
    elif method == "subspace":
        centred = acts.centred()
        total = centred.squared_norm()
        if not np.isfinite(total):
            return torch.full((acts.rows, acts.cols), float("nan")), float("nan"), True
        proj, lam, converged = _subspace_top(centred, tol, max_iter)
    else:
        raise ValueError(f"method '{method}' unknown; allowed: auto, gram, subspace")
    ratio = lam / total if total > 0 else 0.0
    return proj.reshape(acts.rows, acts.cols), ratio, converged


def _subspace_top(op: FusedLevels, tol: float, max_iter: int,
                  block: int = 8) -> tuple[torch.Tensor, float, bool]:
    """Top singular value squared and ``A v`` of a centred operator by block
    subspace iteration; ``(n,)`` float64 projection, ``s_1^2`` and whether the
    residual met ``tol`` within ``max_iter`` steps."""
    k = min(block, op.n_channels, op.n)
    dtype = op.levels[0].dtype
    # Start from the top right singular vectors of about 256 evenly spread rows:
    # close to the answer, so two or three steps usually meet the tolerance.
    sample = op.sample_rows(max(1, int((op.n / 256) ** 0.5))).double().cpu()
    with single_thread():
        vals, vecs = torch.linalg.eigh(sample @ sample.T)
        start = sample.T @ vecs[:, -k:]
        if len(vals) < k or not bool(torch.isfinite(start).all()):
            gen = torch.Generator(device="cpu").manual_seed(0)
            start = torch.randn(op.n_channels, k, generator=gen, dtype=torch.float64)
        q, _ = torch.linalg.qr(start)
    for _ in range(max_iter):
        y = op.matmul(q.to(op.levels[0].device, dtype)).double()   # (k, n) = (A q)^T
        # Rayleigh-Ritz on span(q), in float64.
        with single_thread():
            vals, vecs = torch.linalg.eigh((y @ y.T).cpu())
        lam, u = vals[-1], vecs[:, -1]
        if lam <= 0:
            return y[0] * 0.0, 0.0, True
        z = op.rmatmul(y.to(dtype)).double().cpu()                  # A^T A q
        v = q @ u
        residual = float((z @ u - lam * v).norm() / lam)
        if residual < tol:
            break
        with single_thread():
            q, _ = torch.linalg.qr(z @ vecs.flip(1))
    return u.to(y.device) @ y, float(lam), residual < tol


def svd_projection(a: np.ndarray) -> tuple[np.ndarray, float]:
    """grad-cam's ``get_2d_projection`` of an ``(n, C)`` float32 activation matrix:
    centred per column in numpy, projected on the first right singular vector of
    ``np.linalg.svd``. Returns the ``(n,)`` float32 projection and the
    explained-variance ratio ``s_1^2 / sum s_i^2``.

    grad-cam calls the SVD with ``full_matrices=True``; this uses the thin SVD.
    LAPACK's gesdd computes the first row of ``VT`` the same way in both modes
    (the modes differ in how many rows of the orthogonal factor they expand), so
    the sign, which is all that matters here, is the same; the exactness test
    compares with grad-cam itself.
    """
    a = a - a.mean(axis=0)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    total = float(np.square(s.astype(np.float64)).sum())
    return a @ vt[0, :], (float(s[0]) ** 2 / total if total > 0 else 0.0)


def gradcam_projection(levels: list[torch.Tensor], grid: tuple[int, int]
                       ) -> tuple[np.ndarray, float]:
    """grad-cam's EigenCAM projection of one image, computed as grad-cam computes it.

    levels: the image's FPN levels ``(C_m, h_m, w_m)`` as the backbone returned
    them. As ``fasterrcnn_reshape_transform``: each level ``abs()``-ed and
    resampled to ``grid`` by ``F.interpolate(mode="bilinear")`` on its device,
    concatenated; then :func:`svd_projection`. Returns the ``grid``-shaped
    float32 projection and the explained-variance ratio.
    """
    fused = torch.cat([F.interpolate(x.abs()[None], size=grid, mode="bilinear")[0]
                       for x in levels])
    proj, ratio = svd_projection(fused.reshape(fused.shape[0], -1).cpu().numpy().T)
    return proj.reshape(grid), ratio


def sign_against(proj: torch.Tensor, reference: np.ndarray,
                 min_cosine: float = 0.5) -> bool | None:
    """Whether ``proj`` has the opposite sign to ``reference`` (both ``(h, w)``
    projections of the same activations): the sign of their inner product.
    None when ``|cos| < min_cosine``: the two are not the same component (a
    near-tied spectrum), so no sign relation is defined."""
    p = proj.double().cpu().numpy().ravel()
    r = reference.astype(np.float64).ravel()
    norm = float(np.linalg.norm(p) * np.linalg.norm(r))
    if norm == 0 or abs(float(p @ r)) < min_cosine * norm:
        return None
    return bool(p @ r < 0)


def apply_sign_policy(proj: torch.Tensor, mean_map: torch.Tensor,
                      policy: str) -> tuple[torch.Tensor, bool]:
    """Choose the sign of a principal-component projection.

    proj: ``(h, w)``; mean_map: ``(h, w)`` channel-mean of the fused activations.
    - ``svd``: handled by :func:`image_cam` (grad-cam's computation), not here.
    - ``max_abs``: flip when ``|min| > |max|`` (Seg-Eigen-CAM, Chung & Ying 2025,
      doi:10.3390/app15137562, Eq. 13; grad-cam 1.5.7
      ``get_2d_projection_with_sign_correction``).
    - ``mean_activation``: the sign whose projection correlates positively
      with the channel-mean activation map (no flip when they are uncorrelated).
    Returns the signed projection and whether it was flipped.
    """
    if policy == "max_abs":
        flip = bool(proj.min().abs() > proj.max().abs())
    elif policy == "mean_activation":
        m = mean_map.double()
        p = proj.double()
        flip = bool(((p - p.mean()) * (m - m.mean())).sum() < 0)
    else:
        raise ValueError(f"sign_policy '{policy}' unknown; allowed: {', '.join(SIGN_POLICIES)}")
    return (-proj if flip else proj), flip


def minmax(x: torch.Tensor) -> torch.Tensor:
    """``(x - min) / (max - min + 1e-7)``, grad-cam's ``scale_cam_image`` normalisation
    (the absolute 1e-7 keeps the maximum below 1 when ``x`` is tiny, e.g. random weights)."""
    x = x - x.min()
    return x / (x.max() + 1e-7)


def cam_from_projection(proj: torch.Tensor) -> torch.Tensor:
    """ReLU then min-max: the CAM of a signed projection, as grad-cam does."""
    return minmax(proj.clamp_min(0))


@torch.inference_mode()
def compute_cams(model: nn.Module, images: list[np.ndarray] | list[torch.Tensor],
                 settings: CamSettings, device: torch.device,
                 method: str = "auto") -> list[CamResult]:
    """EigenCAM of a batch of ``(H, W, 3)`` uint8 RGB images (any sizes): one
    variant of :func:`compute_variant_cams`."""
    return compute_variant_cams(model, images, [settings], device, method=method)[0]


@torch.inference_mode()
def compute_variant_cams(model: nn.Module, images: list[np.ndarray] | list[torch.Tensor],
                         variants: list[CamSettings], device: torch.device,
                         wanted: list[list[bool]] | None = None,
                         method: str = "auto") -> list[list[CamResult | None]]:
    """EigenCAMs of several variants of a batch of ``(H, W, 3)`` uint8 RGB images
    from one forward.

    One forward of the transform and backbone + FPN for the whole batch (the
    variants must share ``input_scale``, ``precision`` and ``channels_last``:
    a ValueError otherwise), then each
    variant's fusion, PCA and sign policy per image on the shared features,
    without forming the fused activation matrix when it is large (see
    :func:`top_principal_projection`; ``method`` is passed on). ``wanted[v][k]``
    false skips variant ``v`` of image ``k`` (its result is None). Returns one
    list per variant, in image order. An image whose activations are not
    finite gets a result with ``error`` set.
    """
    forwards = {(s.input_scale, s.precision, s.channels_last) for s in variants}
    if len(forwards) != 1:
        raise ValueError(f"variants of one forward must share input_scale, precision and "
                         f"channels_last; got {sorted(forwards)}")
    tensors = [to_tensor(im, device) for im in images]
    first = variants[0]
    features, sizes, padded = fpn_features(model, tensors, first.input_scale, first.precision,
                                           first.channels_last)
    out: list[list[CamResult | None]] = []
    # Many small operations per image: one thread is faster, and far faster on a
    # loaded machine (0.3 s against 0.5-2 s per image at the finest grid on 2 cores).
    with single_thread():
        for v, settings in enumerate(variants):
            levels, grid = select_levels(features, settings.levels, settings.grid)
            out.append([
                image_cam(OrderedDict((k, features[k][i]) for k in levels), grid, size, padded,
                          settings, method) if wanted is None or wanted[v][i] else None
                for i, size in enumerate(sizes)])
    return out


def image_cam(features: OrderedDict[str, torch.Tensor], grid: str, size: tuple[int, int],
              padded: tuple[int, int], settings: CamSettings, method: str = "auto"
              ) -> CamResult:
    """The CAM of one image from its FPN levels (key -> ``(C_m, h_m, w_m)``, as the
    backbone returned them, the levels to fuse), fused on level ``grid``; ``size``
    is the image in the network input, ``padded`` the padded batch.

    Policy ``svd``: grad-cam's projection of the variant's matrix (as grad-cam
    builds it without ``crop_padding``, :func:`gradcam_projection`; the
    engine's exact-geometry matrix with it); a grid of more than SVD_MAX_CELLS
    cells is a ValueError (a setting that cannot work, not a bad image). Other
    policies: the engine's solver (``method``), signed by the policy, and
    ``sign_flipped`` against that reference where the grid allows it.
    """
    levels = list(features.values())
    geom = grid_geometry({k: tuple(x.shape[-2:]) for k, x in features.items()}, grid, size,
                         padded, settings.crop_padding)
    crop, extent = geom.crop, geom.extent
    n_cells = crop[0] * crop[1]
    if settings.sign_policy == "svd" and n_cells > SVD_MAX_CELLS:
        raise ValueError(f"sign_policy 'svd' needs numpy's dense SVD, feasible up to "
                         f"{SVD_MAX_CELLS} grid cells; this grid has {crop[0]}x{crop[1]} = "
                         f"{n_cells}: use a coarser grid or sign_policy max_abs / mean_activation")
    if not all(bool(torch.isfinite(x).all()) for x in levels):
        return CamResult(np.zeros((0, 0), np.float32), (0.0, 0.0), (0.0, 0.0), float("nan"),
                         None, error="non-finite activations (NaN or Inf) in the FPN")
    acts = FusedLevels(levels, tuple(features[grid].shape[-2:]), crop,
                       matrices=geom.matrices)
    reference = None
    if n_cells <= SVD_MAX_CELLS and geom.matrices is None:
        reference = gradcam_projection(levels, tuple(features[grid].shape[-2:]))
    elif n_cells <= SVD_MAX_CELLS:
        proj, ratio = svd_projection(acts.dense().float().cpu().numpy())
        reference = proj.reshape(crop), ratio
    if settings.sign_policy == "svd":
        cam = cam_from_projection(torch.from_numpy(reference[0]))
        return CamResult(cam.float().numpy(), extent, geom.offset, reference[1], False)
    proj, ratio, converged = top_principal_projection(acts, method)
    notes = [] if converged else [NOT_CONVERGED]
    mean_map = None
    if settings.sign_policy == "mean_activation":
        ones = acts.levels[0].new_full((acts.n_channels, 1), 1.0 / acts.n_channels)
        mean_map = acts.matmul(ones).reshape(crop)
    proj, _ = apply_sign_policy(proj, mean_map, settings.sign_policy)
    flipped = None if reference is None else sign_against(proj, reference[0])
    if reference is not None and flipped is None:
        notes.append("top principal components nearly tied: no sign relative to grad-cam's")
    return CamResult(cam_from_projection(proj).float().cpu().numpy(), extent, geom.offset, ratio,
                     flipped, converged, "; ".join(notes))

