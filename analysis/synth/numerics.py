"""Arithmetic whose last bits do not depend on the BLAS kernel or the SIMD path.

A discrete decision of the generator (a rint, a ranking, a solver's accept/reject)
must see the same floats on every machine. Matrix products through BLAS, LAPACK
solves and numpy's SIMD ``exp`` differ in their last bits between kernels (measured:
OpenBLAS Prescott vs SkylakeX, numpy with and without AVX-512), while elementwise
IEEE operations, ``np.sum`` / ``np.einsum`` loops and scipy's special functions do
not. The functions below use only the latter; :func:`snap` rounds a continuous result
onto a grid far coarser than any remaining noise before a decision.
"""

from __future__ import annotations

import numpy as np
from scipy import special

LOG2E = 1.4426950408889634  # 1 / ln 2


def exp(x):
    """``e**x`` through scipy's ``exp2`` (no SIMD dispatch; ~1 ulp of ``np.exp``)."""
    return special.exp2(np.asarray(x, dtype=float) * LOG2E)


LN2 = 0.6931471805599453


def log(x):
    """Natural log from IEEE operations only (numpy's SIMD ``log`` varies by CPU).

    ``x = m 2**e`` with ``m`` in [sqrt(1/2), sqrt(2)) (``np.frexp``, exact), then
    ``log m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, by its series (|s| < 0.172:
    13 terms reach 1e-17). Within a few ulp of ``np.log``.
    """
    x = np.asarray(x, dtype=float)
    m, e = np.frexp(x)
    low = m < 0.7071067811865476
    m = np.where(low, 2 * m, m)
    e = np.where(low, e - 1, e).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (m - 1) / (m + 1)
    s2 = s * s
    acc = np.full_like(s, 1.0 / 27)
    for k in range(25, 0, -2):
        acc = acc * s2 + 1.0 / k
    out = e * LN2 + 2 * s * acc
    return np.where(x > 0, out, np.where(x == 0, -np.inf, np.nan))


def matmul(a, b):
    """``a @ b`` by ``np.einsum`` (fixed summation order, no BLAS)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim == 1 and b.ndim == 1:
        return np.einsum("i,i->", a, b)
    if a.ndim == 1:
        return np.einsum("i,ij->j", a, b)
    if b.ndim == 1:
        return np.einsum("ij,j->i", a, b)
    return np.einsum("ij,jk->ik", a, b)


def solve_spd(a, b):
    """Solve ``a x = b``, ``a`` symmetric positive definite (Cholesky, no LAPACK)."""
    a = np.array(a, dtype=float)
    n = len(a)
    low = np.zeros_like(a)
    for j in range(n):
        d = a[j, j] - np.sum(low[j, :j] ** 2)
        if not d > 0:
            raise np.linalg.LinAlgError("matrix is not positive definite")
        low[j, j] = np.sqrt(d)
        low[j + 1 :, j] = (
            a[j + 1 :, j] - np.sum(low[j + 1 :, :j] * low[j, :j], axis=1)
        ) / low[j, j]
    y = np.array(b, dtype=float)  # one right-hand side per column
    col = (slice(None),) + (None,) * (y.ndim - 1)
    for j in range(n):
        y[j] = (y[j] - np.sum(low[j, :j][col] * y[:j], axis=0)) / low[j, j]
    for j in range(n - 1, -1, -1):
        y[j] = (y[j] - np.sum(low[j + 1 :, j][col] * y[j + 1 :], axis=0)) / low[j, j]
    return y


def inv_spd(a):
    """Inverse of a symmetric positive definite ``a`` by :func:`solve_spd`."""
    return solve_spd(a, np.eye(len(a)))


def snap(values, digits: int = 8):
    """``values`` rounded to ``digits`` significant digits (a relative grid)."""
    v = np.asarray(values, dtype=float)
    mag = np.abs(np.where(v == 0, 1.0, v))
    step = 10.0 ** (np.floor(np.log10(mag)) + 1 - digits)
    return np.round(v / step) * step


def least_squares(fun_jac, x0, scale, max_iter: int = 200, rtol: float = 1e-12):
    """Levenberg-Marquardt on ``fun_jac(x) -> (residuals, Jacobian)``, reproducibly.

    Normal equations by :func:`matmul`, steps by :func:`solve_spd`, damping scaled by
    ``1 / scale**2``; stops when an accepted step lowers the cost by less than
    ``rtol`` (relative), when no damping lowers it, or after ``max_iter`` steps. Every
    comparison sees bit-identical floats on every machine, so where it stops is too.
    Returns the parameters.
    """
    x = np.array(x0, dtype=float)
    d = 1.0 / np.asarray(scale, dtype=float) ** 2 * np.ones(len(x))

    def trial(lam, x, a, g, lam_scale):
        try:
            step = -solve_spd(a + lam * lam_scale * np.diag(d), g)
        except np.linalg.LinAlgError:
            return np.inf, None
        rn, jn = fun_jac(x + step)
        return np.sum(rn * rn), (step, rn, jn)

    r, jac = fun_jac(x)
    cost = np.sum(r * r)
    lam = 1e-3
    for _ in range(max_iter):
        a = matmul(jac.T, jac)
        g = matmul(jac.T, r)
        lam_scale = np.sum(np.diag(a) / d) / len(x)
        accepted = damped_step(
            trial, lam, cost, x, a, g, lam_scale, tries=40, floor=1e-15
        )
        if accepted is None:
            return x
        new, (step, r, jac), lam = accepted
        x = x + step
        gain, cost = cost - new, new
        if gain <= rtol * cost:
            break
    return x


def damped_step(trial, lam, current, *state, tries: int = 30, floor: float = 1e-12):
    """Levenberg-Marquardt damping, shared by every damped solver of the generator.

    Tries ``trial(lam, *state)``, then with 4 lam, 16 lam, ... (``tries`` tries) until
    its merit (first of the pair it returns) is finite and below ``current``. Returns
    (merit, the trial's second item, the next lam: a quarter of the accepted one, at
    least ``floor``), or None if every try failed.
    """
    for _ in range(tries):
        merit, moved = trial(lam, *state)
        if np.isfinite(merit) and merit < current:
            return merit, moved, max(lam / 4, floor)
        lam *= 4
    return None
