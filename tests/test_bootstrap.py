"""Bootstrap: array refits and margins equal the estimator's, seed-determinism across
workers, failed replications counted, CIs, and bootstrap vs delta-method SEs.

Data: :func:`analysis.inference.bootstrap.synthetic.toy_analytic` (analytic schema,
known
probit + Gamma outcomes), so the tests do not depend on the calibrated generator.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.inference.bootstrap import results
from analysis.inference.bootstrap.intervals import bc_interval, summarise_draws
from analysis.inference.bootstrap.problem import build_problem
from analysis.inference.bootstrap.replicate import FAILURE_COLUMNS
from analysis.inference.bootstrap.resample import child_rng, cluster, pairs
from analysis.inference.bootstrap.runner import run_replications
from analysis.inference.bootstrap.synthetic import toy_analytic
from analysis.paper import estimates
from analysis.twopart import CollinearityError, PerfectPredictionError
from analysis.twopart.arrays import (
    MarginPlan,
    binary_columns,
    check_resample,
    exclusive_runs,
    fit_binary,
    fit_glm,
)


@pytest.fixture(scope="module")
def toy():
    return toy_analytic(1165, np.random.default_rng(3))


@pytest.fixture(scope="module")
def problem(toy):
    return build_problem(toy, pairs(len(toy)))


@pytest.mark.parametrize("semantics", ["columnwise", "factor"])
def test_margin_plan_equals_margins(toy, semantics):
    # every dydx margin of every fit, same rows and order; 1e-10 relative
    for res in estimates.fit_all(toy, semantics=semantics).values():
        m = res.margins()
        plan = MarginPlan.from_results(res)
        labels = zip(m.part, m.component, m.term, m.level, strict=True)
        assert plan.labels == list(labels)
        est = plan.evaluate(res.fits[0].params, res.fits[1].params)
        np.testing.assert_allclose(est, m["estimate"], rtol=1e-10, atol=1e-13)


def test_weighted_refit_equals_refit_on_drawn_rows(toy):
    res = estimates.fit_all(toy)[("total", "reimb_amount")]
    X, d = res.designs[0].X, res.sample.d
    w = np.bincount(child_rng(1, 0).integers(0, len(d), len(d)), minlength=len(d))
    rows = np.repeat(np.arange(len(d)), w)
    b_w = fit_binary(d, X, "probit", w.astype(float), start=res.fits[0].params)
    b_r = fit_binary(d[rows], X[rows], "probit")
    np.testing.assert_allclose(b_w, b_r, rtol=1e-9, atol=1e-11)
    r2 = np.flatnonzero(res.sample.rows2)
    X2, y2, w2 = X[r2], res.sample.y[r2], w[r2]
    g_w = fit_glm(y2, X2, "gamma", "log", w2.astype(float), start=res.fits[1].params)
    g_r = fit_glm(np.repeat(y2, w2), np.repeat(X2, w2, axis=0), "gamma", "log")
    np.testing.assert_allclose(g_w, g_r, rtol=1e-9, atol=1e-11)
    # unit weights give the full-sample estimates
    np.testing.assert_allclose(
        fit_binary(d, X, "probit", np.ones(len(d))), res.fits[0].params, rtol=1e-9
    )


def test_child_seeds_are_spawned_children():
    kids = np.random.SeedSequence(11).spawn(5)
    for r, kid in enumerate(kids):
        a = np.random.default_rng(kid).random(3)
        np.testing.assert_array_equal(child_rng(11, r).random(3), a)


def test_seed_determinism_across_workers_and_chunks(problem):
    one, f1 = run_replications(problem, 12, seed=5, workers=1, chunk=12)
    two, f2 = run_replications(problem, 12, seed=5, workers=2, chunk=5)
    np.testing.assert_array_equal(one, two)
    pd.testing.assert_frame_equal(f1, f2)
    # a prefix of a longer run is the same draws (replication r depends on r only)
    more, _ = run_replications(problem, 15, seed=5, workers=1, chunk=4)
    np.testing.assert_array_equal(more[:12], one)
    other, _ = run_replications(problem, 3, seed=6)
    assert not np.allclose(other, one[:3])


class DropPrivateInUrban:
    """Resampler that removes every urban 'private facility' row in about half of
    the replications: the urban fits lose a category there, the others do not."""

    def __init__(self, frame):
        self.n = len(frame)
        self.rows = (
            frame["scheme"].isin(["URBMI", "UEBMI"])
            & (frame["facility_level"] == "private")
        ).to_numpy()

    def weights(self, rng):
        w = np.ones(self.n)
        if rng.random() < 0.5:
            w[self.rows] = 0.0
        return w


def test_failed_replications_counted_not_dropped(toy):
    prob = build_problem(toy, DropPrivateInUrban(toy))
    draws, fails = run_replications(prob, 10, seed=2)
    lost = [r for r in range(10) if child_rng(2, r).random() < 0.5]
    assert 0 < len(lost) < 10
    assert sorted(set(fails["rep"])) == lost
    assert set(fails["sample"]) == {"urban"}
    assert set(fails["error"]) == {"CollinearityError"}
    assert len(fails) == 2 * len(lost)  # both urban fits of each such replication
    cat = prob.catalogue
    urban = (cat["sample"] == "urban").to_numpy()
    assert np.isnan(draws[np.ix_(lost, urban)]).all()
    assert np.isfinite(draws[:, ~urban]).all()
    ok = [r for r in range(10) if r not in lost]
    assert np.isfinite(draws[np.ix_(ok, urban)]).all()
    stats = summarise_draws(cat["estimate"].to_numpy(), draws)
    assert (stats.loc[urban, "n_failed"] == len(lost)).all()
    assert (stats.loc[~urban, "n_failed"] == 0).all()


def test_rare_level_fails_some_pairs_replications():
    # a level with 3 respondents is lost in ~5% of pairs resamples: counted
    frame = toy_analytic(600, np.random.default_rng(8))
    keep = frame.index[frame["facility_level"] == "private"][:3]
    rest = (frame["facility_level"] == "private") & ~frame.index.isin(keep)
    frame.loc[rest, "facility_level"] = "primary"
    res = results.bootstrap(frame, 40, seed=4, scheme="pairs")
    sampled = res.failures[res.failures["rep"] >= 0]
    assert len(sampled) > 0
    q = res.quantities
    for (s, o), block in q.groupby(["sample", "outcome"]):
        n_fail = sampled[(sampled["sample"] == s) & (sampled["outcome"] == o)]
        assert (block["n_failed"] == n_fail["rep"].nunique()).all()
        assert (block["n_ok"] + block["n_failed"] == 40).all()


def test_cluster_weights_rao_wu():
    strata = np.repeat(["a", "b", "c", "d"], [6, 9, 2, 3])
    psu = np.array(
        [
            "a1",
            "a1",
            "a2",
            "a3",
            "a3",
            "a3",
            "b1",
            "b2",
            "b2",
            "b3",
            "b3",
            "b3",
            "b4",
            "b4",
            "b4",
            "c1",
            "c1",
            "d1",
            "d1",
            "d1",
        ]
    )
    rs = cluster(strata, psu)  # c and d are singletons: pooled (2 PSUs)
    for r in range(20):
        w = rs.weights(child_rng(0, r))
        for p in np.unique(psu):
            assert np.ptp(w[psu == p]) == 0  # constant within PSU
        per_psu = pd.Series(w).groupby(psu).first()
        st = pd.Series(strata).groupby(psu).first()
        grp = st.replace({"c": "cd", "d": "cd"})
        totals = per_psu.groupby(grp).sum()
        np.testing.assert_allclose(totals.to_numpy(), [3, 4, 2])  # n_h each
    fixed = cluster(strata, psu, singletons="fixed")
    w = fixed.weights(child_rng(0, 0))
    assert (w[np.isin(strata, ["c", "d"])] == 1.0).all()


def test_intervals():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 0.5, 4000)
    x_sym = np.concatenate([x, 4.0 - x])  # symmetric about theta = 2: z0 = 0
    lo, hi = bc_interval(2.0, x_sym)
    np.testing.assert_allclose([lo, hi], np.quantile(x_sym, [0.025, 0.975]))
    draws = np.column_stack([x, x + 1.0])
    draws[:7, 1] = np.nan
    s = summarise_draws(np.array([2.0, 3.0]), draws)
    assert list(s["n_failed"]) == [0, 7]
    np.testing.assert_allclose(s["se_boot"][0], np.std(x, ddof=1))
    np.testing.assert_allclose(
        s["ci_normal_high"] - 2.0,
        [1.959964 * s["se_boot"][0], 1.959964 * s["se_boot"][1] + 1.0],
        rtol=1e-6,
    )
    assert abs(s["ci_percentile_low"][0] - np.quantile(x, 0.025)) < 1e-12
    assert np.isnan(bc_interval(100.0, x)).all()  # all draws below theta


def test_paper_cells_and_files(toy, tmp_path):
    res = results.bootstrap(toy, 8, seed=1, scheme="cluster")
    cells = results.paper_cells(res, "bc")
    ref = estimates.paper_cells(estimates.fit_all(toy))
    m = ref.merge(cells, on=list(estimates.CELL_KEYS), suffixes=("", "_b"))
    assert len(m) == len(ref) == len(cells)
    np.testing.assert_allclose(m["estimate_b"], m["estimate"], rtol=1e-12)
    np.testing.assert_allclose(m["se_delta"], m["se"], rtol=1e-12)
    assert (m["n"] == m["n_b"]).all()
    results.write(res, tmp_path / "estimates", tmp_path / "tables", "percentile")
    for name in ("quantities.csv", "paper_cells.csv", "failures.csv", "draws.parquet"):
        assert (tmp_path / "estimates" / f"bootstrap_cluster_{name}").exists()
    t3 = pd.read_csv(tmp_path / "tables" / "table3_bootstrap_cluster.csv")
    assert t3["probit_se"].notna().sum() > 20


def _se_ratio(n, reps, seed):
    frame = toy_analytic(n, np.random.default_rng(seed))
    res = results.bootstrap(frame, reps, seed=seed, scheme="pairs")
    q = res.quantities
    q = q[q["sample"] == "total"]
    return (q["se_boot"] / q["se_delta"]).to_numpy()


def test_bootstrap_se_agrees_with_delta_light():
    # N = 4,000, B = 100: the SD of a bootstrap SE is about SE / sqrt(2B) = 7%
    r = _se_ratio(4000, 100, 21)
    assert abs(np.median(r) - 1.0) < 0.05
    assert np.mean(np.abs(r - 1.0) < 3.0 / np.sqrt(200)) > 0.9


@pytest.mark.slow
def test_bootstrap_se_agrees_with_delta_large():
    # N = 20,000, B = 400: MC SD of the ratio ~3.5%; 3.5 SD bands
    r = _se_ratio(20_000, 400, 22)
    assert abs(np.median(r) - 1.0) < 0.02
    assert np.mean(np.abs(r - 1.0) < 3.5 / np.sqrt(800)) > 0.95


@pytest.mark.parametrize("model", ["probit", "logit"])
def test_lean_newton_equals_generic_newton(toy, model):
    # arrays' closed-form factors and solve (zero-weight rows dropped) = fit.py's
    # generic ones, both through the one Newton loop
    from analysis.twopart.fit import glm_family, newton_binary, newton_glm

    res = estimates.fit_all(toy)[("total", "reimb_amount")]
    X, d = res.designs[0].X, res.sample.d
    w = np.bincount(child_rng(3, 0).integers(0, len(d), len(d)), minlength=len(d))
    w = w.astype(float)
    b_gen, _, ok = newton_binary(d, X, model, w)
    assert ok
    np.testing.assert_allclose(
        fit_binary(d, X, model, w), b_gen, rtol=1e-10, atol=1e-12
    )
    r2 = np.flatnonzero(res.sample.rows2)
    X2, y2, w2 = X[r2], res.sample.y[r2], w[r2]
    g_gen, _, ok = newton_glm(y2, X2, glm_family("gamma", "log"), w2)
    assert ok
    np.testing.assert_allclose(
        fit_glm(y2, X2, "gamma", "log", w2), g_gen, rtol=1e-10, atol=1e-12
    )


def test_failure_summary_names_samples_and_errors():
    failures = pd.DataFrame(
        [
            (-1, "urban", "reimb_ratio", "full sample", "SeparationError", "m"),
            (3, "urban", "reimb_amount", "part1", "PerfectPredictionError", "m"),
            (3, "urban", "reimb_ratio", "part1", "PerfectPredictionError", "m"),
            (7, "ncms", "reimb_amount", "part2", "ConvergenceError", "m"),
        ],
        columns=list(FAILURE_COLUMNS),
    )
    text = results.failure_summary(failures, 999)
    assert "urban 1 of 999 (PerfectPredictionError 2)" in text
    assert "not estimable on the full sample: reimb_ratio (SeparationError)" in text
    assert "ncms 1 of 999 (ConvergenceError 1)" in text
    assert results.failure_summary(failures.iloc[:0], 9) == (
        "9 replications, no failed refit"
    )


def _factor_design(n=240, seed=11):
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, n)  # 0 is the reference level
    X = np.column_stack(
        [rng.normal(size=n)]
        + [(level == k).astype(float) for k in (1, 2, 3)]
        + [(rng.random(n) < 0.5).astype(float), np.ones(n)]
    )
    d = (rng.random(n) < 0.6).astype(float)
    return X, d, level


def test_factor_dummies_form_one_run_and_the_other_binary_does_not_join():
    X, _, _ = _factor_design()
    binary = binary_columns(X)
    runs = exclusive_runs(X, binary, np.ones(len(X), bool))
    assert [binary[r].tolist() for r in runs] == [[1, 2, 3]]


def test_a_reference_level_that_predicts_participation_fails_the_replication():
    X, d, level = _factor_design()
    binary = binary_columns(X)
    w = np.ones(len(X))
    check_resample(X, w, binary, d)  # the full sample is fine
    d[level == 0] = 1.0  # every reference-level row participates
    with pytest.raises(PerfectPredictionError, match="reference level"):
        check_resample(X, w, binary, d, names=[f"x{j}" for j in range(X.shape[1])])
    # the same rows left out of the resample: no reference row, a lost level
    w[level == 0] = 0.0
    with pytest.raises(CollinearityError, match="reference level of"):
        check_resample(X, w, binary, d)


def test_real_mode_tables_suppress_thin_cells_and_carry_no_notice(toy, tmp_path):
    # The bootstrap stage on real data applies the exhibits' disclosure rule to the
    # Tables 3-4 it writes and does not call them synthetic.
    from analysis import cli, disclosure, notices
    from analysis.config import RunPaths

    paths = RunPaths(tmp_path)
    paths.derived_dir.mkdir(parents=True)
    frame = toy.assign(in_part2=toy["reimbursed"])  # every toy claim has an amount
    frame.to_parquet(paths.analytic)
    counts = disclosure.model_cell_counts(
        frame, estimates.paper_cells(estimates.fit_all(frame))
    )
    min_cell = int(counts.median())  # some cells fall below it, some do not
    assert (counts < min_cell).any() and (counts >= min_cell).any()
    args = ["-q", "--root", str(tmp_path), "bootstrap", "--reps", "4", "--seed", "3"]
    assert cli.main([*args, "--real", "--min-cell", str(min_cell)]) == 0
    cells = pd.read_csv(paths.estimates_dir / "bootstrap_pairs_paper_cells.csv")
    hidden = disclosure.suppress_model_cells(cells, frame, min_cell)
    t3 = pd.read_csv(paths.tables_dir / "table3_bootstrap_pairs.csv", dtype=str)
    assert notices.CSV_COLUMN not in t3
    total = hidden[hidden["sample"] == "total"].set_index(["term", "equation"])
    shown = 0
    for row in t3.itertuples():
        for eq in ("probit", "amount", "ratio"):
            if (row.term, eq) not in total.index:
                continue
            cell = getattr(row, f"{eq}_se")
            if total.loc[(row.term, eq), "suppressed"]:
                assert cell == disclosure.marker(min_cell), (row.term, eq)
            else:
                assert cell != disclosure.marker(min_cell), (row.term, eq)
                shown += 1
    assert shown > 0
    assert cli.main(args) == 0  # synthetic mode: nothing suppressed, the notice on
    t3 = pd.read_csv(paths.tables_dir / "table3_bootstrap_pairs.csv", dtype=str)
    assert (t3[notices.CSV_COLUMN] == notices.CSV).all()
    assert not (t3["probit_se"] == disclosure.marker(min_cell)).any()
