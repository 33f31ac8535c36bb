"""Recovery of known AMEs by simulation (fixed design, outcomes redrawn).

With the regressors held fixed, the true AME is the sample mean of the effect at the
true parameters, so it is known exactly. Checks, over R draws: the mean estimate is
within 3 Monte-Carlo standard errors of the truth, and the mean delta-method SE is
within 10% of the Monte-Carlo SD (``slow``, R=400: SD known to ~3.5%) or 20% (default,
R=80: SD known to ~8%).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.twopart import twopm

B1 = {"f3=b": 0.4, "x": 0.5, "dd": -0.3, "_cons": 0.1}
B2 = {"f3=b": 0.3, "x": 0.2, "dd": 0.25, "_cons": 1.0}
SHAPE = 2.0


def design(n, rng):
    return pd.DataFrame(
        {
            "f3": rng.choice(["a", "b"], n),
            "x": rng.normal(size=n),
            "dd": rng.integers(0, 2, n).astype(float),
        }
    )


def indexes(df):
    fb = (df.f3 == "b").to_numpy(float)
    x, dd = df.x.to_numpy(), df.dd.to_numpy()
    e1 = B1["f3=b"] * fb + B1["x"] * x + B1["dd"] * dd + B1["_cons"]
    e2 = B2["f3=b"] * fb + B2["x"] * x + B2["dd"] * dd + B2["_cons"]
    return e1, e2


def true_ames(df):
    """Exact combined AMEs at the true parameters: x (derivative) and f3 b vs a."""
    e1, e2 = indexes(df)
    dx = np.mean(
        norm.pdf(e1) * B1["x"] * np.exp(e2) + norm.cdf(e1) * np.exp(e2) * B2["x"]
    )
    fb = (df.f3 == "b").to_numpy(float)
    e1a, e2a = e1 - B1["f3=b"] * fb, e2 - B2["f3=b"] * fb
    e1b, e2b = e1a + B1["f3=b"], e2a + B2["f3=b"]
    df3 = np.mean(norm.cdf(e1b) * np.exp(e2b) - norm.cdf(e1a) * np.exp(e2a))
    return np.array([dx, df3])


def run(reps, n=1500, seed=7):
    rng = np.random.default_rng(seed)
    df = design(n, rng)
    e1, e2 = indexes(df)
    est, se = [], []
    for _ in range(reps):
        part = rng.normal(size=n) + e1 > 0
        amount = np.exp(e2) * rng.gamma(SHAPE, 1 / SHAPE, n)
        df["y"] = np.where(part, amount, 0.0)
        m = twopm(df, "y", "i.f3 c.x dd").margins(parts=("combined",))
        m = m[m.component == "total"].set_index("term")
        est.append(m.loc[["x", "f3"], "estimate"].to_numpy())
        se.append(m.loc[["x", "f3"], "se"].to_numpy())
    return true_ames(df), np.array(est), np.array(se)


def check(reps, se_tol):
    truth, est, se = run(reps)
    mc_sd = est.std(axis=0, ddof=1)
    assert np.all(np.abs(est.mean(axis=0) - truth) < 3 * mc_sd / np.sqrt(reps))
    ratio = se.mean(axis=0) / mc_sd
    assert np.all(np.abs(ratio - 1) < se_tol), ratio


def test_recovery_light():
    check(80, 0.20)


@pytest.mark.slow
def test_recovery_full():
    check(400, 0.10)
