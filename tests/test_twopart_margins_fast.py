"""The vectorised default margins (``fastmargins``) equal the generic path.

Both compute the same formulas (``analysis.twopart.margins``); the vectorised path
evaluates all levels of a factor and all continuous variables of a block of rows
as matrices. On a simulated sample of N = 20,000 with factors (string and integer
levels, a non-first base, a binary), a factor-by-continuous interaction (whose
counterfactual columns vary by row), a product term c.age#c.age, a precomputed
age_sq column, regressors in one part only, weights, ``over`` groups and both
part-2 averaging samples, estimates and delta-method SEs agree to 1e-10
(relative), with the rows in the same order and with the same labels.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import analysis.twopart.fastmargins as fastmargins
import analysis.twopart.inference as inference
import analysis.twopart.results as results
from analysis.twopart import twopm

RTOL = 1e-10
N = 20_000
LABELS = ["part", "component", "term", "level", "contrast", "effect"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261123)
    df = pd.DataFrame(
        {
            "f3": rng.choice(["a", "b", "c"], N),
            "f4": rng.integers(1, 5, N),
            "g": rng.integers(0, 5, N),
            "bin": rng.integers(0, 2, N),
            "x": rng.normal(size=N),
            "age": rng.integers(18, 65, N).astype(float),
            "w": rng.uniform(0.5, 2.0, N),
            "cl": rng.integers(0, 200, N),
        }
    )
    df["age_sq"] = df.age**2
    a = (df.age - 40.0) / 10.0
    e1 = (
        0.3 * (df.f3 == "b")
        - 0.2 * (df.f3 == "c")
        + 0.1 * df.f4
        + 0.15 * df.g
        - 0.3 * df.bin
        + 0.4 * df.x
        - 0.2 * a
        + 0.1 * a**2
        - 0.5
    )
    e2 = 6.0 + 0.2 * (df.f3 == "c") + 0.05 * df.f4 + 0.1 * df.x * (df.f4 > 2) + 0.1 * a
    part = rng.normal(size=N) + e1 > 0
    df["y"] = np.where(part, np.exp(e2) * rng.gamma(1.5, 1 / 1.5, N), 0.0)
    return df


RHS1 = "i.f3 i.f4 ib(3).g i.bin c.x i.f4#c.x c.age c.age#c.age"
RHS2 = "i.f3 i.f4 c.x i.f4#c.x c.age c.age_sq"

CASES = {
    "probit_gamma": ({}, {}),
    "probit_gamma_all_over": ({}, {"part2_sample": "all", "over": "bin"}),
    "logit_gaussian_weights": (
        {
            "model1": "logit",
            "family": "gaussian",
            "link": "identity",
            "weights": "w",
            "vce": "robust",
        },
        {"over": "f3"},
    ),
    "probit_olslog_cluster": (
        {"model2": "ols_log", "vce": "cluster", "cluster": "cl"},
        {"variables": ["age", "g", "f4", "age"], "parts": ("combined", "part1")},
    ),
    "probit_gamma_part2_only": ({}, {"variables": ["f3", "age_sq", "x"]}),
}


@pytest.mark.parametrize("block", [None, 4096])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_margins_equal_generic(data, monkeypatch, case, block):
    fit_kw, margins_kw = CASES[case]
    res = twopm(data, "y", RHS1, RHS2, **fit_kw)
    if block is not None:  # N = 20,000 in 5 blocks, part-2 rows split unevenly
        monkeypatch.setattr(inference, "MARGIN_BLOCK_ROWS", block)
    calls = []
    real = fastmargins.fast_margins
    monkeypatch.setattr(results, "fast_margins", lambda *a: calls.append(1) or real(*a))
    fast = res.margins(**margins_kw)
    assert calls, "the vectorised path was not taken"
    generic = res.margins(**margins_kw, _generic=True)
    cols = LABELS + (["over"] if "over" in margins_kw else [])
    pd.testing.assert_frame_equal(fast[cols], generic[cols])
    for col in ("estimate", "se", "z", "ci_low", "ci_high"):
        want = generic[col].to_numpy()
        # a margin that is zero by construction (a part without the variable)
        # is zero up to rounding in both paths
        atol = 1e-14 * np.nanmax(np.abs(want))
        assert_allclose(fast[col].to_numpy(), want, rtol=RTOL, atol=atol)
    assert (generic.se > 0).sum() > 0.8 * len(generic)


def test_other_requests_use_the_generic_path(data, monkeypatch):
    # elasticities and at() keep the per-scenario path
    res = twopm(data.iloc[:3000], "y", RHS1, RHS2)
    monkeypatch.setattr(
        results, "fast_margins", lambda *a: pytest.fail("vectorised path taken")
    )
    res.margins(["x"], effect="eydx")
    res.margins(["x", "f3"], at={"age": 30.0})
