"""Monte-Carlo check: a smoke run writes its table and figure, is deterministic, and
recovers the calibrated truth on average (a light version of the full check)."""

import numpy as np
import pandas as pd
import pytest

from analysis import montecarlo as mc
from analysis.bootstrap.synthetic import toy_analytic


@pytest.fixture(scope="module")
def toy():
    return toy_analytic(1165, np.random.default_rng(31))


def test_main_writes_table_and_figure(toy, tmp_path):
    path = tmp_path / "analytic.parquet"
    toy.to_parquet(path)
    table = mc.main(
        path, tmp_path / "est", tmp_path / "fig", sims=4, reps=9, progress=False
    )
    assert (tmp_path / "est" / "montecarlo_total_reimb_amount.csv").exists()
    assert (tmp_path / "fig" / "montecarlo_total_reimb_amount.png").exists()
    cov = table.filter(like="coverage_").drop(columns="coverage_mcse")
    assert ((cov >= 0) & (cov <= 1)).all().all()
    assert set(table["part"]) == {"part1", "part2", "combined"}
    assert (table["sims_ok"] + table["sims_failed"] == 4).all()


def test_deterministic_and_unbiased_on_average(toy):
    dgp = mc.calibrate(toy, "total", "reimb_amount")
    a = mc.summarise(mc.run(dgp, 12, 5, seed=3), dgp)
    b = mc.summarise(mc.run(dgp, 12, 5, seed=3), dgp)
    pd.testing.assert_frame_equal(a, b)
    # |bias| / MC SE is ~N(0,1) per AME: the average of its square stays near 1
    z2 = float(np.mean((a["bias"] / a["bias_mcse"]) ** 2))
    assert z2 < 2.0
