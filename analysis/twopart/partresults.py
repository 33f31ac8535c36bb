"""statsmodels-shaped views of a fitted two-part model: each part and both jointly.

Notes
-----
Inference uses the normal distribution (z statistics), as Stata's ``twopm``,
``probit`` and ``glm``: t = b / se, p = 2 (1 - Phi(|t|)), CI b -/+ z_{1-a/2} se.
Log likelihoods follow Stata's ``e(ll)``:

* probit/logit: sum_i w_i ln F(q_i x_i'b), q_i = 2 d_i - 1;
* GLM part: the family's log density at dispersion 1 for Gamma, inverse
  Gaussian, Poisson and binomial (Stata ``glm`` reports the Gamma ``e(ll)`` at
  scale 1: statsmodels' ``Scotvote`` fixture, checked in the tests), and at the
  ML dispersion deviance/n for the Gaussian;
* OLS on ln(y): -n/2 (1 + ln(2 pi SSR/n)) of ln(y) (Stata ``regress``, R
  ``logLik.lm``), i.e. of the log outcome, not of y.

AIC = -2 llf + 2k and BIC = -2 llf + k ln(n) (Stata ``estat ic``; statsmodels),
with k the estimated (non-omitted) coefficients; for the whole model llf is
the sum of both parts', k = k1 + k2 and n the part-1 observations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .fit import glm_family
from .newton import binary_loglike
from .summary import part_summary


def inference_frame(params: pd.Series, se: np.ndarray, alpha: float = 0.05):
    """Return (tvalues, pvalues, conf_int) for estimates with standard errors."""
    se = pd.Series(np.asarray(se, dtype=float), index=params.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = params / se
    p = pd.Series(2.0 * norm.sf(np.abs(t.to_numpy())), index=params.index)
    z = norm.ppf(1.0 - alpha / 2.0)
    ci = pd.DataFrame({0: params - z * se, 1: params + z * se})
    return t, p, ci


class PartResults:
    """One part (``"part1"`` or ``"part2"``) of a :class:`TwoPartResults`.

    Attributes
    ----------
    params, bse, tvalues, pvalues : pandas.Series
        Indexed by term (Stata order, ``_cons`` last). Omitted terms (part-1
        separation) have coefficient 0 and standard error 0, as Stata's ``o.``.
    nobs : int
        Observations of the part's fit.
    df_model, df_resid : int
        Estimated slopes (k - 1) and nobs - k.
    scale : float
        Dispersion (1 for part 1).
    rows : ndarray of bool or None
        The part's estimation rows among the N part-1 rows (part 2: the
        positives; part 1: all, less rows dropped for perfect prediction);
        None for an out-of-core fit.
    """

    def __init__(self, res, part: str):
        self._res, self.part = res, part
        j = 0 if part == "part1" else 1
        self._fit = res.fits[j]
        self.params = res.params[part].copy()
        cov = res.cov_part1 if part == "part1" else res.cov_part2
        self._cov = cov
        self.bse = pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=self.params.index)
        self.tvalues, self.pvalues, _ = inference_frame(self.params, self.bse)
        self.nobs = res.nobs[part]
        omitted = {o.term for o in res.omitted} if part == "part1" else set()
        self.k = len(self.params) - len(omitted)
        self.df_model = self.k - 1
        self.df_resid = self.nobs - self.k
        self.scale = float(self._fit.scale)
        smp = res.sample
        if smp is None:  # out of core: the rows are not in memory
            self.rows = None
        elif part == "part2":
            self.rows = smp.rows2
        else:
            self.rows = np.ones(len(smp.d), bool) if smp.rows1 is None else smp.rows1

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the part's coefficients under the model's ``vce``."""
        return self._cov.copy()

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Normal-based confidence intervals (columns 0 and 1, as statsmodels)."""
        return inference_frame(self.params, self.bse, alpha)[2]

    @property
    def llf(self) -> float:
        """Log likelihood (Stata ``e(ll)``; module Notes)."""
        if "llf" not in self.__dict__:
            self.__dict__["llf"] = part_llf(self._res, self.part)
        return self.__dict__["llf"]

    @property
    def aic(self) -> float:
        """Akaike information criterion -2 llf + 2k."""
        return -2.0 * self.llf + 2.0 * self.k

    @property
    def bic(self) -> float:
        """Bayesian information criterion -2 llf + k ln(nobs)."""
        return -2.0 * self.llf + self.k * np.log(self.nobs)

    def predict(self, newdata: pd.DataFrame | None = None, linear: bool = False):
        """Predictions of this part (see :meth:`TwoPartResults.predict`)."""
        return self._res.predict(newdata, part=self.part, linear=linear)

    def summary(self):
        """Coefficient table of this part (text, LaTeX and HTML forms)."""
        return part_summary(self._res, self.part)


def part_llf(res, part: str) -> float:
    """Log likelihood of one part of a fit (formulas in the module Notes)."""
    smp, w = res.sample, res.weights
    if part == "part1":
        rows = smp.rows1 if smp.rows1 is not None else np.ones(smp.d.size, bool)
        X = res.designs[0].X[rows]
        eta = X @ res.params["part1"].to_numpy()
        return binary_loglike(
            smp.d[rows], eta, res.spec.part1.model, None if w is None else w[rows]
        )
    rows2 = smp.rows2
    y = smp.y[rows2]
    X2 = res.designs[1].X[rows2]
    eta = X2 @ res.params["part2"].to_numpy()
    w2 = np.ones(y.size) if w is None else w[rows2]
    p2 = res.spec.part2
    if p2.model == "ols_log":
        e = np.log(y) - eta
        tot = float(w2.sum())
        return -0.5 * tot * (1.0 + np.log(2.0 * np.pi * float(w2 @ (e * e)) / tot))
    family = glm_family(p2.family, p2.link)
    mu = family.link.inverse(eta)
    scale = 1.0
    if p2.family == "gaussian":
        scale = float(w2 @ (y - mu) ** 2) / float(w2.sum())
    return float(family.loglike(y, mu, var_weights=w2, scale=scale))
