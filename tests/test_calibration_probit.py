"""Probit (participation) calibration: the 29 published probit cells on the master seed.

Measured with the pipeline itself: ``synthesize_analytic`` -> categoricals + ``age_sq``
-> ``estimates.fit_all`` -> ``paper_cells`` -> ``report.cell_verdicts``, probit rows
(26 Table 3 rows incl. ``age_sq`` + the 4 Table 4 scope cells). The covariate part
(low-kurtosis, two-hump age distribution) is checked on the covariates alone.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from analysis.exhibits import report
from analysis.paper import estimates
from analysis.paper import published as published_tables
from analysis.synth.analytic import model_frame
from analysis.synth.calibration import covariates


@pytest.fixture(scope="module")
def frame(master_draw) -> pd.DataFrame:
    return master_draw[0].copy()


@pytest.fixture(scope="module")
def probit(frame) -> pd.DataFrame:
    cells = estimates.paper_cells(estimates.fit_all(model_frame(frame)))
    conflicts = published_tables.read("inconsistencies")
    verdicts = report.cell_verdicts(cells, conflicts)
    return verdicts[verdicts["equation"] == "probit"]


def test_every_probit_point_within_a_tenth_of_its_se(probit):
    """All 29 probit cells (age_sq: rounds to 0.000) meet the point target."""
    assert len(probit) == 30
    assert probit["point_ok"].all()


def test_probit_points_have_margin(probit):
    """Measured max |deviation| 0.086 SE after the exchanges (target 0.1)."""
    assert probit["dev_se"].abs().max() < 0.095


def test_probit_cells_need_no_documented_conflict(probit):
    assert not probit["documented_conflict"].any()


def test_age_cell_se_lifted_by_low_kurtosis_age(probit):
    """docs/se_gap.md: normal-shaped age gives an age SE ratio of about 0.66."""
    age = probit[(probit["sample"] == "total") & (probit["term"] == "age")]
    assert float(age["se_ratio"].iloc[0]) > 0.85


def test_probit_se_ratio_floor(probit):
    """A floor under the measured median (docs/se_gap.md): guards regressions."""
    assert probit["se_ratio"].median() > 0.78


def test_age_has_low_kurtosis_and_table1_moments(frame):
    """Kurtosis under the flat shape's 1.8 (docs/se_gap.md): the age SE stays up."""
    age = frame["age"].to_numpy()
    assert 1.6 < stats.kurtosis(age, fisher=False) < 1.8
    assert age.min() >= covariates.AGE_MIN and age.max() <= covariates.AGE_MAX
    assert round(age.mean(), 2) == 37.65
    assert round(age.std(ddof=1), 2) == 9.75
