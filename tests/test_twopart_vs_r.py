"""analysis.twopart against independent R computations (tests/r/twopart_reference.R).

Tolerances: coefficients and covariances come from two converged ML/OLS fits of
the same likelihood (R IRLS to epsilon 1e-14, statsmodels Newton), so they agree to
~1e-9; rtol 1e-6 is the project target. AME SEs in R use central finite
differences (step 1e-6) for the Jacobian, accurate to ~1e-9 relative; rtol 1e-6.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.twopart import twopm
from tests.results import twopart_r as R

RHS = "i.f3 c.x c.x#c.x i.dd"
RTOL = 1e-6  # project target; observed agreement is ~1e-9 (see module docstring)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv("tests/results/twopart_data.csv")


def mat(v):
    k = int(round(np.sqrt(len(v))))
    return np.asarray(v).reshape(k, k, order="F")


def assert_cov(actual, desired, rtol=RTOL):
    """Variances to ``rtol``; covariances as correlations to ``rtol`` absolute, since
    near-zero covariances (cancellation) carry no relative precision."""
    a, d = np.asarray(actual), np.asarray(desired)
    assert_allclose(np.diag(a), np.diag(d), rtol=rtol)
    s = np.sqrt(np.outer(np.diag(d), np.diag(d)))
    assert_allclose(a / s, d / s, rtol=0, atol=rtol)


@pytest.fixture(scope="module")
def fits(data):
    out = {}
    for vce in ("oim", "robust", "cluster"):
        kw = {"cluster": "cl"} if vce == "cluster" else {}
        out[vce] = twopm(data, "y", RHS, vce=vce, **kw)
        out["ols_" + vce] = twopm(data, "y", RHS, model2="ols_log", vce=vce, **kw)
    return out


def test_coefficients(fits):
    r = fits["oim"]
    assert_allclose(r.params["part1"], R.probit_b, rtol=RTOL)
    assert_allclose(r.params["part2"], R.gamma_b, rtol=RTOL)
    assert_allclose(r.fits[1].scale, R.gamma_phi, rtol=RTOL)
    assert_allclose(fits["ols_oim"].params["part2"], R.ols_b, rtol=RTOL)
    assert_allclose(
        fits["ols_oim"].fits[1].extra["smearing_factor"], R.ols_duan, rtol=RTOL
    )


@pytest.mark.parametrize("vce", ["oim", "robust", "cluster"])
def test_covariances(fits, vce):
    r, o = fits[vce], fits["ols_" + vce]
    assert_cov(r.cov_part1, mat(getattr(R, f"probit_V_{vce}")))
    assert_cov(r.cov_part2, mat(getattr(R, f"gamma_V_{vce}")))
    assert_cov(o.cov_part2, mat(getattr(R, f"ols_V_{vce}")))


def test_logit_cluster_matches_sandwich_vcovcl(data):
    r = twopm(data, "y", RHS, model1="logit", vce="cluster", cluster="cl")
    assert_allclose(r.params["part1"], R.logit_b, rtol=RTOL)
    assert_cov(r.cov_part1, mat(R.logit_V_cluster))
    r = twopm(data, "y", RHS, model1="logit")
    assert_cov(r.cov_part1, mat(R.logit_V_oim))


def _pick(m, part, term, level="", comps=("total",)):
    sel = m[(m.part == part) & (m.term == term) & (m.level == level)]
    sel = sel.set_index("component").loc[list(comps)]
    return sel["estimate"].to_numpy(), sel["se"].to_numpy()


def test_margins(fits):
    m = fits["oim"].margins()
    three = ("total", "extensive", "intensive")
    cases = [
        ("part1", "x", "", ("total",), "ame_p1_x"),
        ("part1", "f3", "c", ("total",), "ame_p1_c"),
        ("part2", "x", "", ("total",), "ame_p2_x"),
        ("part2", "f3", "c", ("total",), "ame_p2_c"),
        ("combined", "x", "", three, "ame_comb_x"),
        ("combined", "f3", "c", three, "ame_comb_c"),
        ("combined", "dd", "1", three, "ame_comb_dd"),
    ]
    for part, term, level, comps, name in cases:
        est, se = _pick(m, part, term, level, comps)
        assert_allclose(est, getattr(R, name + "_est"), rtol=RTOL, err_msg=name)
        assert_allclose(se, getattr(R, name + "_se_oim"), rtol=RTOL, err_msg=name)


def test_survey(data):
    kw = dict(vce="survey", psu="psu", strata="stratum", weights="w")
    r = twopm(data, "y", RHS, model1="logit", **kw)
    assert_allclose(r.params["part1"], R.svy_logit_b, rtol=RTOL)
    assert_cov(r.cov_part1, mat(R.svy_logit_V))
    r = twopm(data, "y", RHS, joint="stacked", **kw)
    assert_allclose(r.params["part1"], R.svy_probit_b, rtol=RTOL)
    assert_allclose(r.params["part2"], R.svy_gamma_b, rtol=RTOL)
    assert_cov(r.cov, mat(R.svy_joint_V))


def test_fractional_logit_part2_robust(data):
    """Part 2 a binomial GLM (fractional logit) of the ratio, robust SEs.

    R: glm(quasibinomial) + sandwich::vcovHC(HC0) * n/(n-1); AME Jacobians by
    central differences, as the other margins.
    """
    r = twopm(data, "ratio", RHS, family="binomial", link="logit", vce="robust")
    assert r.fits[1].scale == 1.0
    assert_allclose(r.params["part2"], R.frac_b, rtol=RTOL)
    assert_cov(r.cov_part2, mat(R.frac_V_robust))
    m = r.margins(["x", "f3"], parts=("part2", "combined"))
    three = ("total", "extensive", "intensive")
    cases = [
        ("part2", "x", "", ("total",), "frac_p2_x"),
        ("part2", "f3", "c", ("total",), "frac_p2_c"),
        ("combined", "x", "", three, "frac_comb_x"),
    ]
    for part, term, level, comps, name in cases:
        est, se = _pick(m, part, term, level, comps)
        assert_allclose(est, getattr(R, name + "_est"), rtol=RTOL, err_msg=name)
        assert_allclose(se, getattr(R, name + "_se_robust"), rtol=RTOL, err_msg=name)
