"""Monte-Carlo check: outputs, determinism across workers, a known truth that the
simulations must cover at the nominal rate, and failure accounting.

Small runs on the toy frame of :mod:`analysis.inference.bootstrap.synthetic` (correctly
specified two-part models); the full check is ``make montecarlo``.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analysis.inference import montecarlo as mc
from analysis.inference.bootstrap import replicate
from analysis.inference.bootstrap.synthetic import toy_analytic
from analysis.paper import models


@pytest.fixture(scope="module")
def toy():
    return toy_analytic(1165, np.random.default_rng(31))


@pytest.fixture(scope="module")
def dgp(toy):
    return mc.calibrate(toy, "ncms")


@pytest.fixture(scope="module")
def two_workers(dgp):
    """Two simulations on 2 loky workers (started once: the other test reuses them)."""
    return mc.run([dgp], 2, 5, seed=3, workers=2)


def test_main_writes_tables_and_figure(toy, tmp_path):
    path = tmp_path / "analytic.parquet"
    toy.to_parquet(path)
    est, fig = tmp_path / "est", tmp_path / "fig"
    table = mc.main(path, est, fig, sims=2, reps=9, samples=("urban",), progress=False)
    for name in ("montecarlo.csv", "montecarlo_summary.csv", "montecarlo_run.csv"):
        assert (est / name).exists()
    assert "| urban | probit AME |" in (est / "montecarlo_summary.md").read_text()
    assert (fig / "montecarlo_coverage.png").exists()
    assert set(np.load(est / "montecarlo_sims.npz").files) >= {"urban_estimate"}
    cov = table[list(mc.CIS.values())]
    assert ((cov >= 0) & (cov <= 1)).all().all()
    assert set(table["outcome"]) == set(models.OUTCOMES)
    assert (table["sims_ok"] + table["sims_failed"] == 2).all()


def test_truth_is_the_dgp_margin(dgp):
    """Truth of the age margins, computed here without MarginPlan."""
    cat = dgp.catalogue.assign(truth=dgp.truth)
    cat = cat[cat["outcome"] == "reimb_amount"]
    coef = cat[cat["kind"] == "coef"]
    b = coef[coef["part"] == "part1"].set_index("term")["truth"]
    g_age = coef[coef["part"] == "part2"].set_index("term")["truth"]["age"]
    X1 = models.design_frame(dgp.frame).assign(_cons=1.0)[b.index].to_numpy(float)
    f = norm.pdf(X1 @ b.to_numpy())
    b_age, mu, p = b["age"], dgp.mu["reimb_amount"], dgp.p
    margin = cat[(cat["kind"] == "margin") & (cat["term"] == "age")]
    margin = margin.set_index(["part", "component"])["truth"].sort_index()
    assert margin[("part1", "total")] == pytest.approx(np.mean(f * b_age))
    assert margin[("part2", "total")] == pytest.approx(np.sum(p * mu) * g_age / p.sum())
    assert margin[("combined", "extensive")] == pytest.approx(np.mean(f * b_age * mu))


def test_deterministic_across_worker_counts(dgp, two_workers):
    a = mc.run([dgp], 2, 5, seed=3, workers=1)
    b = two_workers
    pd.testing.assert_frame_equal(mc.summarise(a[0], dgp), mc.summarise(b[0], dgp))
    assert not np.array_equal(a[0][0]["estimate"], a[0][1]["estimate"])


def test_delta_cis_cover_the_known_truth(dgp, two_workers):
    """Pooled over every quantity, 95% delta CIs cover the DGP's truth at ~95%.

    The DGP is correctly specified with known parameters, so the pooled
    coverage must lie in 0.95 +/- max(3 MC SE, 0.025); the MC SE comes from the
    per-simulation pooled coverages, which are independent across simulations.
    Fail-able: with the delta SEs scaled by 0.8 or 1.2 these 12 simulations give
    86.5% and 98.1% (measured), outside the bound. (``two_workers``: the pool is
    already up.)
    """
    runs = mc.run([dgp], 12, 0, seed=11, workers=2)[0]
    est = np.array([r["estimate"] for r in runs])
    se = np.array([r["se_delta"] for r in runs])
    hit = np.abs(est - dgp.truth) <= mc.Z975 * se
    margins = (dgp.catalogue["kind"] == "margin").to_numpy()
    for sel in (slice(None), margins, ~margins):
        per_sim = hit[:, sel].mean(axis=1)
        mcse = per_sim.std(ddof=1) / np.sqrt(len(per_sim))
        assert abs(per_sim.mean() - 0.95) <= max(3 * mcse, 0.025), per_sim.mean()


def test_failures_are_counted(dgp, monkeypatch):
    """A failed fit and failed bootstrap replications are counted, not dropped."""
    from analysis.inference.bootstrap import problem

    fit = problem._fit

    def fail_ratio(data, sample, outcome, *args):
        if outcome == "reimb_ratio":
            raise ValueError("injected")
        return fit(data, sample, outcome, *args)

    glm = replicate.refit_glm

    def fail_large(y, *args, **kw):  # the amount (yuan), not the ratio
        if y.max() > 1.0:
            raise FloatingPointError("injected")
        return glm(y, *args, **kw)

    monkeypatch.setattr(problem, "_fit", fail_ratio)
    monkeypatch.setattr(replicate, "refit_glm", fail_large)
    table = mc.summarise(mc.run([dgp], 2, 4, seed=5)[0], dgp)
    by = table.groupby("outcome")
    assert by["sims_failed"].max().to_dict() == {"reimb_amount": 0, "reimb_ratio": 2}
    assert by["sims_ok"].max().to_dict() == {"reimb_amount": 2, "reimb_ratio": 0}
    assert by["boot_reps_failed"].max()["reimb_amount"] == 2 * 4
    amount = table[table["outcome"] == "reimb_amount"]
    assert amount["coverage_delta"].notna().all()
    assert amount["coverage_boot_normal"].isna().all()
    ratio = table[table["outcome"] == "reimb_ratio"]
    assert ratio["mean_estimate"].isna().all() and ratio["coverage_delta"].isna().all()
