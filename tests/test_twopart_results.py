"""Results API of analysis.twopart: statsmodels-shaped accessors, predictions,
predictive margins, fit statistics and summary forms, against R and Stata.

References:

* R, ``tests/r/twopart_reference_conventions.R`` (printed into
  ``tests/results/twopart_r_conventions.py``): predictive margins of part 1,
  part 2 (its positives) and the combined E[y], overall, ``at(f3=c)``,
  ``at(x=30)``, ``over(dd)`` and one per level of f3, with delta-method SEs
  (OIM covariance, numerical Jacobian); ``predict()`` on new rows; ``logLik``,
  ``AIC``, ``BIC`` of the probit and of the log-OLS part. rtol 1e-6.
* Stata, through the results statsmodels ships (``results_discrete.Spector``:
  Stata 11 ``logit``/``probit grade gpa tuce psi`` ``e(ll)``, AIC, BIC and
  confidence intervals; ``results_glm.Scotvote``: ``glm, family(gamma)``
  ``e(ll)`` and Stata's per-observation AIC). Tolerance as in
  ``tests/test_twopart_vs_stata.py``: Stata's nrtolerance(1e-5) stopping point,
  rtol 2e-6; Scotvote printed to 7 digits, rtol 1e-6.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from statsmodels.discrete.tests.results.results_discrete import Spector

from analysis.twopart import twopm
from tests.results import twopart_r_conventions as R

RHS = "i.f3 c.x c.x#c.x i.dd"
RTOL = 1e-6  # R references: project target
STATA_RTOL = 2e-6  # Stata nrtolerance(1e-5); see tests/test_twopart_vs_stata.py


@pytest.fixture(scope="module")
def data():
    return pd.read_csv("tests/results/twopart_data.csv")


@pytest.fixture(scope="module")
def res(data):
    return twopm(data, "y", RHS)


PM_CASES = [
    ("pm", {}),
    ("pm_at_c", {"at": {"f3": "c"}}),
    ("pm_at_x30", {"at": {"x": 30}}),
]


@pytest.mark.parametrize(("name", "kw"), PM_CASES)
def test_predictive_margins_vs_r(res, name, kw):
    m = res.predictive_margins(**kw)
    assert list(m.part) == ["part1", "part2", "combined"]
    assert_allclose(m.estimate, getattr(R, name + "_est"), rtol=RTOL)
    assert_allclose(m.se, getattr(R, name + "_se"), rtol=RTOL)


def test_predictive_margins_over_column_not_in_model(res, data):
    m = res.predictive_margins(over="dd")
    for g in (0, 1):
        sub = m[m.over == g]
        assert_allclose(sub.estimate, getattr(R, f"pm_over_dd{g}_est"), rtol=RTOL)
        assert_allclose(sub.se, getattr(R, f"pm_over_dd{g}_se"), rtol=RTOL)
    # `cl` is not a regressor: Stata's over() takes any variable
    by = res.predictive_margins(parts=("part1",), over="cl")
    sizes = data.cl.value_counts()
    avg = np.average(by.estimate, weights=by.over.map(sizes))
    whole = res.predictive_margins(parts=("part1",)).estimate.iloc[0]
    assert_allclose(avg, whole, rtol=1e-12)  # a mean of group means
    ame = res.margins(["x"], parts=("part1",), over="cl")
    assert len(ame) == data.cl.nunique()


def test_predictive_margins_levels_and_contrast(res):
    m = res.predictive_margins(levels=["f3"], contrast=True)
    lev = m[~m.level.str.contains("vs")]
    order = [(p, lv) for lv in "abc" for p in ("part1", "part2", "combined")]
    got = lev.set_index(["part", "level"]).loc[order]
    assert_allclose(got.estimate, R.pm_levels_est, rtol=RTOL)
    assert_allclose(got.se, R.pm_levels_se, rtol=RTOL)
    con = m[m.level == "c vs a"].set_index("part")
    base = lev[lev.level == "a"].set_index("part").estimate
    top = lev[lev.level == "c"].set_index("part").estimate
    assert_allclose(con.estimate, (top - base).loc[con.index], rtol=1e-12)


def test_predict_vs_r(res, data):
    nd = data.iloc[:5].assign(f3="c", x=data.x.iloc[:5] + 1)
    p1 = res.predict(nd, part="part1")
    p2 = res.predict(nd, part="part2")
    assert_allclose(p1, R.predict_part1, rtol=RTOL)
    assert_allclose(p2, R.predict_part2, rtol=RTOL)
    assert_allclose(res.predict(nd), p1 * p2, rtol=1e-14)
    assert_allclose(res.part1.predict(nd), p1, rtol=1e-14)
    with pytest.raises(ValueError, match="not levels of the fit"):
        res.predict(nd.assign(f3="zz"))


def test_numeric_factor_levels_stay_numeric(data):
    d = data.assign(ddf=data.dd.astype(float))
    r = twopm(d, "y", "i.f3 c.x i.ddf")
    assert "ddf=1" in r.params["part1"].index
    a = r.margins(["x"], parts=("part1",), at={"ddf": 1})
    b = r.margins(["x"], parts=("part1",), at={"ddf": "1"})
    c = twopm(data, "y", "i.f3 c.x i.dd").margins(["x"], parts=("part1",), at={"dd": 1})
    assert_allclose(a.estimate, b.estimate, rtol=0)
    assert_allclose(a.estimate, c.estimate, rtol=1e-12)
    assert r.predict(d.iloc[:3]).notna().all()


def test_statsmodels_shaped_accessors(res):
    ct = res.coef_table("part2")
    p2 = res.part2
    assert_allclose(p2.bse, ct.se, rtol=0)
    assert_allclose(p2.pvalues, ct.p, rtol=0)
    assert_allclose(p2.conf_int()[0], ct.ci_low, rtol=0)
    assert list(res.params.index.names) == ["part", "term"]
    assert_allclose(res.bse["part1"], res.part1.bse, rtol=0)
    assert_allclose(res.cov_params().loc["part2", "part2"], p2.cov_params(), rtol=0)
    assert p2.nobs == 357 and res.part1.nobs == 600
    assert res.llf == pytest.approx(res.part1.llf + res.part2.llf)


def test_fit_statistics_vs_r(data, res):
    assert res.part1.llf == pytest.approx(R.probit_llf[0], rel=RTOL)
    assert res.part1.aic == pytest.approx(R.probit_aic[0], rel=RTOL)
    assert res.part1.bic == pytest.approx(R.probit_bic[0], rel=RTOL)
    ols = twopm(data, "y", RHS, model2="ols_log")
    assert ols.part2.llf == pytest.approx(R.ols_llf[0], rel=RTOL)


@pytest.mark.parametrize("model", ["logit", "probit"])
def test_fit_statistics_vs_stata_spector(model):
    df = sm.datasets.spector.load_pandas().data
    df["y"] = df["GRADE"] * (1.0 + 0.1 * np.arange(len(df)))
    r = twopm(df, "y", "GPA TUCE PSI", part2="", model1=model)
    ref = getattr(Spector, model)
    assert r.part1.llf == pytest.approx(ref.llf, rel=STATA_RTOL)
    assert r.part1.aic == pytest.approx(ref.aic, rel=STATA_RTOL)
    assert r.part1.bic == pytest.approx(ref.bic, rel=STATA_RTOL)
    assert_allclose(r.part1.conf_int(), ref.conf_int, rtol=STATA_RTOL)


def test_summary_forms(res, data):
    s = res.summary()
    assert isinstance(s, str) and s.as_text() == str(s)
    assert "\\begin{tabular}" in s.as_latex() and "<table" in s.as_html()
    assert set(s.tables) == {"Part 1 (P(y>0))", "Part 2 (y | y>0)"}
    d = data.assign(sep=((data.y > 0) & (data.f3 == "a")).astype(float))
    r = twopm(d, "y", "c.x sep")
    assert "sep omitted and 113 obs not used" in r.summary()
    assert "113 obs not used" in r.part1.summary()


def test_formula_interface_equals_factor_notation(data, res):
    r = twopm(data, "y ~ C(f3) + x + I(x**2) + C(dd)")
    assert_allclose(r.params, res.params, rtol=1e-12)
    assert list(r.params.index) == list(res.params.index)
    # a string column is a factor without C(); Treatment() sets the base
    r2 = twopm(data, "y ~ f3 + x", part2="~ C(f3, Treatment('b')) + x")
    assert "f3=b" in r2.params["part1"].index and "f3=a" in r2.params["part2"].index
    with pytest.raises(ValueError, match="constant"):
        twopm(data, "y ~ x - 1")
