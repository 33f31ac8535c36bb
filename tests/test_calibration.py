"""The synthetic frame, fitted by the pipeline's own models, against Tables 3-4.

What is asserted is what the generator achieves today (docs/calibration.md): the
pipeline's fit_all runs on the frame (no perfectly predicted cell), the probit column
(participation calibration) is close to the published cells, and the amount and ratio
GLMs (score-preserving calibration with SE shaping, calibration/glm_scores.py)
meet every point, SE and star of Tables 3-4, and the overall targets hold (the outer
loop over draws of ``synthesize_analytic`` keeps a draw whose probit SEs and stars meet
them; seeds 1-3 in tests/test_calibration_seeds.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.exhibits import report
from analysis.paper import estimates, models
from analysis.paper import published as published_tables
from analysis.synth.analytic import model_frame
from analysis.synth.calibration import glm_scores, score_equations


@pytest.fixture(scope="module")
def verdicts(master_draw) -> pd.DataFrame:
    frame = master_draw[0].copy()
    cells = estimates.paper_cells(estimates.fit_all(model_frame(frame)))
    conflicts = published_tables.read("inconsistencies")
    return report.cell_verdicts(cells, conflicts)


def test_every_published_cell_is_estimated(verdicts):
    probit = verdicts[verdicts["equation"] == "probit"]
    assert len(probit) == 30
    assert probit["estimate"].notna().all()


def test_probit_points_close(verdicts):
    probit = verdicts[(verdicts["equation"] == "probit") & verdicts["dev_se"].notna()]
    assert probit["dev_se"].abs().max() < 0.3
    assert (probit["dev_se"].abs() <= 0.1).mean() >= 0.85


def test_scheme_cells_met_under_derivative_reading(verdicts):
    """C13 re-examined: with 470/308 exact, URBMI/UEBMI are met (derivative AMEs)."""
    rows = verdicts[
        (verdicts["sample"] == "total") & (verdicts["equation"] == "probit")
    ]
    rows = rows[rows["term"].isin(["URBMI", "UEBMI"])]
    assert (rows["dev_se"].abs() <= 0.1).all()


def test_semantics_default_is_columnwise():
    assert models.regressors.__defaults__[0] == "columnwise"


def test_glm_points_met(verdicts):
    """Score-preserving calibration (glm_scores): every
    amount and ratio cell of Tables 3-4 within 0.1 published SE (age_sq: rounds to
    0.000)."""
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert len(glm) == 60
    assert glm["point_ok"].all()


def test_glm_stars(verdicts):
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["stars_ok"].mean() >= 0.95


def test_glm_se_share_meets_the_target(verdicts):
    """The SE share target on the GLM cells (measured 60/60 within 15% on the shipped
    frame and on seeds 1 and 3, docs/calibration.md)."""
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["se_ok"].mean() >= 0.85


def test_glm_se_share_regression_floor(verdicts):
    """A floor at the measured 60/60 (every amount and ratio SE within 15%)."""
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["se_ok"].sum() >= 60


def test_se_window_is_the_reports():
    """glm_scores shapes the SEs into the window the report judges them by."""
    assert glm_scores.SE_WINDOW == report.SE_TOL


@pytest.mark.parametrize("ame", [True, False])
def test_log_se_gradient_matches_finite_differences(ame):
    """The analytic d log SE / d b of the SE shaping (AMEs and coefficients)."""
    rng = np.random.default_rng(0)
    n = 300
    x = np.column_stack(
        [
            np.ones(n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
            rng.uniform(20, 60, n) / 10,
        ]
    )
    y = np.exp(x @ np.array([-0.8, 0.3, -0.2, 0.05])) * rng.gamma(5, 0.2, n)
    b = np.array([-0.75, 0.28, -0.21, 0.04])
    cells = np.array([1, 2, 3])
    _, _, grad = score_equations.log_se(x, y, b, cells, ame)
    h = 1e-6
    fd = np.zeros_like(grad)
    for j in range(len(b)):
        up, dn = b.copy(), b.copy()
        up[j] += h
        dn[j] -= h
        fd[:, j] = (
            score_equations.log_se(x, y, up, cells, ame)[0]
            - score_equations.log_se(x, y, dn, cells, ame)[0]
        ) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def targets(verdicts) -> pd.DataFrame:
    return report.target_summary(verdicts).set_index("target")


def test_star_target_met(targets):
    """Identical stars for at least 95% of the 90 cells (measured 0.956)."""
    assert bool(targets.loc["share of cells with identical stars", "met"])


def test_no_documented_conflict_is_needed(targets):
    row = targets.loc["documented publication conflicts among point misses"]
    assert bool(row["met"])


def test_se_share_target_met(targets):
    """SEs within 15% for at least 85% of the 90 cells (measured 78/90)."""
    assert bool(targets.loc["share of SEs within 15%", "met"])


def test_point_target_met(targets):
    """Every point within 0.1 published SE, no conflict needed (measured)."""
    row = targets.loc["point estimates within 0.1 published SE (undocumented misses)"]
    assert bool(row["met"])


def test_all_targets_met(targets):
    assert targets["met"].all()


def test_every_miss_is_listed_with_a_reason(verdicts):
    conflicts = published_tables.read("inconsistencies")
    reasons = report.miss_reasons(verdicts, conflicts)
    expected = set()
    for r in verdicts.itertuples():
        for criterion, ok in (
            ("point", r.point_ok),
            ("se", r.se_ok),
            ("stars", r.stars_ok),
        ):
            if not ok:
                expected.add((r.sample, r.equation, r.term, criterion))
    listed = set(
        zip(
            reasons["sample"],
            reasons["equation"],
            reasons["term"],
            reasons["criterion"],
            strict=True,
        )
    )
    assert listed == expected and len(listed) > 0
    assert reasons["reason"].str.len().min() > 20


def test_a_documented_point_miss_names_its_conflict(verdicts):
    row = verdicts.iloc[[0]].copy()
    row["point_ok"] = False
    cid = report.cell_id(
        row["sample"].iloc[0], row["equation"].iloc[0], row["term"].iloc[0]
    )
    conflicts = pd.DataFrame({"id": ["C99"], "unmatched_cells": [cid]})
    reasons = report.miss_reasons(row, conflicts)
    point = reasons[reasons["criterion"] == "point"]
    assert point["reason"].iloc[0].startswith("publication conflict C99")
