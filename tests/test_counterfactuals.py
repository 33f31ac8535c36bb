"""Counterfactuals whose values follow in closed form, and their delta-method SEs.

In a probit saturated in one factor the fitted probability of a level is its
sample share, and the OIM delta-method variance of Phi(b0 + b_l) is
p(1 - p)/n_l exactly; an intercept-only Gamma-log part 2 predicts the mean of the
positives. So imposing a level gives that level's share (and share x mean) for
everyone, with a binomial SE. A general model's SEs are checked against a
numerical Jacobian of the same functions.
"""

import copy

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from twopart_toy import SCOPES, simulate

from analysis.beyond import counterfactuals as cf
from analysis.beyond import summary
from analysis.paper import models
from analysis.twopart import twopm


@pytest.fixture(scope="module")
def frame():
    return simulate(3000, 2022, scope_eta=(0.9, 0.5, 0.1), uebmi=0.6, amount="amount")


def scope_only(frame, columnwise):
    rhs = (
        "c.scope__within_province_across_cities c.scope__across_provinces"
        if columnwise
        else "i.scope"
    )
    return twopm(frame, "amount", part1=rhs, part2="", family="gamma", link="log")


@pytest.mark.parametrize("columnwise", [True, False])
def test_cross_region_settlement_gives_phi_b0_to_everyone(frame, columnwise):
    res = scope_only(frame, columnwise)
    scenario = cf.SCENARIOS[0]
    out = cf.evaluate(res, scenario, frame, by="scope").set_index(["group", "quantity"])
    within = frame["scope"] == SCOPES[0]
    p0 = frame.loc[within, "reimbursed"].mean()
    n0 = int(within.sum())
    b0 = res.params["part1"]["_cons"]
    ybar = frame.loc[frame["amount"] > 0, "amount"].mean()
    for group in ("all", *SCOPES):
        row = out.loc[(group, "share_reimbursed")]
        assert row["counterfactual"] == pytest.approx(norm.cdf(b0), rel=1e-12)
        assert row["counterfactual"] == pytest.approx(p0, rel=1e-8)
        # OIM delta SE of Phi(b0) in a saturated probit: sqrt(p(1-p)/n0)
        assert row["counterfactual_se"] == pytest.approx(
            np.sqrt(p0 * (1 - p0) / n0), rel=1e-6
        )
        exp_row = out.loc[(group, "expected_reimbursement")]
        assert exp_row["counterfactual"] == pytest.approx(p0 * ybar, rel=1e-8)
        assert exp_row["change_intensive"] == pytest.approx(0.0, abs=1e-9)
        assert exp_row["change_extensive"] == pytest.approx(exp_row["change"])
        amt = out.loc[(group, "amount_if_reimbursed")]
        assert amt["change"] == 0 and amt["change_se"] == 0
    # observed share in the saturated model = the sample share reimbursed
    overall = out.loc[("all", "share_reimbursed")]
    assert overall["observed"] == pytest.approx(frame["reimbursed"].mean(), rel=1e-8)
    assert overall["change"] == pytest.approx(p0 - frame["reimbursed"].mean())
    assert out.loc[(SCOPES[0], "share_reimbursed")]["change"] == pytest.approx(0)


@pytest.mark.parametrize("columnwise", [True, False])
def test_scheme_equalisation_gives_urbmi_share_and_mean(frame, columnwise):
    rhs = "c.scheme__URBMI c.scheme__UEBMI" if columnwise else "i.scheme"
    res = twopm(frame, "amount", part1=rhs, family="gamma", link="log")
    out = cf.evaluate(res, cf.SCENARIOS[1], frame).set_index("quantity")
    urbmi = frame[frame["scheme"] == "URBMI"]
    p_u, n_u = urbmi["reimbursed"].mean(), len(urbmi)
    y_u = urbmi.loc[urbmi["amount"] > 0, "amount"].mean()
    ncms = frame[frame["scheme"] == "NCMS"]
    assert out["n"].iloc[0] == len(ncms)
    share = out.loc["share_reimbursed"]
    assert share["observed"] == pytest.approx(ncms["reimbursed"].mean(), rel=1e-8)
    assert share["counterfactual"] == pytest.approx(p_u, rel=1e-8)
    assert share["counterfactual_se"] == pytest.approx(
        np.sqrt(p_u * (1 - p_u) / n_u), rel=1e-6
    )
    assert out.loc["amount_if_reimbursed", "counterfactual"] == pytest.approx(
        y_u, rel=1e-8
    )
    expected = out.loc["expected_reimbursement"]
    assert expected["counterfactual"] == pytest.approx(p_u * y_u, rel=1e-8)
    assert expected["change_extensive"] + expected["change_intensive"] == (
        pytest.approx(expected["change"], rel=1e-12)
    )


