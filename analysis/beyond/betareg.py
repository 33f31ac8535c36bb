"""Beta regression of the reimbursement ratio, as AMEs on E[ratio | reimbursed].

The ratio is a proportion, so the field's models for it are fractional logit/probit
(Papke-Wooldridge QMLE, in :mod:`analysis.beyond.robustness`) and beta regression
(Ferrari & Cribari-Neto 2004): y_i ~ Beta(mu_i phi, (1 - mu_i) phi) with
logit(mu_i) = x_i'b and a constant precision phi, fitted by maximum likelihood
(statsmodels ``BetaModel``, log link for phi) with the observed-information
covariance.

Notes
-----
Boundary values. The beta density lives on (0, 1); ratios of exactly 0 or 1 are
handled by the Smithson & Verkuilen (2006) squeeze y' = (y (n - 1) + 0.5) / n,
applied to all n ratios of the estimation sample when any of them is on the
boundary (none is dropped). Since E[y'] = ((n - 1) E[y] + 0.5) / n, the AMEs on
the ratio's own scale are those of y' times n / (n - 1), and so are their SEs.
With no ratio on the boundary the data are used as they are.

AMEs follow the package's column-wise convention for the ratio equation (every
regressor, including a hand-built 0/1 dummy, is a column of its own, Stata 12's
``margins, dydx(*)``; :mod:`analysis.paper.models`): AME_k = mean_i mu_i (1 - mu_i)
b_k over the estimation sample, the same derivative the fractional logit's margins
take. Delta method with the gradient
dAME_k/db_j = mean_i mu_i (1 - mu_i)(1 - 2 mu_i) x_ij b_k
+ 1{j = k} mean_i mu_i (1 - mu_i), and zero in log phi; covariates held
fixed, as :mod:`analysis.twopart.margins`.

Checked against an independent maximum-likelihood fit in R
(``tests/r/betareg_reference.R``: R's ``dbeta`` and ``optim`` with a
``numDeriv`` Hessian) and, for recovery of known parameters, by simulation
(``tests/test_betareg.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.othermod.betareg import BetaModel
from statsmodels.tools.sm_exceptions import ConvergenceWarning

CONST = "_cons"


@dataclass(frozen=True)
class BetaFit:
    """A fitted beta regression of a proportion.

    Attributes
    ----------
    params : pandas.Series
        Mean coefficients (logit scale, ``_cons`` last) and ``ln_phi``.
    cov : pandas.DataFrame
        Observed-information covariance of ``params``.
    X : pandas.DataFrame
        The design (with ``_cons``) of the estimation rows.
    n : int
        Observations.
    boundary : int
        Ratios equal to 0 or 1 before the squeeze.
    scale : float
        n / (n - 1) if the squeeze was applied, else 1: the factor from
        effects on E[y'] to effects on E[y].
    """

    params: pd.Series
    cov: pd.DataFrame
    X: pd.DataFrame
    n: int
    boundary: int
    scale: float

    @property
    def mean_params(self) -> np.ndarray:
        """The coefficients of logit(mu), in the order of ``X``'s columns."""
        return self.params[list(self.X.columns)].to_numpy()

    def note(self) -> str:
        """One line on the model and the boundary handling, for the output tables."""
        phi = float(np.exp(self.params["ln_phi"]))
        head = f"ML, logit mean, constant precision phi = {phi:.3g}; "
        if not self.boundary:
            return head + f"0 of {self.n} ratios at 0 or 1 (no squeeze needed)"
        return head + (
            f"{self.boundary} of {self.n} ratios at 0 or 1: all {self.n} squeezed "
            f"to (y(n-1)+0.5)/n (Smithson-Verkuilen), AMEs rescaled by n/(n-1)"
        )


def squeeze(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Smithson-Verkuilen squeeze of ``y`` in [0, 1] if any value is 0 or 1.

    Returns the values to fit and how many were on the boundary.

    Raises
    ------
    ValueError
        If a value lies outside [0, 1] (not a proportion) or is missing.
    """
    y = np.asarray(y, dtype=float)
    if np.isnan(y).any() or (y < 0).any() or (y > 1).any():
        raise ValueError("beta regression needs proportions in [0, 1], no missing")
    boundary = int(np.sum((y == 0) | (y == 1)))
    if not boundary:
        return y, 0
    n = y.size
    return (y * (n - 1) + 0.5) / n, boundary


def fit(y: np.ndarray, X: pd.DataFrame) -> BetaFit:
    """Beta regression of ``y`` on ``X`` (a frame of regressors, without constant).

    Raises
    ------
    ValueError
        If ``y`` is not a proportion, ``X`` is rank deficient with the
        constant, or the likelihood maximisation does not converge.
    """
    design = X.astype(float).assign(**{CONST: 1.0})
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise ValueError("beta regression: regressors collinear with the constant")
    yy, boundary = squeeze(y)
    model = BetaModel(yy, design.to_numpy())
    with warnings.catch_warnings():
        # convergence is checked below, after the Newton polish
        warnings.simplefilter("ignore", ConvergenceWarning)
        # BFGS line searches may try steps where exp overflows; they are rejected
        warnings.simplefilter("ignore", RuntimeWarning)
        start = model.fit(method="bfgs", maxiter=2000, disp=False)
        # BFGS stops on a gradient tolerance; Newton steps with the analytic
        # Hessian take the estimates to the optimum's machine precision
        res = model.fit(start_params=start.params, method="newton", maxiter=100,
                        disp=False)  # fmt: skip
    if not res.mle_retvals.get("converged", False):
        raise ValueError("beta regression: maximum likelihood did not converge")
    names = [*design.columns, "ln_phi"]
    n = yy.size
    return BetaFit(
        pd.Series(res.params, index=names),
        pd.DataFrame(res.cov_params(), index=names, columns=names),
        design,
        n,
        boundary,
        n / (n - 1) if boundary else 1.0,
    )


def ames(bf: BetaFit) -> pd.DataFrame:
    """Derivative AMEs on E[y | x] of every regressor, with delta-method SEs.

    Returns
    -------
    pandas.DataFrame
        ``term, estimate, se, z, p``, one row per column of the design but the
        constant.
    """
    X = bf.X.to_numpy()
    b = bf.mean_params
    mu = 1.0 / (1.0 + np.exp(-(X @ b)))
    d1 = mu * (1.0 - mu)
    d2 = d1 * (1.0 - 2.0 * mu)
    k = len(b)
    V = bf.cov.to_numpy()[:k, :k]  # ln phi has no gradient
    md1, md2x = d1.mean(), X.T @ d2 / X.shape[0]
    rows = []
    for j, term in enumerate(bf.X.columns):
        if term == CONST:
            continue
        grad = md2x * b[j]
        grad[j] += md1
        est = bf.scale * md1 * b[j]
        se = bf.scale * float(np.sqrt(grad @ V @ grad))
        z = est / se
        rows.append((term, est, se, z, float(2 * norm.sf(abs(z)))))
    return pd.DataFrame(rows, columns=["term", "estimate", "se", "z", "p"])
