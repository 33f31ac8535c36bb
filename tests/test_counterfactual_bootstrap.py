"""Bootstrap of the counterfactuals against answers known in advance.

* One replication equals a twopm fit on the rows that replication drew, evaluated
  by :func:`analysis.beyond.counterfactuals.evaluate` (the weights are frequency
  weights, nothing more).
* In a large, correctly specified sample the bootstrap SE with covariates fixed
  equals the delta-method SE within Monte-Carlo error (relative SD of a
  bootstrap SE from B replications: about 1/sqrt(2(B - 1))).
* In a probit saturated in scope the observed share is the sample mean of d, so
  its bootstrap SE with covariates resampled is sqrt(p(1 - p)/n), while the
  delta method (covariates fixed) gives the smaller
  sqrt(sum_g n_g p_g (1 - p_g))/n.
* Which replications fail is predictable from their weights when a rare 0/1
  regressor separates participation once its only non-participant is not drawn.
* Draws do not depend on the number of workers or the chunk size.
"""

import copy

import numpy as np
import pandas as pd
import pytest
from twopart_toy import SCHEMES, SCOPES, simulate

from analysis.beyond import counterfactual_bootstrap as cfb
from analysis.beyond import counterfactuals as cf
from analysis.inference.bootstrap.resample import child_rng
from analysis.twopart import twopm

GENERAL = (
    "c.scope__within_province_across_cities c.scope__across_provinces "
    "c.scheme__URBMI c.scheme__UEBMI c.age"
)
SATURATED = "c.scope__within_province_across_cities c.scope__across_provinces"


def fit(frame, part1, part2=None):
    kw = {} if part2 is None else {"part2": part2}
    return twopm(frame, "reimb_amount", part1=part1, family="gamma", link="log", **kw)


def problem(frame, res):
    fits, frames = {("total", "reimb_amount"): res}, {"total": frame}
    return cfb.build_problem(frame, fits, frames, cfb.make_resampler(frame, "pairs"))


def run(frame, res, reps, seed=7, **kw):
    fits, frames = {("total", "reimb_amount"): res}, {"total": frame}
    return cfb.bootstrap(frame, fits, frames, reps, seed, **kw)


def select(q, scenario, group, quantity, stat):
    sel = (
        (q["scenario"] == scenario)
        & (q["group"] == group)
        & (q["quantity"] == quantity)
        & (q["stat"] == stat)
    )
    return q.loc[sel].squeeze()


@pytest.fixture(scope="module")
def small():
    frame = simulate(1500, 1)
    return frame, fit(frame, GENERAL)


def test_full_sample_estimates_equal_the_delta_table(small):
    frame, res = small
    prob = problem(frame, res)
    cat = prob.catalogue.pivot(index=list(cf.KEYS), columns="stat", values="estimate")
    frames = []
    for scenario, sample in cf.PLAN:
        if sample == "total":
            t = cf.evaluate(res, scenario, frame, by="scope")
            frames.append(t.assign(scenario=scenario.name, sample=sample))
    delta = pd.concat(frames).set_index(list(cf.KEYS))
    assert len(cat) == len(delta) == 3 * 4 * 3  # 3 scenarios x (all + 3) x 3
    for stat in cfb.STATS:
        np.testing.assert_allclose(cat[stat], delta.loc[cat.index, stat], rtol=1e-10)


def test_one_replication_equals_a_refit_on_the_drawn_rows(small):
    frame, res = small
    boot = run(frame, res, reps=4, seed=11)
    r = 3
    w = cfb.make_resampler(frame, "pairs").weights(child_rng(11, r)).astype(int)
    drawn = frame.loc[np.repeat(frame.index, w)].reset_index(drop=True)
    refit = fit(drawn, GENERAL)
    q = boot.quantities
    for scenario in (cf.SCENARIOS[0], cf.SCENARIOS[1]):
        resampled = cf.evaluate(refit, scenario, drawn, by="scope")
        # fixed covariates: the refitted coefficients on the original rows
        moved = copy.copy(res)
        moved.params = refit.params
        fixed = cf.evaluate(moved, scenario, frame, by="scope")
        for mode, table in ((0, resampled), (1, fixed)):
            for row in table.itertuples():
                for stat in cfb.STATS:
                    j = select(q, scenario.name, row.group, row.quantity, stat).name
                    assert boot.draws[r, mode, j] == pytest.approx(
                        getattr(row, stat), rel=1e-7, abs=1e-9
                    )


def test_draws_do_not_depend_on_workers_or_chunks(small):
    frame, res = small
    one = run(frame, res, reps=12, seed=5)
    two = run(frame, res, reps=12, seed=5, workers=2)
    np.testing.assert_array_equal(one.draws, two.draws)
    prob = problem(frame, res)
    chunked, _ = cfb.run_replications(prob, 12, seed=5, chunk=5)
    np.testing.assert_array_equal(one.draws, chunked)
    other, _ = cfb.run_replications(prob, 12, seed=6)
    assert not np.array_equal(one.draws, other)


