"""Contrasts of margins, margins at the means, ``dydx`` of a factor ``at()`` fixes.

Reference numbers: ``tests/r/twopart_reference_contrasts.R`` (R glm to epsilon
1e-14), printed into ``tests/results/twopart_r_contrasts.py``: the AMEs of x
(analytic derivative of the predictions) and of the levels of f3 (prediction
differences) in part 1, part 2 and combined (with the extensive/intensive
split), their differences across ``over(dd)`` groups and across ``at(x=20)`` /
``at(x=30)``, and the SEs sqrt(J V J') of those differences with J a
finite-difference Jacobian and V the OIM block covariance computed in R; the
same for margins and predictions at the means (``atmeans``: one design row
with x at its mean, x^2 at the squared mean, factor indicators at their
shares; optionally x fixed by ``at``).

Tolerance: rtol 1e-6 (the project target).
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from analysis.twopart import results as results_module
from analysis.twopart import twopm
from tests.results import twopart_r_contrasts as R

RHS = "i.f3 c.x c.x#c.x i.dd"
RTOL = 1e-6  # project target
VARS = ["x", "f3"]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv("tests/results/twopart_data.csv")


@pytest.fixture(scope="module")
def res(data):
    return twopm(data, "y", RHS, family="gamma", link="log")


def check(frame, name):
    assert len(frame) == len(getattr(R, name + "_est"))
    assert_allclose(frame["estimate"], getattr(R, name + "_est"), rtol=RTOL)
    assert_allclose(frame["se"], getattr(R, name + "_se"), rtol=RTOL)


def test_ames_by_group_match_r(res):
    m = res.margins(VARS, over="dd")
    check(m[m["over"] == 0], "ame_dd0")
    check(m[m["over"] == 1], "ame_dd1")


@pytest.mark.parametrize("fast", [True, False])
def test_contrast_over_groups_matches_r(res, fast):
    c = res.margins(VARS, over="dd", contrast=True, _generic=not fast)
    assert (c["over"] == "1 vs 0").all()
    check(c, "contrast_over_dd")
    assert_allclose(c["z"], c["estimate"] / c["se"], rtol=1e-12)


def test_contrast_over_equals_difference_of_group_margins(res):
    # the estimate is the difference of the two groups' margins (closed form)
    m = res.margins(VARS, over="dd")
    c = res.margins(VARS, over="dd", contrast="over")
    diff = (
        m[m["over"] == 1]["estimate"].to_numpy()
        - m[m["over"] == 0]["estimate"].to_numpy()
    )
    assert_allclose(c["estimate"], diff, rtol=1e-12)


def test_contrast_at_scenarios_matches_r(res):
    c = res.margins(VARS, at=[{"x": 20}, {"x": 30}], contrast=True)
    assert (c["at"] == "x=30 vs x=20").all()
    check(c, "contrast_at_x")


def test_contrast_at_within_groups_matches_r(res):
    c = res.margins(VARS, at=[{"x": 20}, {"x": 30}], over="dd", contrast="at")
    check(c[c["over"] == 1], "contrast_at_x_dd1")


def test_contrast_over_within_scenario_matches_r(res):
    c = res.margins(VARS, at=[{"x": 20}, {"x": 30}], over="dd", contrast="over")
    check(c[c["at"] == "x=30"], "contrast_over_dd_at_x30")


def test_at_list_without_contrast_labels_each_scenario(res):
    m = res.margins(["x"], parts=("part1",), at=[{"x": 20}, {"x": 30}])
    assert list(m["at"]) == ["x=20", "x=30"]
    one = res.margins(["x"], parts=("part1",), at={"x": 30})
    assert_allclose(m["estimate"].iloc[1], one["estimate"].iloc[0], rtol=1e-12)
    assert list(one.columns) == results_module.MARGIN_COLUMNS


def test_dydx_of_factor_fixed_by_at_overrides_its_value(res, data):
    # the factor's own at() value is overridden; the other at() values stay
    fixed = res.margins(["f3"], at={"f3": "c", "x": 30})
    free = res.margins(["f3"], at={"x": 30})
    assert_allclose(fixed["estimate"], free["estimate"], rtol=1e-12)
    assert_allclose(fixed["se"], free["se"], rtol=1e-12)
    # closed form for part 1: mean Phi(x'b | f3=c, x=30) - Phi(x'b | f3=a, x=30)
    b = res.params["part1"]
    base = b["_cons"] + b["x"] * 30 + b["x#x"] * 900 + b["dd=1"] * data.dd
    want = np.mean(norm.cdf(base + b["f3=c"]) - norm.cdf(base))
    got = fixed.query("part == 'part1' and level == 'c'")["estimate"].iloc[0]
    assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"contrast": "over"}, "needs over="),
        ({"contrast": True}, "at least two scenarios"),
        ({"contrast": "at", "at": [{"x": 20}]}, "at least two scenarios"),
        ({"contrast": "bad", "over": "dd"}, "not in"),
        ({"at": []}, "no scenario"),
    ],
)
def test_contrast_errors(res, kw, msg):
    with pytest.raises(ValueError, match=msg):
        res.margins(["x"], **kw)


def test_contrast_over_needs_two_groups(res, data):
    one = np.zeros(len(data))
    with pytest.raises(ValueError, match="two groups"):
        res.margins(["x"], over=one, contrast=True)


def test_predictive_margin_contrasts_match_r(res):
    c = res.predictive_margins(over="dd", contrast="over")
    assert (c["over"] == "1 vs 0").all()
    check(c, "pm_contrast_over_dd")
    c = res.predictive_margins(at=[{"x": 20}, {"x": 30}], contrast="at")
    assert (c["at"] == "x=30 vs x=20").all()
    check(c, "pm_contrast_at_x")
    c = res.predictive_margins(at=[{"x": 20}, {"x": 30}], over="dd", contrast="at")
    check(c[c["over"] == 1], "pm_contrast_at_x_dd1")


def test_predictive_contrast_errors(res):
    with pytest.raises(ValueError, match="needs over="):
        res.predictive_margins(contrast="over")
    with pytest.raises(ValueError, match="at least two scenarios"):
        res.predictive_margins(at={"x": 20}, contrast="at")
    with pytest.raises(ValueError, match="not in"):
        res.predictive_margins(contrast="r")


def test_public_design_and_derivative_predictions(res, data):
    # design_matrix(None) is the fit's design; on the same rows it is rebuilt equal
    X1 = res.design_matrix(part="part1")
    assert np.array_equal(res.design_matrix(data, part="part1"), X1)
    assert list(res.row_labels) == list(data.index)
    b, g = res.params["part1"].to_numpy(), res.params["part2"].to_numpy()
    X2 = res.design_matrix(data.iloc[:7], part="part2")
    # closed forms: probit f = phi(x'b); Gamma-log h' = exp(z'g)
    f = res.predict(data, part="part1", derivative=True)
    assert_allclose(f, norm.pdf(X1 @ b), rtol=1e-14)
    dh = res.predict(data.iloc[:7], part="part2", derivative=True)
    assert_allclose(dh, np.exp(X2 @ g), rtol=1e-14)
    assert np.array_equal(res.participation, (data.y > 0).to_numpy(float))
    assert np.array_equal(res.outcome, data.y.to_numpy())
    assert res.part2.rows.sum() == res.part2.nobs and res.part1.rows.all()
    with pytest.raises(ValueError, match="needs part="):
        res.predict(data, part="combined", derivative=True)
    with pytest.raises(ValueError, match="missing values"):
        res.design_matrix(data.assign(x=np.nan), part="part1")
    with pytest.raises(ValueError, match="not in"):
        res.design_matrix(data, part="combined")


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"at": {"nope": 1}}, "at: 'nope' is not a regressor of the model"),
        ({"at": {"x": "abc"}}, "x is continuous; 'abc' is not a number"),
        ({"at": {"f3": "z"}}, "'z' is not a level of f3"),
        ({"at": 5}, "pass a dict or a list of dicts"),
        ({"at": [{"x": 1}, 2]}, "pass a dict or a list of dicts"),
        ({"variables": ["zz"], "parts": ("part1",)}, r"\['zz'\] are not regressors"),
        ({"variables": "x"}, "pass a list"),
    ],
)
def test_margins_failure_messages(res, kw, msg):
    with pytest.raises(ValueError, match=msg):
        res.margins(**kw)
    if "at" in kw:  # predictive margins check at() the same way
        with pytest.raises(ValueError, match=msg):
            res.predictive_margins(at=kw["at"])


@pytest.mark.parametrize(
    ("at", "name"), [(None, "atmeans"), ({"x": 30}, "atmeans_at_x30")]
)
def test_margins_atmeans_match_r(res, at, name):
    m = res.margins(atmeans=True, at=at)
    e = res.margins(["x"], atmeans=True, at=at, effect="eyex")
    both = pd.concat([m, e], ignore_index=True)
    check(both, name)


def test_atmeans_contrast_over_groups_is_difference(res):
    m = res.margins(["x"], atmeans=True, over="dd")
    c = res.margins(["x"], atmeans=True, over="dd", contrast=True)
    diff = (
        m[m["over"] == 1]["estimate"].to_numpy()
        - m[m["over"] == 0]["estimate"].to_numpy()
    )
    assert_allclose(c["estimate"], diff, rtol=1e-12)


def test_predictive_margins_atmeans_match_r(res):
    check(res.predictive_margins(atmeans=True), "pm_atmeans")
    # level contrasts at the means are the factor's dydx at the means
    pm = res.predictive_margins(atmeans=True, levels=["f3"], contrast=True)
    m = res.margins(["f3"], atmeans=True)
    got = pm[pm["level"].str.contains("vs")]["estimate"].to_numpy()
    want = m[m["component"] == "total"]["estimate"].to_numpy()
    assert_allclose(got, want, rtol=1e-12)
