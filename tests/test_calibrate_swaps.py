"""The covariate exchanges that finish the probit calibration (covariate_exchanges).

Checked on the shipped frame: the predicted effect of an exchange on the 29 probit
deviations against exact refits, and that an exchange moves no published count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.synth import outcomes
from analysis.synth.calibration import covariate_exchanges, participation
from analysis.synth.calibration.cells import TERMS


@pytest.fixture(scope="module")
def problem(master_draw):
    frame = master_draw[0].copy()
    frame = frame.assign(
        column=np.where(frame["scheme"].astype(str) == "NCMS", "ncms", "urban")
    )
    x = outcomes.design_matrix(frame)
    p = participation.ProbitProblem(frame, x, np.zeros(len(frame)))
    return p, frame, frame["reimbursed"].to_numpy()


@pytest.mark.parametrize("factor", covariate_exchanges.FACTORS)
def test_predicted_exchange_effect_matches_exact_refits(problem, factor):
    p, frame, y = problem
    fits = p.fits(y)
    r0 = p.dev(fits)
    idx = [k for k, t in enumerate(TERMS) if t.startswith(factor + ":")]
    level = frame[factor].astype(str).to_numpy()
    col = frame["column"].to_numpy()
    rng = np.random.default_rng(5)
    checked, largest = 0, 0.0
    while checked < 8:
        i, j = (int(v) for v in rng.integers(0, len(frame), 2))
        if col[i] != col[j] or y[i] != y[j] or level[i] == level[j]:
            continue
        pred = covariate_exchanges._predicted(
            p, fits, int(y[i]), np.array([i]), np.array([j]), idx
        )[0]
        covariate_exchanges._exchange(p, frame, factor, i, j)
        exact = p.dev(p.fits(y)) - r0
        covariate_exchanges._exchange(p, frame, factor, i, j)  # back
        # one exchange moves cells by up to a few tenths of an SE; the one-step
        # prediction is good to a few thousandths (measured max 0.003)
        assert np.max(np.abs(pred - exact)) < 0.02
        largest = max(largest, float(np.max(np.abs(exact))))
        checked += 1
    assert largest > 0.04  # the exchanges checked move cells well beyond the tolerance
    np.testing.assert_allclose(p.dev(p.fits(y)), r0, atol=1e-12)


def test_exchange_keeps_every_published_count(problem):
    p, frame, y = problem
    before = frame.copy()
    col = frame["column"].to_numpy()
    scope = frame["scope"].astype(str).to_numpy()
    ncms_reimbursed = (col == "ncms") & (y == 1)
    i = int(np.flatnonzero(ncms_reimbursed & (scope == "across_provinces"))[0])
    j = int(
        np.flatnonzero(
            (col == "ncms") & (y == 1) & (scope == "within_city_across_counties")
        )[0]
    )
    covariate_exchanges._exchange(p, frame, "scope", i, j)
    try:
        assert frame["scope"].iloc[i] != before["scope"].iloc[i]
        for keys in (["column", "scope"], ["scope", "reimbursed"]):
            pd.testing.assert_series_equal(
                frame.groupby(keys, observed=True).size(),
                before.groupby(keys, observed=True).size(),
            )
    finally:
        covariate_exchanges._exchange(p, frame, "scope", i, j)
