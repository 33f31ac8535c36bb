"""Bounds of the settlement counterfactual under selection of claims on their amount.

By hand: the trimming ratio on a four-point reference distribution and the
bounds on four rows. Known truth: when far migrants claim exactly their largest
amounts (the selection the bound assumes), the selection bound equals the true
change while the model's change overstates it.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from twopart_toy import SCOPES

from analysis.beyond import counterfactuals as cf
from analysis.beyond import selection_bound as sb
from analysis.paper import models
from analysis.twopart import twopm

SETTLEMENT = cf.SCENARIOS[0]


def test_trim_ratio_by_hand():
    r = np.array([6.0, 1.0, 3.0, 2.0])  # order does not matter
    # s = 1/2: bottom {1, 2} mean 1.5, top {3, 6} mean 4.5
    assert sb.trim_ratio(r, 0.5) == pytest.approx(1 / 3, rel=1e-12)
    # s = 3/8: the bottom 5/8 holds 1, 2 and half of 3's mass:
    # (1/4 + 2/4 + 3/8) / (5/8) = 1.8; the top (3/8 + 6/4) / (3/8) = 5
    assert sb.trim_ratio(r, 0.375) == pytest.approx(1.8 / 5.0, rel=1e-12)
    assert sb.trim_ratio(r, 1.0) == 1.0  # no new claimant
    with pytest.raises(ValueError):
        sb.trim_ratio(r, 0.0)


def test_bound_rows_by_hand():
    # two within-city rows (no change) and two far rows whose claim
    # probabilities rise by 0.3 each, from a total of 0.6 to 1.2: s = 1/2
    F = np.array([0.8, 0.8, 0.2, 0.4])
    Fc = np.array([0.8, 0.8, 0.5, 0.7])
    h = np.array([100.0, 120.0, 200.0, 400.0])
    groups = np.array(["w", "w", "f", "f"])
    masks = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]], bool)
    ref = np.array([1.0, 2.0, 3.0, 6.0])  # rho(1/2) = 1/3
    out = sb.bound_rows(F, Fc, h, groups, ref, 50.0, masks, ["all", "w", "f"])
    out = out.set_index("group")
    far = out.loc["f"]
    assert far["sel_claim_share"] == pytest.approx(0.5)
    assert far["sel_amount_ratio"] == pytest.approx(1 / 3)
    assert far["change_sel_high"] == pytest.approx((0.3 * 200 + 0.3 * 400) / 2)  # 90
    assert far["change_sel_low"] == pytest.approx(90 / 3)
    assert far["change_sel_worst"] == pytest.approx(0.3 * 50)
    assert out.loc["w", ["change_sel_low", "change_sel_high"]].tolist() == [0, 0]
    # over everyone: the far rows' sums over four rows
    assert out.loc["all", "change_sel_high"] == pytest.approx(180 / 4)
    assert out.loc["all", "change_sel_low"] == pytest.approx(60 / 4)
    assert out.loc["all", "change_sel_worst"] == pytest.approx(30 / 4)
    assert out.loc["all", "sel_claim_share"] == pytest.approx(2.2 / 2.8)
    assert out.loc["all", "sel_amount_ratio"] == pytest.approx(1 / 3)
    # a floor above a predicted amount is capped by it (m_i <= h_i)
    high_floor = sb.bound_rows(F, Fc, h, groups, ref, 300.0, masks, ["all", "w", "f"])
    worst = high_floor.set_index("group").loc["f", "change_sel_worst"]
    assert worst == pytest.approx((0.3 * 200 + 0.3 * 300) / 2)


def selected_claims(n: int, seed: int, p_within=0.8, p_far=0.4, scale_far=3.0):
    """Within-city migrants claim at p_within; far ones would at the same rate
    without the distance barrier, but claim only the top p_far / p_within of
    their amounts. Amounts: scale x R, R ~ Gamma(2, 1/2) in both groups."""
    rng = np.random.default_rng(seed)
    far = rng.uniform(size=n) < 0.5
    R = rng.gamma(2.0, 0.5, n)
    would = rng.uniform(size=n) < p_within
    s = p_far / p_within
    cut = stats.gamma(2.0, scale=0.5).ppf(1 - s)
    claims = would & (~far | (R > cut))
    amount = np.where(far, scale_far, 1.0) * R * 1000.0
    scope = np.where(far, SCOPES[2], SCOPES[0])
    df = pd.DataFrame(
        {
            "scope": pd.Categorical(scope, categories=SCOPES),
            # a second scheme, so that scheme equalisation can be evaluated too
            "scheme": pd.Categorical(
                np.where(np.arange(n) % 3 == 0, "URBMI", "NCMS"),
                categories=["NCMS", "URBMI", "UEBMI"],
            ),
            "reimbursed": claims.astype(int),
            "reimb_amount": np.where(claims, amount, 0.0),
        }
    )
    # the new claimants' true mean amount: scale x E[R | R < cut] x 1000
    true_new = scale_far * 1000.0 * stats.gamma(3.0, scale=0.5).cdf(cut) / (1 - s)
    return models.design_frame(df), (p_within - p_far) * true_new


def test_selection_bound_recovers_the_true_change_under_its_assumptions():
    frame, true_change = selected_claims(60_000, 11)
    rhs = "c.scope__across_provinces"
    res = twopm(frame, "reimb_amount", part1=rhs, family="gamma", link="log")
    out = sb.selection_bounds(res, SETTLEMENT, frame).set_index("group")
    far = out.loc[SCOPES[2]]
    ev = cf.evaluate(res, SETTLEMENT, frame, by="scope")
    ev = ev[ev["quantity"] == sb.QUANTITY].set_index("group")
    # the upper end is the model's change, which gives new claimants h
    assert far["change_sel_high"] == pytest.approx(
        ev.loc[SCOPES[2], "change"], rel=1e-10
    )
    assert out.loc["all", "change_sel_high"] == pytest.approx(
        ev.loc["all", "change"], rel=1e-10
    )
    # the model overstates the true change several-fold; the bound is sharp
    assert far["change_sel_high"] > 2 * true_change
    assert far["change_sel_low"] == pytest.approx(true_change, rel=0.05)
    assert far["change_sel_worst"] < far["change_sel_low"]
    assert far["sel_claim_share"] == pytest.approx(0.5, abs=0.02)


def test_stage_table_carries_the_bounds_on_settlement_rows_only():
    from analysis.beyond import stage as beyond

    frame, _ = selected_claims(4000, 5)
    rhs = "c.scope__across_provinces c.scheme__URBMI"
    res = twopm(frame, "reimb_amount", part1=rhs, family="gamma", link="log")
    samples = ("total", "ncms", "urban")
    fits = {(s, "reimb_amount"): res for s in samples}
    table = beyond.counterfactual_table(fits, dict.fromkeys(samples, frame))
    assert set(table["scenario"]) == {sc.name for sc in cf.SCENARIOS}
    assert "(fit failed)" in set(table["quantity"])  # UEBMI has no dummy here
    filled = table["change_sel_high"].notna()
    expected = (table["scenario"] == SETTLEMENT.name) & (
        table["quantity"] == sb.QUANTITY
    )
    assert (filled == expected).all()
    rows = table[expected]
    np.testing.assert_allclose(rows["change_sel_high"], rows["change"], rtol=1e-10)
    assert (rows["change_sel_worst"] <= rows["change_sel_low"] + 1e-9).all()
    assert (rows["change_sel_low"] <= rows["change_sel_high"] + 1e-9).all()
    assert table.columns[-1] == "note"