def test_fixed_covariate_bootstrap_se_equals_delta_se_in_large_n():
    frame = simulate(20_000, 2)
    res = fit(frame, GENERAL)
    reps = 300
    boot = run(frame, res, reps=reps, seed=3)
    assert boot.failures.empty
    q = boot.quantities.set_index(list(cfb.CATALOGUE_KEYS))
    delta = {}
    for scenario in cf.SCENARIOS:
        t = cf.evaluate(res, scenario, frame, by="scope")
        for row in t.itertuples():
            for stat in cfb.STATS:
                delta[scenario.name, "total", row.group, row.quantity, stat] = getattr(
                    row, f"{stat}_se"
                )
    checked = 0
    for key, se in delta.items():
        if se == 0:  # the amount is unchanged by settlement: both SEs are 0
            assert q.loc[key, "se_boot_fixed_x"] == pytest.approx(0, abs=1e-9)
            continue
        # 1/sqrt(2 x 299) = 4.1% Monte-Carlo SD; 15% is over 3.5 SD
        assert q.loc[key, "se_boot_fixed_x"] == pytest.approx(se, rel=0.15), key
        checked += 1
    assert checked >= 90


def test_resampled_covariates_give_the_unconditional_binomial_se():
    # scope-level participation rates near 0.93, 0.50 and 0.07: the share
    # reimbursed varies a lot between groups, so resampling them adds variance
    frame = simulate(6000, 4, scope_eta=(1.5, 0.0, -1.5))
    frame["scheme"] = pd.Categorical(["NCMS"] * len(frame), categories=SCHEMES)
    res = fit(frame, SATURATED, part2="")
    boot = run(frame, res, reps=400, seed=9)
    q = boot.quantities
    d, n = frame["reimbursed"], len(frame)
    p = d.mean()
    by = frame.groupby("scope", observed=True)["reimbursed"].agg(["mean", "size"])
    conditional = np.sqrt((by["size"] * by["mean"] * (1 - by["mean"])).sum()) / n
    unconditional = np.sqrt(p * (1 - p) / n)
    assert unconditional / conditional > 1.3  # the two targets are far apart
    obs = select(q, cf.SCENARIOS[0].name, "all", "share_reimbursed", "observed")
    assert obs["estimate"] == pytest.approx(p, rel=1e-8)
    # 1/sqrt(2 x 399) = 3.5% Monte-Carlo SD; 12% is over 3 SD and half the gap
    assert obs["se_boot"] == pytest.approx(unconditional, rel=0.12)
    assert obs["se_boot_fixed_x"] == pytest.approx(conditional, rel=0.12)
    # everyone at the within-city rate: its binomial SE in either average
    p0, n0 = by.loc[SCOPES[0], "mean"], by.loc[SCOPES[0], "size"]
    cnt = select(q, cf.SCENARIOS[0].name, "all", "share_reimbursed", "counterfactual")
    assert cnt["se_boot"] == pytest.approx(np.sqrt(p0 * (1 - p0) / n0), rel=0.12)
    assert cnt["se_boot_fixed_x"] == pytest.approx(cnt["se_boot"], rel=1e-12)


def test_failed_replications_are_the_predicted_ones_and_counted():
    frame = simulate(800, 6)
    rare = np.zeros(len(frame))
    paid = np.flatnonzero(frame["reimbursed"].to_numpy() == 1)[:3]
    unpaid = np.flatnonzero(frame["reimbursed"].to_numpy() == 0)[0]
    rare[[*paid, unpaid]] = 1.0
    frame["rare"] = rare
    res = fit(frame, SATURATED + " c.rare c.age")
    reps, seed = 40, 21
    boot = run(frame, res, reps=reps, seed=seed)
    sampler = cfb.make_resampler(frame, "pairs")
    predicted = []
    for r in range(reps):
        w = sampler.weights(child_rng(seed, r))
        # unpaid row not drawn: the drawn rare rows all participate (separation);
        # no paid rare row drawn: rare never participates, or the level is lost
        if w[unpaid] == 0 or w[paid].sum() == 0:
            predicted.append(r)
    assert 5 <= len(predicted) <= reps - 5  # both outcomes occur
    assert sorted(boot.failures["rep"]) == predicted
    assert set(boot.failures["sample"]) == {"total"}
    failed_rows = np.isnan(boot.draws[:, 0, :]).all(axis=1)
    assert np.flatnonzero(failed_rows).tolist() == predicted
    cols = cfb.table_columns(boot)
    assert (cols["boot_failed"] == len(predicted)).all()
    assert (cols["boot_reps"] == reps).all()
    assert cfb.failure_summary(boot)["replications"].sum() == len(predicted)
