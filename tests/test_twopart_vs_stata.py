"""analysis.twopart against published Stata output on public data.

The Stata numbers are the reference results that statsmodels ships with its own
test suite (installed package, ``statsmodels/.../tests/results/``), computed on
the public data sets that statsmodels also ships:

* Spector & Mazzeo (1980) grade data, ``statsmodels.datasets.spector`` (N = 32):
  ``discrete/tests/results/results_discrete.py``, class ``Spector`` ("Results are
  from Stata 11"): ``logit grade gpa tuce psi`` and ``probit grade gpa tuce psi``
  (coefficients, OIM covariance) and, for the logit, ``margins, dydx(*)`` /
  ``eydx(*)`` / ``dyex(*)`` / ``eyex(*)`` average marginal effects with
  delta-method SEs, ``margins, dydx(*) at(gpa=2 psi=1)``, and the same after
  refitting with ``i.psi`` (``margeff_dummy_dydx``). ``discrete/tests/results/
  results_glm_logit_constrained.py``: ``glm grade gpa tuce psi, family(binomial)
  vce(robust)``. statsmodels ships no Stata ``margins`` output for the probit.
* Executions data, ``statsmodels.datasets.cpunish`` (N = 17):
  ``genmod/tests/results/results_glm_poisson_weights.py`` (Stata do-file
  ``poisson_weights_v2.do`` next to it): ``glm executions income perpoverty
  perblack LN_VC100k96 south degree, family(poisson)`` with OIM, ``vce(robust)``,
  ``vce(cluster id)``, ``[pweight=fweight] vce(robust)`` and ``[pweight=fweight]
  vce(cluster id)``, and ``regress ... [pweight=fweight], vce(cluster id)``;
  ``id = (_n - mod(_n, 2)) / 2`` and ``fweight`` = 1,1,1,2,2,2,3,3,3,1,... as in
  that do-file.
* Scotland vote data, ``statsmodels.datasets.scotland`` (N = 32):
  ``genmod/tests/results/results_glm.py``, class ``Scotvote``: Gamma GLM with the
  canonical inverse link. That file attributes the fit statistics (llf, aic, bic)
  to Stata but does not say which program printed the coefficients and SEs (7
  significant digits); with the canonical link the observed and expected
  information coincide, so Stata's ``glm, family(gamma) link(power -1)`` (ML,
  OIM, Pearson scale) and R's ``glm`` give the same SEs.

How the two-part package is pointed at one-part results: part-1 checks give the
binary outcome a positive amount when 1 and an intercept-only part 2; part-2
checks stack the data on a copy of itself with outcome 0, so the part-1 probit
has identical covariates in both groups (coefficients 0) and part 2 is exactly
the published GLM on the original rows.

Tolerances (each stated where used): Stata stops Newton at its default
``nrtolerance(1e-5)``; at the published Poisson coefficients the scaled gradient
g'V g is 1e-12, which leaves them up to 1.1e-6 (relative; 7e-7 SEs) from the
exact maximum. So estimates and SEs given to 12-16 digits are compared with
rtol 2e-6; Stata's margins SEs, printed to at most 7 decimals (6-7 significant
digits), get half a unit of the 7th decimal on top (atol 5e-8); the Scotvote values
(7 significant digits) get rtol 1e-6.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from statsmodels.discrete.tests.results import results_glm_logit_constrained as LC
from statsmodels.discrete.tests.results.results_discrete import Spector
from statsmodels.genmod.tests.results import results_glm_poisson_weights as PW
from statsmodels.genmod.tests.results.results_glm import Scotvote

from analysis.twopart import twopm

RTOL = 2e-6  # Stata's nrtolerance(1e-5) stopping point; see module docstring
HALF_7DP = 0.5e-7  # Stata margins SEs printed with at most 7 decimals
SPECTOR_RHS = "GPA TUCE PSI"
CPUNISH_RHS = "INCOME PERPOVERTY PERBLACK LN_VC100k96 SOUTH DEGREE"


def assert_cov(actual, desired, rtol=RTOL):
    """Variances relative; covariances as correlations (absolute)."""
    a, d = np.asarray(actual), np.asarray(desired)
    assert_allclose(np.diag(a), np.diag(d), rtol=rtol)
    s = np.sqrt(np.outer(np.diag(d), np.diag(d)))
    assert_allclose(a / s, d / s, rtol=0, atol=rtol)


@pytest.fixture(scope="module")
def spector():
    df = sm.datasets.spector.load_pandas().data
    df["y"] = df["GRADE"] * (1.0 + 0.1 * np.arange(len(df)))  # part-2 filler
    return df


def fit_part1(df, rhs=SPECTOR_RHS, **kw):
    return twopm(df, "y", rhs, part2="", **kw)


@pytest.mark.parametrize("model", ["probit", "logit"])
def test_spector_binary_coefficients_oim(spector, model):
    """Stata 11 ``logit``/``probit grade gpa tuce psi``: b and OIM V (12 digits)."""
    ref = getattr(Spector, model)
    res = fit_part1(spector, model1=model)
    assert_allclose(res.params["part1"], ref.params, rtol=RTOL)
    assert_cov(res.cov_part1, ref.cov_params)


def test_spector_logit_robust(spector):
    """``glm grade gpa tuce psi, family(binomial) vce(robust)``: Stata's n/(n-1)."""
    ref = LC.results_noconstraint_robust
    res = fit_part1(spector, model1="logit", vce="robust")
    assert_allclose(res.params["part1"], ref.params_table[:, 0], rtol=RTOL)
    assert_cov(res.cov_part1, ref.cov)


