"""analysis.twopart against R for the conventions beyond Stata's defaults.

Reference numbers: ``tests/r/twopart_reference_conventions.R`` (R glm to epsilon
1e-14, sandwich 3.0.2), printed into ``tests/results/twopart_r_conventions.py``.

* VCEs: expected information (R ``vcov(glm)``, Stata ``glm, irls``), sandwich's
  ``vcovHC`` HC0/HC1 and ``vcovCL`` defaults (bread: expected information), and
  HC0 with the observed-information bread written out in R;
* R's ``mtcars``: probit and logit of ``vs`` on ``hp wt am``, a model Stata fits
  although six cars have fitted indices of -7 to -16 (nothing is separated);
* a 0/1 regressor that predicts participation: Stata drops it and the rows it
  determines; R's probit on the remaining rows without it is the reference;
* predictive margins (part 1, part 2, combined; ``at()``, ``over()``, factor
  levels) with delta-method SEs from a numerical Jacobian in R, and
  predictions on new data.

Tolerance: rtol 1e-6 (the project target); two converged fits of the same
likelihood and finite-difference Jacobians accurate to ~1e-9 agree far closer.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.twopart import SeparationError, twopm
from tests.results import twopart_r_conventions as R

RHS = "i.f3 c.x c.x#c.x i.dd"
MTCARS_RHS = "hp wt i.am"  # am a factor: its AME is the 0 -> 1 change
RTOL = 1e-6  # project target; see module docstring


def mat(v):
    k = int(round(np.sqrt(len(v))))
    return np.asarray(v).reshape(k, k, order="F")


def assert_cov(actual, desired, rtol=RTOL):
    """Variances relative; covariances as correlations (absolute)."""
    a, d = np.asarray(actual), mat(desired)
    assert_allclose(np.diag(a), np.diag(d), rtol=rtol)
    s = np.sqrt(np.outer(np.diag(d), np.diag(d)))
    assert_allclose(a / s, d / s, rtol=0, atol=rtol)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv("tests/results/twopart_data.csv")


@pytest.fixture(scope="module")
def mtcars():
    df = pd.read_csv("tests/results/mtcars.csv", index_col=0)
    return df.assign(y=df.vs * df.mpg)  # part 2 (intercept only) is filler


VCE_CASES = [
    ("eim", {}, "V_eim"),
    ("irls", {}, "V_eim"),
    ("hc0", {}, "V_hc0"),
    ("hc1", {}, "V_hc1"),
    ("cl", {"cluster": "cl"}, "V_cl"),
    ("hc0", {"bread": "oim"}, "V_hc0_oim"),
]


@pytest.mark.parametrize(("vce", "kw", "name"), VCE_CASES)
def test_vce_conventions_probit_gamma(data, vce, kw, name):
    res = twopm(data, "y", RHS, vce=vce, **kw)
    assert_cov(res.cov_part1, getattr(R, "probit_" + name))
    assert_cov(res.cov_part2, getattr(R, "gamma_" + name))


def test_vce_cl_hc1_is_stata_cluster_times_n_factor(data):
    # vcovCL(type="HC1") = G/(G-1) (n-1)/(n-k): the cl default times (n-1)/(n-k)
    res = twopm(data, "y", RHS, vce="cl", cluster="cl")
    n, k = 600, 6
    assert_cov(res.cov_part1.to_numpy() * (n - 1) / (n - k), R.probit_V_cl_hc1)


@pytest.mark.parametrize(("vce", "name"), [("hc0", "V_hc0"), ("cl", "V_cl")])
def test_vce_conventions_ols(data, vce, name):
    kw = {"cluster": "cl"} if vce == "cl" else {}
    res = twopm(data, "y", RHS, model2="ols_log", vce=vce, **kw)
    assert_cov(res.cov_part2, getattr(R, "ols_" + name))


@pytest.mark.parametrize("model", ["probit", "logit"])
def test_mtcars_fitted_not_refused(mtcars, model):
    res = twopm(mtcars, "y", MTCARS_RHS, part2="", model1=model)
    ref = lambda s: getattr(R, f"mtcars_{model}_{s}")  # noqa: E731
    assert_allclose(res.params["part1"], ref("b"), rtol=RTOL)
    assert_cov(res.cov_part1, ref("V_oim"))
    assert min(ref("index")) < -7  # the cars the old threshold refused
    assert res.omitted == []
    assert res.part1.llf == pytest.approx(ref("llf")[0], rel=RTOL)
    m = res.margins(["hp", "am"], parts=("part1",))
    assert_allclose(m.estimate, ref("ame"), rtol=RTOL)
    assert_allclose(m.se, ref("ame_se"), rtol=RTOL)
    for vce, kw, name in [
        ("eim", {}, "V_eim"),
        ("robust", {}, "V_robust"),
        ("hc1", {}, "V_hc1"),
        ("cl", {"cluster": "cyl"}, "V_cl"),
    ]:
        r = twopm(mtcars, "y", MTCARS_RHS, part2="", model1=model, vce=vce, **kw)
        assert_cov(r.cov_part1, ref(name))


def test_dummy_separation_dropped_as_stata(data):
    d = data.assign(sep=((data.y > 0) & (data.f3 == "a")).astype(float))
    res = twopm(d, "y", "c.x sep")
    (om,) = res.omitted
    assert (om.term, om.reason, om.nobs) == ("sep", "predicts success perfectly", 113)
    assert om.nobs == R.sep_nobs_dropped
    assert res.notes[0] == (
        "note: sep != 0 predicts success perfectly; sep omitted and 113 obs not used"
    )
    assert res.nobs["part1"] == 600 - 113
    b = res.params["part1"]
    assert b["sep"] == 0.0
    assert_allclose(b[["x", "_cons"]], R.sep_probit_b, rtol=RTOL)
    assert_cov(res.cov_part1.loc[["x", "_cons"], ["x", "_cons"]], R.sep_probit_V_oim)
    assert res.cov_part1.loc["sep"].abs().max() == 0.0
    # part 2 keeps its own sample: sep is a regressor there
    assert res.nobs["part2"] == 357 and res.params["part2"]["sep"] != 0.0


def test_continuous_separation_is_an_error(data):
    d = data.assign(z=np.where(data.y > 0, 1.0, -1.0) * (1.0 + data.x))
    with pytest.raises(SeparationError, match=r"outcome = z > -?[\d.]+ predicts data"):
        twopm(d, "y", "c.x c.z", part2="c.x")


def test_combination_separation_reported(data):
    # z1 + z2 > 0 exactly for participants, neither alone separates
    rng = np.random.default_rng(0)
    s = np.where(data.y > 0, 1.0, -1.0) * (0.5 + rng.random(len(data)))
    z1 = rng.normal(size=len(data)) * 5
    d = data.assign(z1=z1, z2=s - z1)
    with pytest.raises(SeparationError, match="combination of regressors"):
        twopm(d, "y", "c.z1 c.z2", model1="logit")
