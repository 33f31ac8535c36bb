"""Newton-Raphson fits in numpy for large samples, without copies of X.

statsmodels' ``Probit``/``GLM`` fits cost several copies of the design at survey
scale (model creation checks the rank with a QR/SVD of X, IRLS solves each step
with an SVD-based ``lstsq`` on the weighted X, ``hessian`` forms X * w), which at
N = 2,000,000 dominated the run time and peak memory. These functions take the
same Newton steps with the observed information X' diag(w a) X accumulated in row
blocks, so the only N x K array is X itself. :mod:`.fit` uses them above
``fit.LARGE`` cells and statsmodels below; ``tests/test_twopart_api.py`` checks
that both give the same estimates at small N.

Notes
-----
Each part is summarised by the score factor u and the observed-information
factor a at unit dispersion (score = X'(w u), information = X' diag(w a) X).
For a GLM with mean mu = g^{-1}(eta), variance function V and link g
(statsmodels' ``score_factor``/``hessian_factor``)::

    u = (y - mu) / (V(mu) g'(mu))
    a = [1 + u (V(mu) g''(mu) + V'(mu) g'(mu))] / (V(mu) g'(mu)^2)

Steps are halved while the objective (binary log likelihood, GLM deviance) gets
worse; a step with a non-positive-definite information falls back to expected
information (Fisher scoring).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

BLOCK_ROWS = 65_536  # rows per block of X' diag(v) X (16 MiB temporaries at K=32)


def xtwx(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return X' diag(v) X, accumulated over row blocks (no N x K temporary)."""
    k = X.shape[1]
    out = np.zeros((k, k))
    for s in range(0, X.shape[0], BLOCK_ROWS):
        xb = X[s : s + BLOCK_ROWS]
        out += (xb * v[s : s + BLOCK_ROWS, None]).T @ xb
    return 0.5 * (out + out.T)


def binary_loglike(y, eta, model, w) -> float:
    """Log likelihood of a probit or logit at index ``eta``."""
    q = 2.0 * y - 1.0
    if model == "probit":
        ll = log_ndtr(q * eta)
    else:
        ll = -np.logaddexp(0.0, -q * eta)
    return float(np.sum(ll if w is None else w * ll))


def newton(X, objective, factors, start, maxiter, fallback=None, direction=None):
    """Maximise ``objective(eta)`` by Newton steps from ``start``.

    Parameters
    ----------
    X : ndarray (n, k)
        Design (weights enter through ``factors``).
    objective : callable eta -> float
        Value to maximise (log likelihood or minus deviance).
    factors : callable eta -> (g, a)
        Per-observation weighted score and information factors.
    start : ndarray (k,)
        Starting coefficients.
    maxiter : int
        Newton iterations allowed.
    fallback : callable eta -> a, optional
        Expected-information factor used when the observed one is not
        positive definite.
    direction : callable (a, g) -> step or None, optional
        Solves X' diag(a) X step = X' g, None when that matrix is not positive
        definite; default :func:`xtwx` in row blocks and :func:`solve_spd`. Small
        designs refitted many times pass a leaner solve (:mod:`.arrays`).

    Returns
    -------
    params : ndarray
    iterations : int
    converged : bool
        The last step moved no coefficient by more than 1e-10 (1 + |b|).
    """
    if direction is None:

        def direction(a, g):
            return solve_spd(xtwx(X, a), X.T @ g)

    b = np.asarray(start, dtype=float).copy()
    eta = X @ b
    f = objective(eta)
    for it in range(1, maxiter + 1):
        g, a = factors(eta)
        step = direction(a, g)
        if step is None and fallback is not None:
            step = direction(fallback(eta), g)
        if step is None:
            return b, it, False
        b, eta, f = _line_search(X, b, eta, f, step, objective)
        if np.all(np.abs(step) <= 1e-10 * (1.0 + np.abs(b))):
            return b, it, True
    return b, maxiter, False


def solve_spd(info, rhs, check=True):
    """Solve info @ x = rhs after scaling info to unit diagonal.

    With ``check`` a Cholesky factorisation is used and ``None`` returned when
    ``info`` is not positive definite; otherwise an LU solve, ``None`` when
    singular.
    """
    d = np.sqrt(np.abs(np.diag(info)))
    if not np.all(d > 0):
        return None
    s = 1.0 / d
    m = info * s[:, None] * s[None, :]
    try:
        if check:
            c = np.linalg.cholesky(m)
            x = np.linalg.solve(c.T, np.linalg.solve(c, rhs * s))
        else:
            x = np.linalg.solve(m, rhs * s)
    except np.linalg.LinAlgError:
        return None
    return x * s


def _line_search(X, b, eta, f, step, objective):
    deta = X @ step
    t = 1.0
    for _ in range(30):
        eta_new = eta + t * deta
        f_new = objective(eta_new)
        if np.isfinite(f_new) and f_new >= f - 1e-12 * (1.0 + abs(f)):
            return b + t * step, eta_new, f_new
        t *= 0.5
    return b + t * step, eta + t * deta, objective(eta + t * deta)


def glm_factors(family, y, eta):
    """Score factor u and observed-information factor a (unit dispersion)."""
    link = family.link
    mu = link.inverse(eta)
    d1 = link.deriv(mu)
    var = family.variance(mu)
    u = (y - mu) / (d1 * var)
    a = (1.0 + u * (var * link.deriv2(mu) + family.variance.deriv(mu) * d1)) / (
        d1 * d1 * var
    )
    return u, a, mu


def glm_start(X, y, family, w):
    """Start values from one IRLS step at statsmodels' starting mu."""
    mu = family.starting_mu(y)
    link = family.link
    eta = link(mu)
    d1 = link.deriv(mu)
    irls_w = 1.0 / (d1 * d1 * family.variance(mu))
    if w is not None:
        irls_w = irls_w * w
    z = eta + (y - mu) * d1
    return solve_spd(xtwx(X, irls_w), X.T @ (irls_w * z), check=False)


def glm_newton(X, y, family, w, start, maxiter):
    """Newton for a GLM of any statsmodels ``family`` (minus deviance maximised).

    The score and observed-information factors come from :func:`glm_factors`; the
    expected information is the fallback when the observed one is not positive
    definite. Returns ``(params, iterations, converged)`` as :func:`newton`.
    """
    wt = 1.0 if w is None else w

    def objective(eta):
        try:
            return -float(family.deviance(y, family.link.inverse(eta), var_weights=wt))
        except (ValueError, FloatingPointError):
            return -np.inf

    def factors(eta):
        u, a, _ = glm_factors(family, y, eta)
        return (u, a) if w is None else (w * u, w * a)

    def expected(eta):
        mu = family.link.inverse(eta)
        return wt / (family.link.deriv(mu) ** 2 * family.variance(mu))

    with np.errstate(all="ignore"):
        return newton(X, objective, factors, start, maxiter, fallback=expected)
