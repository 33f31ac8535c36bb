"""Closed-form checks, options and error messages of analysis.twopart."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy.stats import norm

import analysis.twopart.inference as inference
from analysis.twopart import (
    ClusterError,
    CollinearityError,
    ConvergenceError,
    MissingDataError,
    OutcomeError,
    PerfectPredictionError,
    fit,
    model,
    twopm,
)
from analysis.twopart.design import parse_regressors
from analysis.twopart.fit import _FAMILIES, _LINKS
from analysis.twopart.newton import glm_factors

RTOL = 1e-10  # same arithmetic done two ways in double precision


@pytest.fixture(scope="module")
def data():
    return pd.read_csv("tests/results/twopart_data.csv")


@pytest.fixture(scope="module")
def res(data):
    return twopm(data, "y", "i.f3 c.x c.x#c.x i.dd")


def _m(m, part, term, comp="total", level=""):
    row = m[
        (m.part == part) & (m.term == term) & (m.component == comp) & (m.level == level)
    ]
    return row.iloc[0]


def test_parse_notation():
    terms = parse_regressors("i.f3 c.x#c.x ib(c).g a##b dd")
    kinds = [[(a.kind, a.var, a.base) for a in t] for t in terms]
    assert kinds[0] == [("f", "f3", None)]
    assert kinds[1] == [("c", "x", None), ("c", "x", None)]
    assert kinds[2] == [("f", "g", "c")]
    assert [len(t) for t in terms[3:6]] == [1, 1, 2]  # a b a#b
    assert kinds[6] == [("c", "dd", None)]
    with pytest.raises(ValueError, match="not valid"):
        parse_regressors("i.f3 2x")


def test_semielasticity_closed_form(res, data):
    # Gamma-log part 2: d ln E[y|y>0]/dx = g_x + 2 g_xx x, averaged over part-2 rows.
    g = res.params["part2"]
    x = data.x[data.y > 0].to_numpy()
    m = res.margins(["x"], parts=("part2",), effect="eydx")
    assert_allclose(m.estimate.iloc[0], np.mean(g["x"] + 2 * g["x#x"] * x), rtol=RTOL)
    m = res.margins(["x"], parts=("part2",), effect="eyex")
    assert_allclose(
        m.estimate.iloc[0], np.mean((g["x"] + 2 * g["x#x"] * x) * x), rtol=RTOL
    )


def test_combined_eydx_and_at(res, data):
    b, g = res.params["part1"], res.params["part2"]
    X = res.designs[0].X
    e1 = X @ b.to_numpy()
    dx1 = b["x"] + 2 * b["x#x"] * data.x.to_numpy()
    dx2 = g["x"] + 2 * g["x#x"] * data.x.to_numpy()
    m = res.margins(["x"], parts=("combined",), effect="eydx")
    want = np.mean(norm.pdf(e1) / norm.cdf(e1) * dx1 + dx2)
    assert_allclose(_m(m, "combined", "x").estimate, want, rtol=RTOL)
    # at(x=30, f3=c): every observation moved there; part-1 derivative in closed form
    m = res.margins(["x"], parts=("part1",), at={"x": 30.0, "f3": "c"})
    Xc = X.copy()
    Xc[:, 0], Xc[:, 1], Xc[:, 2], Xc[:, 3] = 0.0, 1.0, 30.0, 900.0
    want = np.mean(norm.pdf(Xc @ b.to_numpy()) * (b["x"] + 60 * b["x#x"]))
    assert_allclose(m.estimate.iloc[0], want, rtol=RTOL)


def test_over_averages_back(res):
    # An AME is a mean, so group AMEs weighted by group size give it back.
    full = res.margins(["x", "f3"], parts=("part1", "combined"))
    by = res.margins(["x", "f3"], parts=("part1", "combined"), over="dd")
    sizes = res.sample.data["dd"].value_counts()
    by["n"] = by["over"].map(sizes)
    key = ["part", "component", "term", "level"]
    agg = by.groupby(key).apply(lambda g: np.average(g.estimate, weights=g.n))
    merged = full.set_index(key)["estimate"]
    assert_allclose(agg.loc[merged.index].to_numpy(), merged.to_numpy(), rtol=RTOL)


def test_columnwise_semantics(data):
    # Stata 12: x_sq a regressor of its own; dydx(x) ignores the square.
    r = twopm(data, "y", "i.f3 c.x c.x_sq i.dd")
    b = r.params["part1"]
    m = r.margins(["x", "x_sq"], parts=("part1",))
    e1 = r.designs[0].X @ b.to_numpy()
    assert_allclose(
        _m(m, "part1", "x").estimate, np.mean(norm.pdf(e1)) * b["x"], rtol=RTOL
    )
    assert_allclose(
        _m(m, "part1", "x_sq").estimate, np.mean(norm.pdf(e1)) * b["x_sq"], rtol=RTOL
    )


def test_split_adds_up(res):
    m = res.margins(parts=("combined",))
    wide = m.pivot_table(
        index=["term", "level"], columns="component", values="estimate"
    )
    assert_allclose(wide.extensive + wide.intensive, wide.total, rtol=1e-12)


def test_stacked_joint_covariance(data):
    kw = dict(vce="cluster", cluster="cl")
    blk = twopm(data, "y", "i.f3 c.x i.dd", **kw)
    stk = twopm(data, "y", "i.f3 c.x i.dd", joint="stacked", **kw)
    k1 = len(blk.params["part1"])
    # Part-1 block: same scores, same G/(G-1) -> identical to the separate fit.
    assert_allclose(stk.cov.to_numpy()[:k1, :k1], blk.cov_part1.to_numpy(), rtol=1e-10)
    assert np.abs(stk.cov.to_numpy()[:k1, k1:]).max() > 0
    assert np.abs(blk.cov.to_numpy()[:k1, k1:]).max() == 0


def test_statsmodels_robust_convention(data, res):
    # statsmodels HC0 has no n/(n-1); Stata's ML robust does (documented in variance).
    r = twopm(data, "y", "i.f3 c.x c.x#c.x i.dd", vce="robust")
    X, d = r.designs[0].X, r.sample.d
    sm_fit = sm.Probit(d, X).fit(disp=0, cov_type="HC0")
    n = len(d)
    assert_allclose(
        r.cov_part1.to_numpy(), sm_fit.cov_params() * n / (n - 1), rtol=1e-6
    )


def test_summary_and_tables(res):
    text = res.summary()
    assert "Number of obs: part 1 = 600, part 2 = 357" in text
    ct = res.coef_table("part2")
    assert list(ct.columns) == ["term", "estimate", "se", "z", "p", "ci_low", "ci_high"]
    assert ct.term.iloc[-1] == "_cons"


# ----------------------------------------------------------------- errors
def test_outcome_errors(data):
    d = data.copy()
    with pytest.raises(OutcomeError, match="no zeros"):
        twopm(d.assign(y=d.y + 1), "y", "c.x")
    with pytest.raises(OutcomeError, match="no usable positive"):
        twopm(d.assign(y=0.0), "y", "c.x")
    with pytest.raises(OutcomeError, match="1 negative"):
        twopm(d.assign(y=np.where(d.index == 3, -1.0, d.y)), "y", "c.x")


def test_missing_raise_and_drop(data):
    d = data.copy()
    d.loc[:4, "x"] = np.nan
    pos = d.index[d.y > 0][5:8]
    d.loc[pos, "y"] = np.nan
    d["part"] = (data.y > 0).astype(int)
    with pytest.raises(MissingDataError, match=r"x \(5\)"):
        twopm(d, "y", "c.x i.f3", participation="part")
    r = twopm(d, "y", "c.x i.f3", participation="part", missing="drop")
    assert r.dropped["part 1"] == {"x": 5}
    assert r.dropped["part 2"] == {"y": 3}
    assert r.nobs["part1"] == 595
    assert "Dropped for missing values (part 2): y: 3" in r.summary()


def test_separation_and_collinearity(data):
    # a 0/1 regressor that predicts participation is dropped (Stata), not an
    # error: see tests/test_twopart_conventions.py; a separating continuous
    # regressor is an error (Stata r(2000)), a PerfectPredictionError
    d = data.assign(z=np.where(data.y > 0, 2.0, 1.0) + 0.1 * (data.f3 == "a"))
    with pytest.raises(PerfectPredictionError, match="outcome = z > 1.1 predicts"):
        twopm(d, "y", "c.x c.z")
    with pytest.raises(CollinearityError, match="collinear"):
        twopm(data.assign(x2=2 * data.x), "y", "c.x c.x2")


def test_cluster_errors(data):
    with pytest.raises(ClusterError, match="1 cluster"):
        twopm(data.assign(one=1), "y", "c.x", vce="cluster", cluster="one")
    with pytest.raises(ValueError, match="vce='cluster' needs"):
        twopm(data, "y", "c.x", vce="cluster")
    with pytest.raises(ValueError, match="'bogus'"):
        twopm(data, "y", "c.x", vce="bogus")


def test_nonconvergence_raises(data, monkeypatch):
    """An iteration cap too small to converge raises, naming the part."""
    rhs = "i.f3 c.x c.x#c.x i.dd"
    monkeypatch.setattr(fit, "MAXITER", 1)
    with pytest.raises(ConvergenceError, match="part 1 logit did not converge"):
        twopm(data, "y", rhs, model1="logit")
    monkeypatch.setattr(fit, "MAXITER", 100)
    fit_part1 = model.fit_part1

    def part1_then_cap(*args):
        out = fit_part1(*args)
        monkeypatch.setattr(fit, "MAXITER", 1)
        return out

    monkeypatch.setattr(model, "fit_part1", part1_then_cap)
    with pytest.raises(ConvergenceError, match="part 2 glm gamma/log did not"):
        twopm(data, "y", rhs)


def test_nonconvergence_raises_on_the_newton_path(data, monkeypatch):
    """The same iteration cap holds where the fit takes the numpy Newton path."""
    monkeypatch.setattr(fit, "LARGE", 0)
    monkeypatch.setattr(fit, "MAXITER", 1)
    with pytest.raises(ConvergenceError, match="part 1 logit did not converge"):
        twopm(data, "y", "i.f3 c.x c.x#c.x i.dd", model1="logit")


NEWTON_CASES = [
    {},
    {"model1": "logit", "vce": "robust"},
    {"family": "gaussian", "link": "identity"},
    {"family": "inverse_gaussian", "link": "log"},
    {"family": "poisson", "link": "log", "vce": "cluster", "cluster": "cl"},
    {"vce": "survey", "psu": "psu", "strata": "stratum", "weights": "w"},
    {"model2": "ols_log", "vce": "robust", "weights": "w"},
]


@pytest.mark.parametrize("kw", NEWTON_CASES)
def test_numpy_newton_equals_statsmodels(data, monkeypatch, kw):
    """The large-N numpy Newton path gives statsmodels' estimates (1e-10)."""
    rhs = "i.f3 c.x c.x#c.x i.dd"
    ref = twopm(data, "y", rhs, **kw)
    monkeypatch.setattr(fit, "LARGE", 0)
    new = twopm(data, "y", rhs, **kw)
    for part in ("part1", "part2"):
        assert_allclose(new.params[part], ref.params[part], rtol=1e-10, atol=1e-13)
    assert_allclose(new.cov, ref.cov, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    ("family", "link"),
    [
        ("gamma", "log"),
        ("gamma", "inverse_power"),
        ("gaussian", "identity"),
        ("binomial", "logit"),
        ("binomial", "probit"),
        ("binomial", "cloglog"),
        ("poisson", "log"),
        ("inverse_gaussian", "log"),
    ],
)
def test_glm_factors_equal_statsmodels(data, family, link):
    """Score and observed-information factors as statsmodels' GLM computes them."""

    pos = data[data.y > 0]
    y = (pos["ratio"] if family == "binomial" else pos["y"] / 1000).to_numpy()
    X = np.column_stack([np.ones(len(pos)), pos["x"] / 40, pos["dd"]])
    fam = _FAMILIES[family](_LINKS[link]())
    b = {"log": [0.1, 0.2, -0.1], "identity": [1.0, 0.5, 0.1]}.get(
        link, [0.5, 0.1, -0.1]
    )
    b = np.asarray(b)
    model = sm.GLM(y, X, family=fam)
    u, a, mu = glm_factors(fam, y, X @ b)
    assert_allclose(u, model.score_factor(b, scale=1.0), rtol=1e-12)
    assert_allclose(a, model.hessian_factor(b, scale=1.0), rtol=1e-12)
    assert_allclose(mu, model.predict(b), rtol=1e-14)


@pytest.mark.parametrize(
    "fit_kw, margins_kw",
    [
        ({}, {}),
        ({}, {"over": "dd", "effect": "eyex", "variables": ["x"]}),
        ({}, {"over": "dd"}),
        ({}, {"part2_sample": "all", "at": {"x": 0.5}}),
        ({"vce": "cluster", "cluster": "cl", "weights": "w"}, {}),
    ],
)
def test_blocked_margins_equal_unblocked(data, monkeypatch, fit_kw, margins_kw):
    # Margins in row blocks (large N) add up to the one-pass computation.
    r = twopm(data, "y", "i.f3 c.x c.x#c.x i.dd", **fit_kw)
    one = r.margins(**margins_kw)
    monkeypatch.setattr(inference, "MARGIN_BLOCK_ROWS", 97)  # N = 600: 7 blocks
    blocked = r.margins(**margins_kw)
    labels = ["part", "component", "term", "level"]
    pd.testing.assert_frame_equal(one[labels], blocked[labels])
    assert_allclose(blocked.estimate, one.estimate, rtol=RTOL, atol=1e-14)
    assert_allclose(blocked.se, one.se, rtol=RTOL, atol=1e-14)
