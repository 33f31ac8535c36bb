"""Fast numpy fits used inside the calibration loops (probit, Gamma-log GLM).

Support module of the participation, covariate-exchange and GLM steps (not a step).

The calibration refits the paper's models hundreds of times, so it cannot go through
``analysis.twopart`` (statsmodels, formula parsing). These are the same estimators on
a prepared design matrix: probit ML by Newton (OIM), Gamma GLM with log link by Newton
on the observed information with Pearson dispersion (Stata ``glm`` default), and the
column-wise (derivative) marginal effects of ``analysis.paper.models``. The final frame
is
always checked with the pipeline itself (``tests/test_calibration.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from analysis.synth import numerics

SQRT2 = np.sqrt(2.0)


def norm_cdf(z):
    """Standard normal CDF via ``erfc`` (no scipy.stats overhead in the loops).

    Returns
    -------
    ndarray or float
        Phi(z), same shape as ``z``.
    """
    return 0.5 * special.erfc(-z / SQRT2)


def norm_pdf(z):
    """Standard normal density, inlined for speed in the calibration loops.

    Returns
    -------
    ndarray or float
        phi(z), same shape as ``z``.
    """
    return numerics.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def mills(y, eta):
    """Probit score in eta, d log L / d eta (stable in the tails).

    Returns
    -------
    ndarray
        phi/Phi where y = 1 and -phi/(1-Phi) where y = 0.
    """
    s = np.where(y == 1, 1.0, -1.0)
    z = s * eta
    # phi(z)/Phi(z) via the scaled complementary error function (no underflow)
    lam = np.sqrt(2 / np.pi) / special.erfcx(-z / SQRT2)
    return s * lam


@dataclass
class ProbitFit:
    """Result of :func:`probit`: coefficients, index, information, convergence flag."""

    b: np.ndarray
    eta: np.ndarray
    info: np.ndarray  # observed information
    converged: bool


def probit(x: np.ndarray, y: np.ndarray, b0: np.ndarray | None = None) -> ProbitFit:
    """Probit ML by Newton on the observed information."""
    b = np.zeros(x.shape[1]) if b0 is None else b0.copy()
    ok = False
    for _ in range(50):
        eta = numerics.matmul(x, b)
        g = mills(y, eta)
        w = g * (g + eta)  # observed information weight
        info = numerics.matmul((x * w[:, None]).T, x)
        step = numerics.solve_spd(info, numerics.matmul(x.T, g))
        b = b + step
        if np.max(np.abs(step)) < 1e-10:
            ok = True
            break
    eta = numerics.matmul(x, b)
    g = mills(y, eta)
    info = numerics.matmul((x * (g * (g + eta))[:, None]).T, x)
    return ProbitFit(b, eta, info, ok)


def probit_ame(fit: ProbitFit) -> np.ndarray:
    """Derivative AMEs mean(phi(xb)) * b for every column."""
    return norm_pdf(fit.eta).mean() * fit.b


def probit_ame_jac(fit: ProbitFit, x: np.ndarray) -> np.ndarray:
    """Jacobian of the probit AMEs in the coefficients, d AME / d b.

    Returns
    -------
    ndarray
        (columns x columns) matrix; row ``i`` is the gradient of AME ``i``.
    """
    phi = norm_pdf(fit.eta)
    m = (-(fit.eta * phi)[:, None] * x).mean(axis=0)
    return phi.mean() * np.eye(len(fit.b)) + np.outer(fit.b, m)


def probit_ame_se(fit: ProbitFit, x: np.ndarray) -> np.ndarray:
    """Delta-method SEs of the probit AMEs (OIM covariance).

    Returns
    -------
    ndarray
        One SE per design column.
    """
    jac = probit_ame_jac(fit, x)
    cov = numerics.inv_spd(fit.info)
    return np.sqrt(np.einsum("ij,jk,ik->i", jac, cov, jac))


@dataclass
class GammaFit:
    """Result of :func:`gamma_log`: coefficients, fitted means, dispersion, info."""

    b: np.ndarray
    mu: np.ndarray
    scale: float
    info: np.ndarray  # observed information (unscaled)


def gamma_log(x: np.ndarray, y: np.ndarray, b0: np.ndarray | None = None) -> GammaFit:
    """Gamma GLM, log link: Newton (Fisher steps, then observed), Pearson dispersion."""
    if b0 is None:
        b = numerics.solve_spd(
            numerics.matmul(x.T, x), numerics.matmul(x.T, numerics.log(y))
        )
        b[0] += numerics.log(np.mean(y / numerics.exp(numerics.matmul(x, b))))
    else:
        b = b0.copy()
    xtx = numerics.matmul(x.T, x)
    for it in range(100):
        mu = numerics.exp(numerics.matmul(x, b))
        r = y / mu
        if it < 3:
            h = xtx
        else:
            h = numerics.matmul((x * r[:, None]).T, x)
        step = numerics.solve_spd(h, numerics.matmul(x.T, r - 1.0))
        b = b + step
        if np.max(np.abs(step)) < 1e-11:
            break
    mu = numerics.exp(numerics.matmul(x, b))
    r = y / mu
    scale = float(np.sum((r - 1.0) ** 2) / (len(y) - x.shape[1]))
    info = numerics.matmul((x * r[:, None]).T, x)
    return GammaFit(b, mu, scale, info)


def gamma_coef_se(fit: GammaFit) -> np.ndarray:
    """Coefficient SEs of a Gamma-log fit, scaled by the Pearson dispersion.

    Returns
    -------
    ndarray
        One SE per design column.
    """
    return np.sqrt(np.diag(numerics.inv_spd(fit.info)) * fit.scale)


def gamma_ame_se(fit: GammaFit, x: np.ndarray) -> np.ndarray:
    """Delta-method SEs of the Gamma-log AMEs (dispersion-scaled covariance).

    Returns
    -------
    ndarray
        One SE per design column.
    """
    mbar = fit.mu.mean()
    m = (fit.mu[:, None] * x).mean(axis=0)
    jac = mbar * np.eye(len(fit.b)) + np.outer(fit.b, m)
    cov = numerics.inv_spd(fit.info) * fit.scale
    return np.sqrt(np.einsum("ij,jk,ik->i", jac, cov, jac))
