"""Bootstrap standard errors and confidence intervals from a matrix of draws.

Notes
-----
With theta the full-sample estimate and theta*_1..theta*_B the successful
replications of a quantity (failed ones are NaN and excluded, and counted):

* SE = sample SD of theta* (divisor B - 1); bias = mean(theta*) - theta;
* normal: theta -/+ z_{1-a/2} SE;
* percentile: the a/2 and 1 - a/2 quantiles of theta*;
* bias-corrected (BC, Efron 1981): z0 = Phi^{-1}(#{theta* < theta}/B + 0.5
  #{theta* = theta}/B); the interval is the quantiles Phi(2 z0 -/+ z_{1-a/2})
  of theta* (undefined, NaN, when all draws lie on one side of theta).

Quantiles use numpy's default (linear) interpolation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

CI_METHODS = ("percentile", "normal", "bc")


def summarise_draws(
    estimate: np.ndarray, draws: np.ndarray, alpha: float = 0.05
) -> pd.DataFrame:
    """SE, bias and the three CIs of each column of ``draws`` (R x Q).

    Returns a frame with one row per quantity: ``n_ok``, ``n_failed``,
    ``se_boot``, ``bias``, ``ci_<method>_low/high`` for :data:`CI_METHODS`.
    """
    ok = np.isfinite(draws)
    n_ok = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.nanstd(np.where(ok, draws, np.nan), axis=0, ddof=1)
        mean = np.nanmean(np.where(ok, draws, np.nan), axis=0)
    se[n_ok < 2] = np.nan
    z = norm.ppf(1.0 - alpha / 2.0)
    out = {
        "n_ok": n_ok,
        "n_failed": draws.shape[0] - n_ok,
        "se_boot": se,
        "bias": mean - estimate,
        "ci_normal_low": estimate - z * se,
        "ci_normal_high": estimate + z * se,
    }
    pct = np.full((2, draws.shape[1]), np.nan)
    bc = np.full((2, draws.shape[1]), np.nan)
    for j in range(draws.shape[1]):
        x = draws[ok[:, j], j]
        if x.size < 2:
            continue
        pct[:, j] = np.quantile(x, [alpha / 2.0, 1.0 - alpha / 2.0])
        bc[:, j] = bc_interval(estimate[j], x, alpha)
    out.update(
        ci_percentile_low=pct[0],
        ci_percentile_high=pct[1],
        ci_bc_low=bc[0],
        ci_bc_high=bc[1],
    )
    return pd.DataFrame(out)


def bc_interval(theta: float, x: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Bias-corrected percentile interval of draws ``x`` around ``theta``."""
    prop = (np.sum(x < theta) + 0.5 * np.sum(x == theta)) / x.size
    if prop <= 0.0 or prop >= 1.0:
        return np.array([np.nan, np.nan])
    z0 = norm.ppf(prop)
    z = norm.ppf(1.0 - alpha / 2.0)
    return np.quantile(x, norm.cdf([2.0 * z0 - z, 2.0 * z0 + z]))