def numerical_se(res, scenario, frame, group, quantity, column):
    """SE from a central-difference Jacobian of the same function of (b, g)."""
    b, g = res.params["part1"], res.params["part2"]
    theta = np.r_[b.to_numpy(), g.to_numpy()]
    k1 = len(b)

    def value(t):
        r = copy.copy(res)
        r.params = {
            "part1": pd.Series(t[:k1], b.index),
            "part2": pd.Series(t[k1:], g.index),
        }
        out = cf.evaluate(r, scenario, frame, by="scope")
        sel = (out["group"] == group) & (out["quantity"] == quantity)
        return out.loc[sel, column].item()

    J = np.empty(theta.size)
    for j in range(theta.size):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        J[j] = (value(up) - value(down)) / (2 * h)
    return float(np.sqrt(J @ res.cov.to_numpy() @ J))


@pytest.mark.parametrize("scenario", [cf.SCENARIOS[0], cf.SCENARIOS[2]])
def test_delta_se_equals_numerical_jacobian(frame, scenario):
    rhs = (
        "c.scope__within_province_across_cities c.scope__across_provinces "
        "c.scheme__URBMI c.scheme__UEBMI c.age"
    )
    res = twopm(frame, "amount", part1=rhs, family="gamma", link="log")
    out = cf.evaluate(res, scenario, frame, by="scope")
    for group, quantity, column in [
        ("all", "share_reimbursed", "change"),
        ("all", "expected_reimbursement", "change"),
        (SCOPES[2], "expected_reimbursement", "counterfactual"),
        (SCOPES[1], "amount_if_reimbursed", "observed"),
    ]:
        sel = (out["group"] == group) & (out["quantity"] == quantity)
        analytic = out.loc[sel, f"{column}_se"].item()
        numeric = numerical_se(res, scenario, frame, group, quantity, column)
        # central differences with h = 1e-6 are accurate to ~1e-8 relative
        assert analytic == pytest.approx(numeric, rel=1e-5)


def test_scenario_on_a_model_without_the_variable_is_refused(frame):
    res = scope_only(frame, columnwise=True)
    with pytest.raises(ValueError, match="'scheme' is not a regressor"):
        cf.evaluate(res, cf.SCENARIOS[1], frame)


def test_stage_table_figure_and_suppression(frame, tmp_path):
    from analysis.beyond import stage as beyond

    res = twopm(
        frame,
        "amount",
        part1="c.scope__within_province_across_cities c.scope__across_provinces",
        family="gamma",
        link="log",
    )
    fits = {("total", "reimb_amount"): res}
    for s in ("ncms", "urban"):
        fits[(s, "reimb_amount")] = ValueError("separation")
    frames = {"total": frame}
    table = beyond.counterfactual_table(fits, frames | {"ncms": frame, "urban": frame})
    assert not table.duplicated(list(cf.KEYS)).any()
    failed = table[table["quantity"] == "(fit failed)"].set_index(
        ["scenario", "sample"]
    )
    assert failed.loc[("cross_region_settlement", "ncms"), "note"].endswith(
        "separation"
    )
    # scheme is not in this model: scenario (b) is a recorded failure, not a crash
    assert (
        "'scheme' is not a regressor"
        in failed.loc[("scheme_equalisation_urbmi", "total"), "note"]
    )
    assert len(table[table["sample"] == "total"]) == 4 * 3 + 2
    fig = beyond.figure_counterfactuals(table, "note")
    beyond.save(fig, tmp_path / "fig")
    assert (tmp_path / "fig.png").stat().st_size > 0
    small = beyond.suppress_small(table.assign(n=5), 10)
    assert small["observed"].isna().all()


