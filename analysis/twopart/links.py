"""Mean functions h(eta) of each part with their first two derivatives.

Margins need only h, h' and h'' of the linear index: part 1's P(y>0|x) = F(x'b),
part 2's E[y|y>0,x] = g^{-1}(x'g) for a GLM, or S * exp(x'g) for OLS on ln(y) with
a smearing factor S held fixed (as Stata's margins does with a stored e(rmse)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtr

Arr = np.ndarray
_SQ2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class MeanFunction:
    """h(eta), h'(eta), h''(eta) for one part."""

    name: str
    h: Callable[[Arr], Arr]
    d1: Callable[[Arr], Arr]
    d2: Callable[[Arr], Arr]


def npdf(e: Arr) -> Arr:
    """Standard normal density."""
    return np.exp(-0.5 * e * e) / _SQ2PI


def _logit_d1(e: Arr) -> Arr:
    p = expit(e)
    return p * (1.0 - p)


def _logit_d2(e: Arr) -> Arr:
    p = expit(e)
    return p * (1.0 - p) * (1.0 - 2.0 * p)


def _cloglog_d1(e: Arr) -> Arr:
    return np.exp(e - np.exp(e))


def _cloglog_d2(e: Arr) -> Arr:
    return np.exp(e - np.exp(e)) * (1.0 - np.exp(e))


MEANS = {
    "probit": MeanFunction("probit", ndtr, npdf, lambda e: -e * npdf(e)),
    "logit": MeanFunction("logit", expit, _logit_d1, _logit_d2),
    "log": MeanFunction("log", np.exp, np.exp, np.exp),
    "identity": MeanFunction("identity", lambda e: e, np.ones_like, np.zeros_like),
    "inverse_power": MeanFunction(
        "inverse_power", lambda e: 1.0 / e, lambda e: -1.0 / e**2, lambda e: 2.0 / e**3
    ),
    "cloglog": MeanFunction(
        "cloglog", lambda e: -np.expm1(-np.exp(e)), _cloglog_d1, _cloglog_d2
    ),
}


def smeared_exp(factor: float) -> MeanFunction:
    """Mean function S * exp(eta) of a log-OLS part with smearing factor S."""
    return MeanFunction(
        "ols_log",
        lambda e: factor * np.exp(e),
        lambda e: factor * np.exp(e),
        lambda e: factor * np.exp(e),
    )
