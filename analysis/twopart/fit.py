"""Fit each part and return the pieces the variance code needs.

Below ``LARGE`` cells of X the fits are statsmodels' (``Probit``/``Logit``,
``GLM(method="newton")``, ``OLS``/``WLS``); above it the same Newton steps run in
numpy (:mod:`.newton`), because statsmodels' model creation and IRLS copy X
several times (documented there); both give the same estimates (tested).

Every part is summarised by a :class:`PartFit`: coefficients, the per-observation
score factor ``u`` (score_i = w_i u_i x_i) and information factor ``a``
(information = sum_i w_i a_i x_i x_i'), both at unit dispersion, the dispersion
``scale`` and the mean function of the part.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import statsmodels.api as sm
from scipy.special import expit, log_ndtr, ndtr

from .errors import ConvergenceError, SeparationError
from .links import MEANS, MeanFunction, npdf, smeared_exp
from .newton import (
    binary_loglike,
    glm_factors,
    glm_newton,
    glm_start,
    newton,
    solve_spd,
    xtwx,
)
from .separation import determined_counts, separating_direction, separation_message
from .spec import Part2Spec

_FAMILIES = {
    "gamma": sm.families.Gamma,
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    "inverse_gaussian": sm.families.InverseGaussian,
}
_LINKS = {
    "log": sm.families.links.Log,
    "identity": sm.families.links.Identity,
    "logit": sm.families.links.Logit,
    "probit": sm.families.links.Probit,
    "inverse_power": sm.families.links.InversePower,
    "cloglog": sm.families.links.CLogLog,
}
_LOG_SQ2PI = 0.5 * np.log(2.0 * np.pi)
#: Newton iterations allowed per part before :class:`ConvergenceError`.
MAXITER = 100
#: Cells of X (n * k) above which fits use :mod:`.newton` instead of statsmodels.
LARGE = 1_000_000


def glm_family(family: str, link: str):
    """The statsmodels family object of a part-2 GLM (``family``, ``link`` names)."""
    return _FAMILIES[family](_LINKS[link]())


@dataclass
class PartFit:
    """Fitted part: params, unit-dispersion score/information factors, scale."""

    params: np.ndarray
    u: np.ndarray
    a: np.ndarray
    scale: float
    mean: MeanFunction
    iterations: int
    kind: str  # "ml" (probit/logit/glm) or "ols"
    extra: dict = field(default_factory=dict)


def fit_part1(
    y: np.ndarray,
    X: np.ndarray,
    model: str,
    w: np.ndarray | None,
    names: list[str] | None = None,
) -> PartFit:
    """Fit P(y=1|x) = F(x'b) by ML.

    statsmodels Probit/Logit, or a binomial GLM with ``var_weights`` when
    sampling weights are given. Rows whose fitted probability is 0 or 1 to
    machine precision are counted in ``extra["determined"]`` (failures,
    successes), as Stata's note; they do not make the fit fail.

    Raises
    ------
    SeparationError
        The fit did not converge because a combination of regressors separates
        the outcomes (:func:`.separation.separating_direction`).
    ConvergenceError
        Any other failure to converge.
    """
    if X.size > LARGE:
        b, iters, converged = newton_binary(y, X, model, w)
    else:
        b, iters, converged = _statsmodels_binary(y, X, model, w)
    eta = X @ b
    u, a = binary_factors(y, eta, model)
    fit = PartFit(b, u, a, 1.0, MEANS[model], iters, "ml")
    label = "part 1 " + model
    try:
        _check_converged(converged, X, fit, w, label)
    except ConvergenceError:
        direction = separating_direction(X, y)
        if direction is None:
            raise
        if names is None:
            names = [f"x{j}" for j in range(X.shape[1])]
        raise SeparationError(
            separation_message(label, names, X, y, direction)
        ) from None
    fit.extra["a_eim"] = binary_expected(eta, model)
    fit.extra["determined"] = determined_counts(MEANS[model].h(eta), y)
    fit.extra["llf"] = binary_loglike(y, eta, model, w)
    return fit


def _statsmodels_binary(y, X, model, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if w is None:
            cls = sm.Probit if model == "probit" else sm.Logit
            res = cls(y, X, check_rank=False).fit(
                method="newton", disp=0, maxiter=MAXITER
            )
        else:
            fam = sm.families.Binomial(_LINKS[model]())
            res = sm.GLM(y, X, family=fam, var_weights=w).fit(
                method="newton", disp=0, maxiter=MAXITER
            )
    return np.asarray(res.params, dtype=float), _iterations(res), _converged(res)


def newton_binary(y, X, model, w, maxiter=None):
    """Probit/logit by :func:`.newton.newton` from zeros: (params, steps, converged).

    ``maxiter`` defaults to :data:`MAXITER` as it is when called.
    """

    def factors(eta):
        u, a = binary_factors(y, eta, model)
        return (u, a) if w is None else (w * u, w * a)

    return newton(
        X,
        lambda eta: binary_loglike(y, eta, model, w),
        factors,
        np.zeros(X.shape[1]),
        MAXITER if maxiter is None else maxiter,
    )


def binary_factors(y: np.ndarray, eta: np.ndarray, model: str):
    """Score factor u and observed-information factor a of a probit or logit."""
    if model == "logit":
        p = expit(eta)
        return y - p, p * (1.0 - p)
    lam = probit_lambda(y, eta)
    return lam, lam * (lam + eta)


def binary_expected(eta: np.ndarray, model: str) -> np.ndarray:
    """Expected-information factor: f(eta)^2 / (F(eta) (1 - F(eta)))."""
    if model == "logit":
        p = expit(eta)
        return p * (1.0 - p)
    # phi^2 / (Phi (1 - Phi)) with both tails computed without cancellation
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out = np.exp(-eta * eta - 2.0 * _LOG_SQ2PI - log_ndtr(eta) - log_ndtr(-eta))
    return np.nan_to_num(out, nan=0.0)


def probit_lambda(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Probit score factor q phi(q eta) / Phi(q eta), q = 2y - 1.

    Rows where phi and Phi both underflow (|eta| > ~37) use
    exp(log phi - log Phi), so a well-predicted row never gives 0/0.
    """
    q = 2.0 * y - 1.0
    z = q * eta
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = q * npdf(eta) / ndtr(z)
    bad = ~np.isfinite(lam)
    if bad.any():
        zb = z[bad]
        lam[bad] = q[bad] * np.exp(-0.5 * zb * zb - _LOG_SQ2PI - log_ndtr(zb))
    return lam


def fit_part2(y: np.ndarray, X: np.ndarray, spec: Part2Spec, w: np.ndarray | None):
    """Fit E[y|y>0,x] on the positives.

    A GLM (Newton, observed information) or OLS on ln(y). See
    :func:`fit_part1` for the errors raised.
    """
    if spec.model == "ols_log":
        return _fit_ols_log(y, X, spec, w)
    family = glm_family(spec.family, spec.link)
    if X.size > LARGE:
        b, iters, converged = newton_glm(y, X, family, w)
    else:
        b, iters, converged = _statsmodels_glm(y, X, family, w)
    u, a, mu = glm_factors(family, y, X @ b)
    fit = PartFit(b, u, a, np.nan, MEANS[spec.link], iters, "ml")
    fit.extra["a_eim"] = 1.0 / (family.link.deriv(mu) ** 2 * family.variance(mu))
    fit.scale = _glm_scale(spec, family, y, mu, X.shape, w)
    fit.extra["deviance"] = float(np.sum(family.resid_dev(y, mu) ** 2))
    _check_converged(converged, X, fit, w, f"part 2 glm {spec.family}/{spec.link}")
    return fit


def _statsmodels_glm(y, X, family, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, X, family=family, var_weights=w).fit(
            method="newton", disp=0, maxiter=MAXITER
        )
    return np.asarray(res.params, dtype=float), _iterations(res), _converged(res)


def newton_glm(y, X, family, w, maxiter=None):
    """GLM by :func:`.newton.glm_newton` from :func:`.newton.glm_start`.

    Returns (params, steps, converged). The params are the start when Newton's
    steps leave the finite range, and NaN when the start's weighted least squares
    is singular; converged is False in both cases. ``maxiter`` defaults to
    :data:`MAXITER` as it is when called.
    """
    start = glm_start(X, y, family, w)
    if start is None:
        return np.full(X.shape[1], np.nan), 0, False
    maxiter = MAXITER if maxiter is None else maxiter
    b, steps, converged = glm_newton(X, y, family, w, start, maxiter)
    if not np.all(np.isfinite(b)):
        return start, steps, False
    return b, steps, converged


def _glm_scale(spec, family, y, mu, shape, w) -> float:
    rule = spec.resolved_scale
    if not isinstance(rule, str):
        return float(rule)
    if rule == "one":
        return 1.0
    ww = 1.0 if w is None else w
    n, k = shape
    if rule == "x2":
        return float(np.sum(ww * (y - mu) ** 2 / family.variance(mu)) / (n - k))
    return float(np.sum(ww * family.resid_dev(y, mu) ** 2) / (n - k))


def _fit_ols_log(y, X, spec, w) -> PartFit:
    ly = np.log(y)
    if X.size > LARGE:
        b = _normal_equations(X, ly, w)
    else:
        res = (sm.OLS(ly, X) if w is None else sm.WLS(ly, X, weights=w)).fit()
        b = np.asarray(res.params, dtype=float)
    e = ly - X @ b
    n, k = X.shape
    ww = np.ones(n) if w is None else w
    s2 = float(np.sum(ww * e * e) / (n - k))
    if spec.smearing == "duan":
        factor = float(np.sum(ww * np.exp(e)) / np.sum(ww))
    else:
        factor = float(np.exp(0.5 * s2))
    fit = PartFit(b, e, np.ones(n), s2, smeared_exp(factor), 1, "ols")
    fit.extra["smearing_factor"] = factor
    fit.extra["info"] = xtwx(X, ww)
    return fit


def _normal_equations(X, ly, w):
    """Least squares by scaled normal equations plus one refinement step."""
    ww = np.ones(X.shape[0]) if w is None else w
    info = xtwx(X, ww)
    b = solve_spd(info, X.T @ (ww * ly))
    return b + solve_spd(info, X.T @ (ww * (ly - X @ b)))


def _iterations(res) -> int:
    ret = getattr(res, "mle_retvals", None) or {}
    return int(
        ret.get("iterations", getattr(res, "fit_history", {}).get("iteration", 0))
    )


def _converged(res) -> bool:
    ret = getattr(res, "mle_retvals", None) or {}
    return bool(ret.get("converged", True))


def _check_converged(converged: bool, X, fit: PartFit, w, label: str) -> None:
    ww = 1.0 if w is None else w
    grad = X.T @ (ww * fit.u)
    info = xtwx(X, ww * fit.a)
    step = solve_spd(info, grad, check=False)
    if step is None:
        raise ConvergenceError(f"{label}: singular information matrix")
    tol = 1e-6 * (1.0 + np.abs(fit.params))
    if not converged or np.any(np.abs(step) > tol):
        raise ConvergenceError(
            f"{label} did not converge after {fit.iterations} Newton iterations "
            f"(largest remaining Newton step {np.max(np.abs(step)):.3g})"
        )
    fit.extra["info"] = info