def test_stage_table_with_bootstrap_columns(frame, tmp_path):
    from analysis.beyond import counterfactual_bootstrap as cfb
    from analysis.beyond import stage as beyond

    frame = frame.rename(columns={"amount": "reimb_amount"})
    rhs = "c.scope__within_province_across_cities c.scope__across_provinces c.age"
    res = twopm(frame, "reimb_amount", part1=rhs, family="gamma", link="log")
    fits = {("total", "reimb_amount"): res}
    for s in ("ncms", "urban"):
        fits[(s, "reimb_amount")] = ValueError("separation")
    frames = {s: frame for s in ("total", "ncms", "urban")}
    table = beyond.counterfactual_table(fits, frames)
    boot = cfb.bootstrap(frame, fits, frames, reps=30, seed=1)
    out = beyond.add_bootstrap(table, boot)
    assert len(out) == len(table) and out.columns[-1] == "note"
    assert set(cfb.COLUMNS) <= set(out.columns)
    ok = out["quantity"] != "(fit failed)"
    assert out.loc[ok, "boot_reps"].eq(30).all()
    assert out.loc[ok, "change_se_boot"].notna().all()
    assert out.loc[~ok, ["change_se_boot", "boot_reps"]].isna().all().all()
    # the percentile interval brackets the estimate on these well-behaved data
    share = out[ok & (out["quantity"] == "share_reimbursed") & (out["group"] == "all")]
    assert (share["change_ci_boot_low"] < share["change"]).all()
    assert (share["change"] < share["change_ci_boot_high"]).all()
    none = beyond.add_bootstrap(table, None)
    assert list(none.columns) == list(out.columns)
    assert none["change_se_boot"].isna().all()
    small = beyond.suppress_small(out.assign(n=5), 10)
    assert small["change_ci_boot_low"].isna().all()
    fig = beyond.figure_counterfactuals(out, "note")
    beyond.save(fig, tmp_path / "fig")
    assert (tmp_path / "fig.png").stat().st_size > 0


def test_stage_end_to_end_on_a_toy_frame(tmp_path):
    from analysis.beyond import stage as beyond
    from analysis.config import RunPaths
    from analysis.inference.bootstrap.synthetic import toy_analytic

    paths = RunPaths(tmp_path)
    paths.derived_dir.mkdir(parents=True)
    toy = toy_analytic(1000, np.random.default_rng(8))
    toy.to_parquet(paths.analytic)
    beyond.main(paths.analytic, paths.tables_dir, paths.figures_dir, reps=20)
    tables = paths.tables_dir
    cfs = pd.read_csv(tables / "counterfactuals.csv")
    fails = pd.read_csv(tables / beyond.FAILURES)
    assert not fails.duplicated(["rep", "sample"]).any()
    # every sample's failed replications are the rows' boot_failed (a failed
    # refit is the only way to lose a row here: no group is ever empty)
    for sample, rows in cfs.groupby("sample"):
        lost = int((fails["sample"] == sample).sum())
        assert (rows["boot_failed"] == lost).all(), sample
    assert set(cfs["sample"]) == {"total", "ncms", "urban"}
    for eq in models.EQUATION_NAMES:
        diag = pd.read_csv(tables / f"diagnostics_{eq}.csv")
        assert list(dict.fromkeys(diag["sample"])) == ["total", "ncms", "urban"]
    rob = pd.read_csv(tables / "robustness_table3.csv")
    assert list(dict.fromkeys(rob["sample"])) == ["total", "ncms", "urban"]
    items = summary.report_section(paths)
    text = " ".join(b for _, b in items if isinstance(b, str))
    assert "Bootstrap: 20 pairs replications" in text
    assert (paths.figures_dir / f"{beyond.FIGURE}.png").exists()
