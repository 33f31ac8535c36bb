"""Beta regression of the ratio: against R, by simulation, and the AME convention.

R reference: ``tests/r/betareg_reference.R`` (R's ``dbeta`` maximised by
``optim``, observed information and delta method by ``numDeriv``), printed to
``tests/results/betareg_r.py``, on the shared test data set's ratio, as it is
and with 12 ratios moved onto the boundary (Smithson-Verkuilen squeeze).
"""

import numpy as np
import pandas as pd
import pytest
from results import betareg_r as R

from analysis.beyond import betareg
from analysis.twopart import twopm

DATA = "tests/results/twopart_data.csv"
COLUMNS = ["f3_b", "f3_c", "x", "x_sq", "dd"]
NAMES = [*COLUMNS, "_cons", "ln_phi"]


@pytest.fixture(scope="module")
def shared():
    d = pd.read_csv(DATA)
    d = d[d["ratio"] > 0].reset_index(drop=True)
    X = pd.DataFrame(
        {
            "f3_b": (d["f3"] == "b").astype(float),
            "f3_c": (d["f3"] == "c").astype(float),
            "x": d["x"],
            "x_sq": d["x_sq"],
            "dd": d["dd"].astype(float),
        }
    )
    return d["ratio"].to_numpy(), X


def boundary_copy(y: np.ndarray) -> np.ndarray:
    """As the R script: ratios >= 0.9 set to 1, <= 0.05 set to 0."""
    return np.where(y >= 0.9, 1.0, np.where(y <= 0.05, 0.0, y))


@pytest.mark.parametrize("case", ["plain", "boundary"])
def test_beta_regression_matches_r(shared, case):
    y, X = shared
    if case == "boundary":
        y = boundary_copy(y)
    bf = betareg.fit(y, X)
    assert bf.n == R.n
    assert bf.boundary == (R.boundary_count if case == "boundary" else 0)
    ref = lambda name: np.asarray(getattr(R, f"{case}_{name}"))  # noqa: E731
    # both optima are at |score| < 1e-9: coefficients agree to the optimiser
    np.testing.assert_allclose(bf.params[NAMES], ref("params"), rtol=1e-7)
    # R's covariance inverts a numDeriv Hessian (relative error ~1e-8 or less)
    se = np.sqrt(np.diag(bf.cov.loc[NAMES, NAMES]))
    np.testing.assert_allclose(se, ref("se"), rtol=1e-6)
    ame = betareg.ames(bf).set_index("term").loc[COLUMNS]
    np.testing.assert_allclose(ame["estimate"], ref("ame"), rtol=1e-7)
    np.testing.assert_allclose(ame["se"], ref("ame_se"), rtol=1e-6)


def test_boundary_rows_are_squeezed_not_dropped(shared):
    y, X = shared
    yb = boundary_copy(y)
    z, count = betareg.squeeze(yb)
    n = yb.size
    assert count == 12 and z.size == n
    np.testing.assert_allclose(z, (yb * (n - 1) + 0.5) / n, rtol=0, atol=1e-15)
    assert 0 < z.min() and z.max() < 1
    bf = betareg.fit(yb, X)
    assert bf.scale == pytest.approx(n / (n - 1), rel=1e-15)
    assert "12 of 357 ratios at 0 or 1" in bf.note()
    # without boundary values the data are fitted as they are
    same, none = betareg.squeeze(y)
    assert none == 0
    np.testing.assert_array_equal(same, y)
    with pytest.raises(ValueError, match="proportions"):
        betareg.squeeze(np.array([0.2, 1.1]))


def test_recovers_known_parameters_and_ames():
    rng = np.random.default_rng(20261206)
    n = 20_000
    x = rng.normal(size=n)
    dummy = (rng.uniform(size=n) < 0.4).astype(float)
    b = np.array([0.5, -0.4, 0.2])  # x, dummy, _cons
    phi = 8.0
    eta = b[0] * x + b[1] * dummy + b[2]
    mu = 1 / (1 + np.exp(-eta))
    y = rng.beta(mu * phi, (1 - mu) * phi)
    X = pd.DataFrame({"x": x, "dummy": dummy})
    bf = betareg.fit(y, X)
    se = np.sqrt(np.diag(bf.cov))
    truth = np.r_[b, np.log(phi)]
    assert np.all(np.abs(bf.params.to_numpy() - truth) < 4 * se)
    # true AMEs on these covariates: mean mu (1 - mu) b_k
    true_ame = np.mean(mu * (1 - mu)) * b[:2]
    ame = betareg.ames(bf).set_index("term")
    assert np.all(np.abs(ame["estimate"].to_numpy() - true_ame) < 4 * ame["se"])


def test_ames_follow_the_fractional_logits_convention():
    # given the same logit-mean coefficients and covariance, the AMEs and their
    # delta-method SEs equal the package's part-2 margins of a fractional logit
    d = pd.read_csv(DATA).assign(
        f3_b=lambda t: (t["f3"] == "b").astype(float),
        f3_c=lambda t: (t["f3"] == "c").astype(float),
        dd=lambda t: t["dd"].astype(float),
    )
    res = twopm(
        d, "ratio", part1=" ".join(f"c.{c}" for c in COLUMNS), model1="probit",
        model2="glm", family="binomial", link="logit", vce="robust",
    )  # fmt: skip
    margins = res.margins(parts=("part2",)).set_index("term").loc[COLUMNS]
    labels = [*COLUMNS, "_cons", "ln_phi"]
    part2 = [f"part2:{t}" for t in labels[:-1]]
    cov = np.zeros((len(labels), len(labels)))
    cov[:-1, :-1] = res.cov.loc[part2, part2].to_numpy()
    rows = d["ratio"] > 0
    bf = betareg.BetaFit(
        params=pd.Series([*res.params["part2"][labels[:-1]], 0.0], index=labels),
        cov=pd.DataFrame(cov, index=labels, columns=labels),
        X=d.loc[rows, COLUMNS].assign(_cons=1.0),
        n=int(rows.sum()),
        boundary=0,
        scale=1.0,
    )
    ame = betareg.ames(bf).set_index("term").loc[COLUMNS]
    np.testing.assert_allclose(ame["estimate"], margins["estimate"], rtol=1e-10)
    np.testing.assert_allclose(ame["se"], margins["se"], rtol=1e-8)
