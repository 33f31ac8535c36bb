"""Specification checks against data simulated from a known family and link.

Each simulation is seeded, so each assertion is deterministic; the tolerances are
several Monte-Carlo standard errors wide at the N used (stated per test), so a
different seed would pass too with near certainty.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from analysis.beyond import diagnostics as dg

N = 4000


def design(rng, n=N):
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n).astype(float)
    return np.column_stack([x1, x2, np.ones(n)])


@pytest.fixture(scope="module")
def gamma_log():
    rng = np.random.default_rng(11)
    X = design(rng)
    mu = np.exp(X @ [0.5, 0.3, 1.0])
    shape = 2.0
    return rng.gamma(shape, mu / shape), X, mu


def test_park_gamma_data_gives_slope_two(gamma_log):
    y, X, _ = gamma_log
    mu_hat = dg.fit_glm(y, X, "gamma", "log").fittedvalues
    park = dg.park_test(y, mu_hat)
    # robust SE of the slope is ~0.06 at N=4000: 0.2 is > 3 SE
    assert abs(park["slope"] - 2.0) < 0.2
    assert park["nearest"] == "gamma"
    assert park["p"]["gamma"] > 0.01
    assert park["p"]["poisson"] < 0.001 and park["p"]["gaussian"] < 0.001


def test_park_poisson_data_gives_slope_one():
    rng = np.random.default_rng(12)
    X = design(rng)
    y = rng.poisson(np.exp(X @ [0.5, 0.3, 1.5])).astype(float)
    mu_hat = dg.fit_glm(y, X, "poisson", "log").fittedvalues
    park = dg.park_test(y, mu_hat)
    assert abs(park["slope"] - 1.0) < 0.15
    assert park["nearest"] == "poisson"


def test_park_gaussian_data_gives_slope_zero():
    rng = np.random.default_rng(13)
    X = design(rng)
    mu = np.exp(X @ [0.4, 0.3, 2.0])
    y = mu + rng.normal(scale=2.0, size=N)
    mu_hat = dg.fit_glm(y, X, "gaussian", "log").fittedvalues
    assert abs(dg.park_test(y, mu_hat)["slope"]) < 0.25


def test_link_test_and_reset_accept_the_true_link(gamma_log):
    y, X, _ = gamma_log
    assert dg.link_test(y, X, "gamma", "log")["p"] > 0.01
    assert dg.reset_test(y, X, "gamma", "log")["p"] > 0.01


def test_link_test_and_reset_reject_a_wrong_link():
    # identity-link truth spanning 0.2..5.2, fitted with a log link: in large N the
    # curvature of log(mu) in u is detected by the squared index
    rng = np.random.default_rng(14)
    n = 20_000
    u = rng.uniform(size=n)
    X = np.column_stack([u, np.ones(n)])
    mu = 0.2 + 5.0 * u
    y = rng.gamma(5.0, mu / 5.0)
    assert dg.link_test(y, X, "gamma", "log")["p"] < 1e-6
    assert dg.reset_test(y, X, "gamma", "log")["p"] < 1e-6
    assert dg.link_test(y, X, "gamma", "identity")["p"] > 0.01


def test_aic_grid_picks_the_simulating_family_and_link(gamma_log):
    y, X, _ = gamma_log
    grid = dg.aic_bic_grid(y, X)
    assert len(grid) == 12
    assert dg.grid_choice(grid, "aic") == "gamma-log"
    assert dg.grid_choice(grid, "bic") == "gamma-log"
    # a non-count outcome: Poisson likelihoods are reported but not compared
    assert not grid.loc[grid["family"] == "poisson", "comparable"].any()


def test_aic_grid_picks_gaussian_identity_for_linear_normal_data():
    rng = np.random.default_rng(15)
    X = design(rng)
    y = X @ [2.0, 1.0, 20.0] + rng.normal(size=N)
    assert dg.grid_choice(dg.aic_bic_grid(y, X), "aic") == "gaussian-identity"


def probit_data(seed, quadratic):
    rng = np.random.default_rng(seed)
    X = design(rng, 5000)
    eta = X @ [0.8, -0.5, 0.2] + (0.6 * X[:, 0] ** 2 if quadratic else 0.0)
    d = (rng.uniform(size=len(eta)) < ndtr(eta)).astype(float)
    return d, X


def test_hosmer_lemeshow_calibrated_for_a_correct_probit():
    d, X = probit_data(16, quadratic=False)
    p = dg._fit(d, X, "probit", "").predict(X)
    hl = dg.hosmer_lemeshow(d, p)
    assert hl["df"] == 8 and hl["p"] > 0.05
    assert hl["table"]["n"].sum() == len(d)


def test_probit_checks_reject_an_omitted_square():
    d, X = probit_data(17, quadratic=True)
    p = dg._fit(d, X, "probit", "").predict(X)
    assert dg.hosmer_lemeshow(d, p)["p"] < 0.001
    assert dg.reset_test(d, X, "probit", "")["p"] < 0.001
    assert dg.link_test(d, X, "probit", "")["p"] < 0.001


def test_hosmer_lemeshow_statistic_by_hand():
    d = np.array([0, 1, 0, 1, 1, 1], float)
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    hl = dg.hosmer_lemeshow(d, p, groups=3)
    # groups {0.1,0.2}, {0.3,0.6}, {0.7,0.9}: O = 1, 1, 2; E = 0.3, 0.9, 1.6
    expected = (
        (0.7**2 / (0.3 * 0.85)) + (0.1**2 / (0.9 * 0.55)) + (0.4**2 / (1.6 * 0.2))
    )
    assert hl["statistic"] == pytest.approx(expected)
    assert hl["df"] == 1


def test_boxcox_lambda_zero_for_lognormal_data():
    rng = np.random.default_rng(18)
    X = design(rng)
    y = np.exp(X @ [0.5, 0.3, 7.0] + rng.normal(scale=0.8, size=N))
    cond = dg.boxcox_check(y, X)
    assert abs(cond["lambda"]) < 0.05
    assert cond["ci"][0] < 0 < cond["ci"][1]
    assert cond["p_log"] > 0.05 and cond["p_linear"] < 1e-10
    marginal = dg.boxcox_check(y)  # scipy's MLE: log y is normal here too
    assert abs(marginal["lambda"]) < 0.05


def test_boxcox_lambda_one_for_linear_normal_data():
    rng = np.random.default_rng(19)
    X = design(rng)
    y = X @ [3.0, 2.0, 20.0] + rng.normal(size=N)
    cond = dg.boxcox_check(y, X)
    assert abs(cond["lambda"] - 1.0) < 0.15
    assert cond["p_linear"] > 0.01


def test_equation_tables_have_unique_keys_and_verdicts(gamma_log):
    y, X, _ = gamma_log
    glm = dg.equation_table(y, X, "gamma", "log")
    assert not glm.duplicated(["check", "item"]).any()
    assert set(glm["check"]) == {
        "modified Park test",
        "link test",
        "RESET",
        "AIC/BIC grid",
        "Box-Cox",
    }
    choice = glm.loc[glm["item"] == "choice", "verdict"].item()
    assert "AIC picks gamma-log" in choice and "agrees" in choice
    d, Xp = probit_data(16, quadratic=False)
    probit = dg.equation_table(d, Xp, "probit")
    assert list(probit["check"]) == ["link test", "RESET", "Hosmer-Lemeshow"]
    assert probit["verdict"].str.contains("not rejected").all()


def test_unknown_family_or_link_is_refused():
    with pytest.raises(ValueError, match="family='tweedie'"):
        dg.glm_family("tweedie", "log")
    with pytest.raises(ValueError, match="link='cube'"):
        dg.glm_family("gamma", "cube")


def test_hl_partition_pools_small_top_deciles_by_hand():
    # 100 rows, deciles of 10: p = 0.5 in deciles 1-5 (5 expected failures each),
    # 0.9 in deciles 6-10 (1 each): deciles 6-10 pool into one group of 50
    p = np.r_[np.full(50, 0.5), np.full(50, 0.9)]
    parts = dg.hl_partition(p, 10, min_expected=5)
    assert [len(g) for g in parts] == [10] * 5 + [50]
    # a last pool short of 5 joins the group before it: 4 x 1 + 0.1 expected
    p = np.r_[np.full(50, 0.5), np.full(40, 0.9), np.full(10, 0.99)]
    parts = dg.hl_partition(p, 10, min_expected=5)
    assert [len(g) for g in parts] == [10] * 4 + [60]
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    # without a minimum: ten equal groups, as before
    assert [len(g) for g in dg.hl_partition(p, 10)] == [10] * 10


def test_hosmer_lemeshow_small_sample_with_a_common_outcome():
    # urban-subsample shape: 400 rows, about 80% successes, correct probit
    rng = np.random.default_rng(20)
    X = design(rng, 400)
    d = (rng.uniform(size=400) < ndtr(X @ [0.9, 0.4, 0.9])).astype(float)
    p = dg._fit(d, X, "probit", "").predict(X)
    hl = dg.hosmer_lemeshow(d, p, min_expected=5)
    # deciles would leave top groups expecting fewer than 5 failures
    top = dg.hl_partition(p, 10)[-1]
    assert (1 - p[top]).sum() < 5
    assert hl["df"] < 8 and hl["p"] > 0.05
    assert (hl["table"]["expected"] >= 5).all()
    assert ((hl["table"]["n"] - hl["table"]["expected"]) >= 5).all()
    row = dg.equation_table(d, X, "probit").set_index("check").loc["Hosmer-Lemeshow"]
    assert row["df"] == hl["df"] and "pooled" in row["verdict"]


def test_checks_that_cannot_run_are_rows_not_errors():
    # 300 rows with 3 failures: no 3 groups can expect 5 failures each
    rng = np.random.default_rng(21)
    X = design(rng, 300)
    d = np.ones(300)
    d[:3] = 0.0
    with pytest.raises(ValueError, match="needs 3"):
        dg.hosmer_lemeshow(d, np.full(300, 0.99), min_expected=5)
    table = dg.equation_table(d, X, "probit").set_index("check")
    assert table.loc["Hosmer-Lemeshow", "verdict"].startswith("not computed")
    assert np.isnan(table.loc["Hosmer-Lemeshow", "p"])
    assert set(table.index) == {"link test", "RESET", "Hosmer-Lemeshow"}


def test_diagnostics_table_stacks_samples_and_records_failures():
    from analysis.beyond import stage as beyond
    from analysis.beyond import summary
    from analysis.inference.bootstrap.synthetic import toy_analytic
    from analysis.paper import models
    from analysis.paper.estimates import subsample
    from analysis.paper.models import design_frame

    toy = toy_analytic(900, np.random.default_rng(3))
    fits = {}
    for sample in ("total", "urban"):
        data = design_frame(subsample(toy, sample))
        for outcome in ("reimb_amount", "reimb_ratio"):
            fits[sample, outcome] = models.fit(data, sample, outcome)
    fits["ncms", "reimb_amount"] = ValueError("separation")
    fits["ncms", "reimb_ratio"] = ValueError("separation")
    for eq in ("probit", "amount"):
        table = beyond.diagnostics_table(fits, eq)
        assert list(table.columns[:3]) == list(beyond.DIAGNOSTIC_KEYS)
        assert not table.duplicated(list(beyond.DIAGNOSTIC_KEYS)).any()
        assert list(dict.fromkeys(table["sample"])) == ["total", "urban", "ncms"]
        failed = table[table["sample"] == "ncms"]
        assert failed["check"].tolist() == ["(fit failed)"]
        assert failed["verdict"].item().endswith("separation")
        # the urban rows are the checks of the urban fit's own design
        urban = fits["urban", models.OUTCOME_OF[eq]]
        expected = beyond.equation_diagnostics(urban, eq)
        got = table[table["sample"] == "urban"].drop(columns="sample")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    view = summary.diagnostics_view(beyond.diagnostics_table(fits, "amount"))
    assert list(view.columns) == ["check", "total", "urban", "ncms"]


def test_park_verdict_on_the_ratio_points_to_proportion_models():
    from analysis.beyond import stage as beyond
    from analysis.inference.bootstrap.synthetic import toy_analytic
    from analysis.paper import models
    from analysis.paper.estimates import subsample
    from analysis.paper.models import design_frame

    data = design_frame(subsample(toy_analytic(900, np.random.default_rng(3)), "total"))
    park = {}
    for eq in ("amount", "ratio"):
        res = models.fit(data, "total", models.OUTCOME_OF[eq])
        table = beyond.equation_diagnostics(res, eq).set_index("check")
        park[eq] = table.loc["modified Park test", "verdict"]
    assert park["ratio"].endswith(dg.PROPORTION_NOTE)
    assert "beta regression" in park["ratio"]
    assert dg.PROPORTION_NOTE not in park["amount"]
