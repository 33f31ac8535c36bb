"""The synthetic frame, fitted by the pipeline's own models, against Tables 3-4.

What is asserted is what the generator achieves today (docs/calibration.md): the
pipeline's fit_all runs on the frame (no perfectly predicted cell), and the probit
column (participation calibration) is close to the published cells. The issue's full
targets (report.target_summary all met) are NOT yet asserted: the GLM columns are not
calibrated (see docs/calibration.md for the measured numbers).
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import config, estimates, report, specs
from analysis.synth import analytic_seed
from analysis.synth.analytic import model_frame, synthesize_analytic


@pytest.fixture(scope="module")
def verdicts() -> pd.DataFrame:
    frame = synthesize_analytic(analytic_seed(config.MASTER_SEED))
    cells = estimates.paper_cells(estimates.fit_all(model_frame(frame)))
    conflicts = pd.read_csv(config.PUBLISHED_DIR / "inconsistencies.csv")
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
    assert specs.regressors.__defaults__[0] == "columnwise"


def test_glm_points_met(verdicts):
    """Score-preserving calibration (analysis/synth/calibrate_score.py): every
    amount and ratio cell of Tables 3-4 within 0.1 published SE (age_sq: rounds to
    0.000)."""
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert len(glm) == 60
    assert glm["point_ok"].all()


def test_glm_stars(verdicts):
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["stars_ok"].mean() >= 0.95


@pytest.mark.xfail(
    strict=True,
    reason="issue 5 open: on the shipped frame 50/60 GLM SEs are within 15% "
    "(ratio SEs 0.77-0.85 of the published on 10 cells; docs/calibration.md)",
)
def test_glm_se_share_meets_the_target(verdicts):
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["se_ok"].mean() >= 0.85


def test_glm_se_share_regression_floor(verdicts):
    """A floor under the measured 50/60 (not the issue's target, which is xfailed)."""
    glm = verdicts[verdicts["equation"].isin(["amount", "ratio"])]
    assert glm["se_ok"].sum() >= 50
