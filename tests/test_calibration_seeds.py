"""Tables 3-4 targets on seeds other than the shipped one: the calibration is robust.

``synthesize_analytic`` keeps the first draw (in a fixed, seed-derived order) whose
calibrated probit meets the SE-share and star targets (docs/calibration.md, outer loop
over draws); the amount and ratio GLMs are met on every draw by ``glm_scores``.
Each seed takes 10-30 s of CPU to generate (seeds 1 and 3, two and three attempts, the
longest), plus its fits.
"""

from __future__ import annotations

import pytest

from analysis.exhibits import report
from analysis.paper import estimates
from analysis.paper import published as published_tables
from analysis.synth import analytic_seed
from analysis.synth.analytic import (
    model_frame,
    synthesize_analytic,
)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tables_3_4_targets_met_on_other_seeds(seed):
    frame = synthesize_analytic(analytic_seed(seed))
    cells = estimates.paper_cells(estimates.fit_all(model_frame(frame)))
    conflicts = published_tables.read("inconsistencies")
    verdicts = report.cell_verdicts(cells, conflicts)
    assert verdicts["point_ok"].all()
    assert verdicts["se_ok"].mean() >= report.SHARE_SE_OK
    assert verdicts["stars_ok"].mean() >= report.SHARE_STARS_OK
    assert report.target_summary(verdicts)["met"].all()


def test_master_seed_keeps_its_own_draw(master_draw):
    """The shipped frame is the seed's first draw (the outer loop's attempt (0, 0))."""
    _, attempt, _ = master_draw
    assert attempt == (0, 0)
