"""The synthetic analytic frame against the published exhibits and its own coherence.

Every Table 1 and Table 2 cell is recomputed from the frame and compared with
``data/published/`` at the published rounding; the only cells skipped are the ones the
conflict log (``data/published/inconsistencies.csv``, column ``unmatched_cells``)
declares unreproducible. Samples: amount and ratio rows on ``in_part2 == 1``; Table 1
expenditure on all rows of each column; Table 2 expenditure on ``in_part2 == 1`` (C03).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from analysis import config
from analysis.cleaning import schema
from analysis.paper import published as published_tables
from analysis.synth import targets
from analysis.synth.analytic import FRAME_COLUMNS
from analysis.synth.calibration import covariates

SCOPES = schema.FACTORS["scope"]
COLUMNS = {"total": None, "ncms": ("NCMS",), "urban": ("URBMI", "UEBMI")}


@pytest.fixture(scope="module")
def frame(master_draw) -> pd.DataFrame:
    return master_draw[0].copy()


def _unmatched() -> set[str]:
    log = published_tables.read("inconsistencies")
    return set(log["unmatched_cells"].dropna())


def _rounds_to(value: float, published: float, decimals: int = 2) -> bool:
    return abs(round(value, decimals) - published) < 1e-9


def _column(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    schemes = COLUMNS[column]
    return frame if schemes is None else frame[frame["scheme"].isin(schemes)]


def _values(d: pd.DataFrame, variable: str) -> pd.Series:
    part2 = d[d["in_part2"] == 1]
    if variable == "reimb_amount":
        return part2["reimb_amount"]
    if variable == "reimb_ratio_pct":
        return 100 * part2["reimb_ratio"]
    return d[variable]


def _is_level(d: pd.DataFrame, variable: str, level: str) -> pd.Series:
    if variable in schema.FACTORS:
        return d[variable] == level
    return d[variable] == 1


# --- determinism ----------------------------------------------------------------------


def test_seed_not_consumed(master_draw):
    # A SeedSequence's draws are a function of its state, so a synthesis that leaves
    # its seed's state unchanged gives a later call with that seed the same draws.
    # That the same seed gives the same frame, and the provided survey, anywhere is
    # test_regeneration's: the survey built on this frame is the provided file.
    assert master_draw[2]


def test_contract_columns(frame):
    assert len(frame) == config.N_ANALYTIC
    assert tuple(frame.columns) == FRAME_COLUMNS
    for factor, levels in schema.FACTORS.items():
        assert set(frame[factor].dropna()) <= set(levels), factor
    for b in schema.BINARIES:  # in_part2 included
        assert frame[b].dtype == np.int8 and set(frame[b]) <= {0, 1}


# --- Table 1 --------------------------------------------------------------------------


def _table1_cells():
    t1 = published_tables.read("table1", dtype={"level": str})
    skip = _unmatched()
    for _, row in t1.iterrows():
        for column in COLUMNS:
            if pd.isna(row[column]):
                continue
            level = "" if pd.isna(row["level"]) else row["level"]
            key = f"table1:{row['variable']}:{level}:{column}"
            if key in skip:
                continue
            yield pytest.param(row, column, id=key)


@pytest.mark.parametrize(("row", "column"), list(_table1_cells()))
def test_table1_cell(frame, row, column):
    d = _column(frame, column)
    if row["stat"] == "n_pct":
        count = int(_is_level(d, row["variable"], row["level"]).sum())
        assert count == int(row[column])
        assert _rounds_to(100 * count / len(d), row[f"{column}_spread"])
    else:
        v = _values(d, row["variable"])
        assert _rounds_to(v.mean(), row[column]), v.mean()
        assert _rounds_to(v.std(ddof=1), row[f"{column}_spread"]), v.std(ddof=1)


def test_income_quintiles_are_qcut_with_233_each(frame):
    assert (frame["income_quintile"].value_counts() == 233).all()
    q = pd.qcut(
        frame["income_pc_month"], 5, labels=list(schema.FACTORS["income_quintile"])
    )
    assert (q.astype(str) == frame["income_quintile"]).all()


# --- Table 2 --------------------------------------------------------------------------


def _table2_cells():
    t2 = published_tables.read("table2")
    for _, row in t2.iterrows():
        for scope in SCOPES:
            yield pytest.param(row, scope, id=f"table2:{row['variable']}:{scope}")


def _table2_values(frame: pd.DataFrame, variable: str) -> pd.DataFrame:
    if variable == "reimbursed_pct":
        return frame.assign(v=100.0 * frame["reimbursed"])
    part2 = frame[frame["in_part2"] == 1]
    if variable == "reimb_ratio_pct":
        return part2.assign(v=100 * part2["reimb_ratio"])
    return part2.assign(v=part2[variable])


@pytest.mark.parametrize(("row", "scope"), list(_table2_cells()))
def test_table2_cell(frame, row, scope):
    d = _table2_values(frame, row["variable"])
    v = d.loc[d["scope"] == scope, "v"]
    assert _rounds_to(v.mean(), row[scope]), v.mean()
    assert _rounds_to(v.std(ddof=1), row[f"{scope}_sd"]), v.std(ddof=1)


def test_table2_p_values(frame):
    t2 = published_tables.read("table2").set_index("variable")["p_value"]
    skip = _unmatched()
    chi2 = stats.chi2_contingency(pd.crosstab(frame["scope"], frame["reimbursed"]))
    assert chi2.pvalue < 0.001 and t2["reimbursed_pct"] == "<0.001"
    for variable in ("reimb_amount", "reimb_ratio_pct", "total_expenditure"):
        if f"table2:{variable}:p_value" in skip:
            continue
        d = _table2_values(frame, variable)
        p = stats.f_oneway(*(d.loc[d["scope"] == s, "v"] for s in SCOPES)).pvalue
        assert _rounds_to(p, float(t2[variable]), 3), (variable, p)


# --- Figures 1 and 2 ------------------------------------------------------------------


def test_figure1_percentages(frame):
    published = published_tables.read("figure1").set_index("reason")["pct"]
    reasons = frame["noreimb_reason"].dropna()
    assert frame.loc[frame["reimbursed"] == 1, "noreimb_reason"].isna().all()
    share = 100 * reasons.value_counts(normalize=True)
    for reason, pct in published.items():
        assert _rounds_to(share[reason], pct, 1), reason


def test_figure2_go_back_share_rises_with_scope(frame):
    go_back = frame["noreimb_reason"] == "go_back_to_hometown"
    denominators = {
        "answered": frame["noreimb_reason"].notna(),
        "non_reimbursed": frame["reimbursed"] == 0,
        "all": pd.Series(True, index=frame.index),
    }
    for name, denominator in denominators.items():
        shares = [
            (go_back & (frame["scope"] == s)).sum()
            / (denominator & (frame["scope"] == s)).sum()
            for s in SCOPES
        ]
        assert shares[0] < shares[1] < shares[2], name


# --- coherence ------------------------------------------------------------------------


def test_money_coherence(frame):
    part2 = frame["in_part2"] == 1
    assert (frame.loc[part2, "reimbursed"] == 1).all()
    assert frame.loc[part2, "reimb_amount"].notna().all()
    assert frame.loc[~part2, ["reimb_amount", "reimb_ratio"]].isna().all().all()
    amount = frame.loc[part2, "reimb_amount"]
    cost = frame.loc[part2, "total_expenditure"]
    assert (frame["total_expenditure"] > 0).all()
    assert (amount == np.round(amount)).all() and (amount > 0).all()
    assert (amount <= cost).all()
    assert (frame.loc[part2, "reimb_ratio"] == amount / cost).all()
    missing = (frame["reimbursed"] == 1) & ~part2
    assert set(frame.loc[missing, "amount_missing"]) <= {"dont_know", "refused"}
    assert frame.loc[~missing, "amount_missing"].isna().all()


def test_dates_consistent(frame):
    age = 2014 - frame["birth_year"] - (frame["birth_month"] > 5)
    assert (age == frame["age"]).all()
    assert frame["age"].between(15, 59).all()
    months = (2014 - frame["arrival_year"]) * 12 + (5 - frame["arrival_month"])
    assert (months >= 1).all()
    bins = pd.cut(months, [0, 11, 59, 119, np.inf], labels=schema.FACTORS["duration"])
    assert (bins.astype(str) == frame["duration"]).all()
    birth = frame["birth_year"] * 12 + frame["birth_month"]
    assert (frame["arrival_year"] * 12 + frame["arrival_month"] > birth).all()


def test_income_identity(frame):
    assert (frame["hh_size"] >= 1).all()
    assert (frame["income_pc_month"] == frame["famincom_m"] / frame["hh_size"]).all()


def test_joint_structure_plausible(frame):
    ncms = frame["scheme"] == "NCMS"
    assert (frame.loc[ncms, "rural_hukou"] == 1).all()
    uebmi = (frame["scheme"] == "UEBMI").astype(float)
    college = (frame["education"] == "college_or_above").astype(float)
    assert np.corrcoef(uebmi, college)[0, 1] > 0.15
    assert np.corrcoef(uebmi, frame["has_job"])[0, 1] > 0.1
    assert np.corrcoef(frame["age"], frame["married"])[0, 1] > 0.1
    by_edu = frame.groupby("education")["income_pc_month"].mean()
    assert by_edu["college_or_above"] > by_edu["primary_or_below"]
    urban = frame[~ncms]
    assert urban.groupby("scheme")["income_pc_month"].mean().idxmax() == "UEBMI"


# --- realism of the members' age and income -------------------------------------------


def _designed_age_moments() -> tuple[float, float]:
    """Kurtosis and share under 21 of the designed age shape, scaled to Table 1.

    The truncated mixture's density is integrated on a fine grid (differences of its
    CDF), then scaled to the total column's published mean and SD as the synthesis
    scales it.
    """
    edges = np.linspace(covariates.AGE_MIN, covariates.AGE_MAX, 44_001)
    mass = np.diff(covariates.age_shape_cdf(edges))
    mid = 0.5 * (edges[1:] + edges[:-1])
    mean = np.sum(mass * mid)
    sd = np.sqrt(np.sum(mass * (mid - mean) ** 2))
    kurtosis = np.sum(mass * (mid - mean) ** 4) / sd**4
    published_mean, published_sd = targets.t1_moments("age", "total")
    years = published_mean + published_sd * (mid - mean) / sd
    return float(kurtosis), float(np.sum(mass[years < 20.5]))


def test_age_has_two_humps_and_no_plateau(frame):
    """Young-adult and middle-aged humps with a trough between, not a flat band."""
    counts = pd.cut(frame["age"], np.arange(15, 61, 5), right=False).value_counts()
    counts = counts.sort_index().to_numpy()  # 15-19, 20-24, ..., 55-59
    young, middle, old = counts[2:4].max(), counts[4], counts[5:7].max()
    assert young > 1.4 * middle and old > 1.4 * middle
    interior = counts[1:8]  # 20-54, where the flat shape put every age evenly
    assert interior.max() > 2 * interior.min()


def test_age_range_reaches_below_21(frame):
    age = frame["age"]
    assert age.between(covariates.AGE_MIN, covariates.AGE_MAX).all()
    young = float((age < 21).mean())
    _, designed = _designed_age_moments()
    assert 0.005 < young < 0.05
    assert abs(young - designed) < 0.01


def test_age_kurtosis_as_designed(frame):
    """Low kurtosis (below the flat shape's 1.8) is what keeps the age SE up."""
    designed, _ = _designed_age_moments()
    assert designed < 1.8
    assert abs(stats.kurtosis(frame["age"], fisher=False) - designed) < 0.1


def test_age_shape_quantile_inverts_its_cdf():
    """Bisection against a root finder on scipy's own normal CDF."""
    u = np.array([0.001, 0.02, 0.25, 0.5, 0.75, 0.98, 0.999])
    q = covariates.age_shape_quantile(u)
    w = covariates.AGE_YOUNG_WEIGHT

    def cdf(a):
        young = stats.norm.cdf(a, covariates.AGE_YOUNG_MEAN, covariates.AGE_YOUNG_SD)
        old = stats.norm.cdf(a, covariates.AGE_OLD_MEAN, covariates.AGE_OLD_SD)
        return w * young + (1 - w) * old

    lo, hi = cdf(covariates.AGE_MIN), cdf(covariates.AGE_MAX)
    for uk, qk in zip(u, q, strict=True):
        ref = optimize.brentq(
            lambda a, uk=uk: (cdf(a) - lo) / (hi - lo) - uk,
            covariates.AGE_MIN,
            covariates.AGE_MAX,
            xtol=1e-12,
        )
        assert abs(qk - ref) < 1e-8


def test_household_income_heaped_at_the_designed_share(frame):
    """Round hundreds at HEAP_SHARE (plus the 1% of whole-yuan reports that happen to
    be round), round thousands more often than the other round hundreds."""
    inc = frame["famincom_m"].to_numpy()
    hundreds = inc % 100 == 0
    thousands = inc % 1000 == 0
    expected = covariates.HEAP_SHARE + (1 - covariates.HEAP_SHARE) / 100
    binomial_sd = np.sqrt(expected * (1 - expected) / len(inc))
    assert abs(hundreds.mean() - expected) < 4 * binomial_sd
    assert thousands.sum() > (hundreds & ~thousands).sum()
    assert (inc % 10 != 0).mean() > 0.5 * (1 - covariates.HEAP_SHARE)


def test_heap_income_rounds_only_the_heaped():
    raw = np.array([1234, 1234, 5678, 5678, 5678, 40, 5678])
    u = np.array([0.9, 0.1, 0.1, 0.6, 0.99, 0.5, covariates.HEAP_SHARE])
    got, heaped = covariates.heap_income(raw, u)
    thousand = covariates.HEAP_SHARE * covariates.THOUSAND_SHARE
    assert 0.1 < thousand < 0.6 < covariates.HEAP_SHARE < 0.9  # the draws above
    assert got.tolist() == [1234, 1200, 6000, 5700, 5678, 100, 5678]
    assert heaped.tolist() == [False, True, True, True, False, True, False]


def test_quintile_tie_reports_both_sides_of_the_tie_group():
    """Ten rows: the boundaries fall after rows 2, 4, 6, 8 of the sorted incomes."""
    income = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 9.0, 8.0, 2.0])
    above, below = covariates._quintile_boundary_tie(income)
    # sorted: 1 2 | 3 3 | 3 3 | 3 5 | 8 9; the first tied boundary is the second
    assert sorted(above.tolist() + below.tolist()) == [2, 3, 4, 5, 6]
    assert len(below) == 2 and len(above) == 3
    assert covariates._quintile_boundary_tie(np.arange(10.0)) is None