@pytest.mark.parametrize("effect", ["dydx", "eydx", "dyex", "eyex"])
def test_spector_logit_margins(spector, effect):
    """``logit grade gpa tuce psi`` + ``margins, {effect}(*)``, psi continuous.

    Estimates given to 14 digits (rtol 2e-6); SEs to <= 7 decimals (+ atol 5e-8).
    """
    res = fit_part1(spector, model1="logit")
    m = res.margins(parts=("part1",), effect=effect).set_index("term")
    m = m.loc[["GPA", "TUCE", "PSI"]]
    est = getattr(Spector.logit, f"margeff_nodummy_{effect}")
    se = getattr(Spector.logit, f"margeff_nodummy_{effect}_se")
    assert_allclose(m["estimate"], est, rtol=RTOL)
    assert_allclose(m["se"], se, rtol=RTOL, atol=HALF_7DP)


def test_spector_logit_margins_at(spector):
    """``margins, dydx(*) at(gpa=2 psi=1)`` and ``at(gpa=mean tuce=21 psi=0)``."""
    res = fit_part1(spector, model1="logit")
    for at, name in [
        ({"GPA": 2.0, "PSI": 1.0}, "atexog1"),
        ({"GPA": spector["GPA"].mean(), "TUCE": 21.0, "PSI": 0.0}, "atexog2"),
    ]:
        m = res.margins(parts=("part1",), at=at).set_index("term")
        m = m.loc[["GPA", "TUCE", "PSI"]]
        est = getattr(Spector.logit, f"margeff_nodummy_{name}")
        se = getattr(Spector.logit, f"margeff_nodummy_{name}_se")
        assert_allclose(m["estimate"], est, rtol=RTOL, err_msg=name)
        assert_allclose(m["se"], se, rtol=RTOL, atol=HALF_7DP, err_msg=name)


def test_spector_logit_margins_factor(spector):
    """``logit grade gpa tuce i.psi`` + ``margins, dydx(*)``: psi 0 -> 1 contrast."""
    res = fit_part1(spector, "GPA TUCE i.PSI", model1="logit")
    m = res.margins(parts=("part1",)).set_index("term").loc[["GPA", "TUCE", "PSI"]]
    assert list(m["level"]) == ["", "", "1"]  # PSI is float; Stata prints 1.psi
    assert_allclose(m["estimate"], Spector.logit.margeff_dummy_dydx, rtol=RTOL)
    assert_allclose(
        m["se"], Spector.logit.margeff_dummy_dydx_se, rtol=RTOL, atol=HALF_7DP
    )


