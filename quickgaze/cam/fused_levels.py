"""The fused-level operator: FPN levels resampled to one grid and concatenated,
as a linear operator (never formed when large), with the exact geometry of
each level's cells in the network input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


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
    image in the network input, ``padded`` the padded network input (the image's own, see :func:`quickgaze.cam.fpn.fpn_feature_groups`).

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
