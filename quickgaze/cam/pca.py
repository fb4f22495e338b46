"""Top principal component of a fused activation matrix: the exact Gram solver,
subspace iteration for large grids, and grad-cam's own SVD (the sign reference)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from quickgaze.cam.fused_levels import FusedLevels

# Largest grid (cells) on which numpy's dense SVD, the sign reference, is run: a
# (3350 x 1280) float32 SVD takes 1.8 s on one core; the finest grid (54400 cells
# at detector scale) would take minutes per image.
SVD_MAX_CELLS = 4096
NOT_CONVERGED = ("subspace iteration did not converge: the component is the best estimate "
                 "after the iteration limit")


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