@pytest.fixture(scope="module")
def cpunish():
    df = sm.datasets.cpunish.load_pandas().data
    df["LN_VC100k96"] = np.log(df["VC100k96"])
    df["fweight"] = [1, 1, 1, 2, 2, 2, 3, 3, 3, 1, 1, 1, 2, 2, 2, 3, 3]
    df["id"] = np.arange(1, len(df) + 1) // 2  # (_n - mod(_n, 2)) / 2
    return pd.concat([df, df.assign(EXECUTIONS=0.0)], ignore_index=True)


POISSON_CASES = [
    ("none_nonrobust", {}),
    ("none_hc1", {"vce": "robust"}),
    ("none_clu1", {"vce": "cluster", "cluster": "id"}),
    ("pweight_hc1", {"vce": "robust", "weights": "fweight"}),
    ("pweight_clu1", {"vce": "cluster", "cluster": "id", "weights": "fweight"}),
]


@pytest.mark.parametrize(("name", "kw"), POISSON_CASES)
def test_cpunish_poisson_glm(cpunish, name, kw):
    """Stata ``glm executions ..., family(poisson)`` [pweight] OIM/robust/cluster.

    Robust: n/(n-1); cluster: G/(G-1) (Stata's ``_robust`` for ML commands).
    """
    ref = getattr(PW, f"results_poisson_{name}")
    res = twopm(cpunish, "EXECUTIONS", CPUNISH_RHS, family="poisson", **kw)
    assert res.nobs["part2"] == 17
    assert_allclose(res.params["part1"], 0.0, atol=1e-12)
    assert_allclose(res.params["part2"], ref.params_table[:, 0], rtol=RTOL)
    assert_cov(res.cov_part2, ref.cov)


def test_cpunish_regress_pweight_cluster(cpunish):
    """``regress executions ... [pweight=fweight], vce(cluster id)``.

    Through part 2's OLS on ln(y) with y = exp(executions): G/(G-1)(n-1)/(n-k).
    """
    ref = PW.results_wls_pweight_clu1
    df = cpunish.assign(
        ey=np.where(cpunish.EXECUTIONS > 0, np.exp(cpunish.EXECUTIONS), 0)
    )
    res = twopm(
        df,
        "ey",
        CPUNISH_RHS,
        model2="ols_log",
        vce="cluster",
        cluster="id",
        weights="fweight",
    )
    assert_allclose(res.params["part2"], ref.params_table[:, 0], rtol=RTOL)
    assert_cov(res.cov_part2, ref.cov)


def test_scotland_gamma_glm():
    """Gamma GLM, canonical link, OIM with Pearson scale, ll and AIC (``Scotvote``)."""
    df = sm.datasets.scotland.load_pandas().data
    rhs = " ".join(c for c in df.columns if c != "YES")
    df2 = pd.concat([df, df.assign(YES=0.0)], ignore_index=True)
    res = twopm(df2, "YES", rhs, family="gamma", link="inverse_power")
    ref = Scotvote()
    assert_allclose(res.params["part2"], ref.params, rtol=1e-6)
    assert_allclose(np.sqrt(np.diag(res.cov_part2)), ref.bse, rtol=1e-6)
    assert_allclose(res.fits[1].scale, ref.scale, rtol=1e-6)
    # Stata glm reports the Gamma e(ll) at scale 1; e(aic) = (-2 ll + 2k) / N
    assert res.part2.llf == pytest.approx(ref.llf, rel=1e-6)
    assert res.part2.aic / 32 == pytest.approx(ref.aic_Stata, rel=1e-6)
