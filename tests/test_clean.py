"""Unit tests of the cleaning stage on hand-built raw rows (clean, flow)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.cleaning import clean
from analysis.cleaning.clean import clean_survey
from analysis.cleaning.codebook import Codebook
from analysis.cleaning.derive import income_quintile
from analysis.cleaning.schema import (
    ANALYTIC_COLUMNS,
    BINARIES,
    CONTINUOUS,
    DESIGN,
    FACTORS,
)
from analysis.config import CODEBOOK_DIR

CODEBOOK = Codebook()

# One respondent who passes every selection rule, in canonical concept codes.
BASE = {
    "locality_code": "11010100100101",
    "city_name": "Beijing",
    "stratum": 1,
    "psu": 10,
    "neighbourhood": 100,
    "sex": 1,
    "birth_year": 1980,
    "birth_month": 1,
    "ethnicity": 1,
    "education": 3,
    "hukou_type": 1,
    "hukou_province": 41,
    "scope": 1,
    "arrival_year": 2010,
    "arrival_month": 5,
    "marital_status": 2,
    "migration_reason": 1,
    "employed": 1,
    "employment_identity": 1,
    "household_income": 6000,
    "household_expenditure": 3000,
    "household_size": 3,
    "residence_area": 1,
    "ins_ncms": 1,
    "ins_urbmi": 2,
    "ins_uebmi": 2,
    "ins_commercial": 2,
    "hosp_any": 1,
    "hosp_place": 1,
    "hosp_level": 2,
    "hosp_cost": 10000,
    "reimb_any": 1,
    "reimb_src_ncms_allowance": 1,
    "reimb_src_uebmi_allowance": 0,
    "reimb_src_employer": 0,
    "reimb_src_ncms_office": 0,
    "reimb_src_health_centre": 0,
    "reimb_src_commercial": 0,
    "reimb_src_fp_allowance": 0,
    "reimb_src_fp_operation": 0,
    "reimb_src_else": 0,
    "reimb_amount": 4000,
    "noreimb_reason": -8,
}
NOT_HOSPITALISED = {
    "hosp_any": 2,
    "hosp_place": -8,
    "hosp_level": -8,
    "hosp_cost": -8,
    "reimb_any": -8,
    "reimb_amount": -8,
    **{c: -8 for c in BASE if c.startswith("reimb_src_")},
}
NOT_REIMBURSED = {
    "reimb_any": 2,
    "reimb_amount": -8,
    "noreimb_reason": 1,
    **{c: -8 for c in BASE if c.startswith("reimb_src_")},
}


def concept_rows(*overrides: dict) -> pd.DataFrame:
    """Concept-space rows: BASE updated by each override; ids 1, 2, ... by default."""
    rows = [{"resp_id": i + 1, **BASE, **o} for i, o in enumerate(overrides)]
    return pd.DataFrame(rows)


def to_raw(concepts: pd.DataFrame, codebook: Codebook = CODEBOOK) -> pd.DataFrame:
    """Encode concept rows as a raw frame: source codes (inverse recode), raw names."""
    out = {}
    for concept in codebook.variables.index:
        values = concepts[concept]
        inverse = {v: k for k, v in codebook.recode.get(concept, {}).items()}
        if inverse:
            values = values.replace(inverse)
        out[codebook.column(concept)] = values
    return pd.DataFrame(out)


def raw_rows(*overrides: dict) -> pd.DataFrame:
    """Raw frame built from concept overrides through the default codebook."""
    return to_raw(concept_rows(*overrides))


def one(**override) -> pd.Series:
    """Clean a single respondent and return its analytic row."""
    result = clean_survey(raw_rows(override))
    assert len(result.analytic) == 1, result.flow
    return result.analytic.iloc[0]


# --- output contract --------------------------------------------------------------


def test_columns_dtypes_key_and_order():
    raw = raw_rows({"resp_id": 12}, {"resp_id": 3}, {"resp_id": 100})
    out = clean_survey(raw).analytic
    assert tuple(out.columns) == ANALYTIC_COLUMNS
    for f, levels in FACTORS.items():
        assert isinstance(out[f].dtype, pd.CategoricalDtype)
        assert tuple(out[f].cat.categories) == levels
    assert all(out[b].dtype == np.int8 for b in BINARIES)
    assert all(out[c].dtype == np.float64 for c in CONTINUOUS)
    assert all(pd.api.types.is_string_dtype(out[d]) for d in DESIGN)
    assert out["resp_id"].tolist() == ["000003", "000012", "000100"]
    assert out["resp_id"].is_unique and out["resp_id"].is_monotonic_increasing


def test_design_ids():
    row = one(locality_code="44030512300207", stratum=7, psu=345)
    assert (row.province, row.city, row.stratum, row.psu) == ("44", "4403", "7", "345")


# --- derived concepts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "age"),
    [(1980, 1, 34), (1980, 5, 34), (1980, 6, 33), (1980, 12, 33), (1999, 5, 15)],
)
def test_age_at_may_2014(year, month, age):
    row = one(birth_year=year, birth_month=month)
    assert row.age == age and row.age_sq == age**2


@pytest.mark.parametrize(
    ("months", "level"),
    [(0, "0-1"), (11, "0-1"), (12, "1-5"), (59, "1-5"), (60, "5-10"),
     (119, "5-10"), (120, "10+"), (300, "10+")],
)  # fmt: skip
def test_duration_boundaries(months, level):
    total = 2014 * 12 + 4 - months  # months since 2014-05 counted on a 0-based month
    year, month = divmod(total, 12)
    assert one(arrival_year=year, arrival_month=month + 1).duration == level


@pytest.mark.parametrize(
    ("code", "level"),
    [(1, "primary_or_below"), (2, "primary_or_below"), (3, "junior_high"),
     (4, "senior_high"), (5, "college_or_above"), (6, "college_or_above"),
     (7, "college_or_above")],
)  # fmt: skip
def test_education_collapse(code, level):
    assert one(education=code).education == level


@pytest.mark.parametrize(
    ("concept", "code", "column", "value"),
    [
        ("sex", 1, "female", 0), ("sex", 2, "female", 1),
        ("marital_status", 1, "married", 0), ("marital_status", 2, "married", 1),
        ("marital_status", 3, "married", 1), ("marital_status", 4, "married", 0),
        ("marital_status", 5, "married", 0),
        ("employed", 1, "has_job", 1), ("employed", 2, "has_job", 0),
        ("hukou_type", 1, "rural_hukou", 1), ("hukou_type", 2, "rural_hukou", 0),
        ("hukou_type", 3, "rural_hukou", 1), ("hukou_type", 4, "rural_hukou", 0),
        ("residence_area", 1, "urban_area", 1), ("residence_area", 2, "urban_area", 0),
        ("scope", 3, "scope", "within_city_across_counties"),
        ("scope", 2, "scope", "within_province_across_cities"),
        ("scope", 1, "scope", "across_provinces"),
        ("migration_reason", 1, "reason", "job"),
        ("migration_reason", 2, "reason", "job"),
        ("migration_reason", 3, "reason", "family_following"),
        ("migration_reason", 4, "reason", "other"),
        ("migration_reason", 11, "reason", "other"),
        ("hosp_level", 1, "facility_level", "primary"),
        ("hosp_level", 4, "facility_level", "private"),
    ],
)  # fmt: skip
def test_code_maps(concept, code, column, value):
    assert one(**{concept: code})[column] == value


@pytest.mark.parametrize(
    ("ncms", "urbmi", "uebmi", "scheme"),
    [(1, 2, 2, "NCMS"), (2, 1, 2, "URBMI"), (2, 2, 1, "UEBMI"), (1, 1, 2, "URBMI"),
     (1, 2, 1, "UEBMI"), (2, 1, 1, "UEBMI"), (1, 1, 1, "UEBMI"), (1, -1, 2, "NCMS")],
)  # fmt: skip
def test_scheme_priority(ncms, urbmi, uebmi, scheme):
    assert one(ins_ncms=ncms, ins_urbmi=urbmi, ins_uebmi=uebmi).scheme == scheme


def test_dual_enrolment_logged_not_dropped():
    raw = raw_rows(
        {"ins_urbmi": 1},
        {"ins_uebmi": 1},
        {"ins_ncms": 2, "ins_urbmi": 1, "ins_uebmi": 1},
        {"ins_urbmi": 1, "ins_uebmi": 1},
        {},
        {"ins_uebmi": 1, "hosp_cost": -1},  # dual but dropped later (rule 5)
    )
    result = clean_survey(raw)
    assert len(result.analytic) == 5
    log = result.recodes.set_index("recode")
    dual = log[log.index.str.startswith("Dual")]
    assert dual["n_at_step"].tolist() == [1, 2, 1, 1, 5]
    assert dual["n_analytic"].tolist() == [1, 1, 1, 1, 4]


def test_income_per_capita():
    row = one(household_income=7000, household_size=4)
    assert row.income_pc_month == 1750.0


# --- outcome rule (Wang et al. 2022, Methods) ---------------------------------------

ONLY = {c: 0 for c in BASE if c.startswith("reimb_src_")}


@pytest.mark.parametrize(
    ("chosen", "reimbursed"),
    [
        ({"reimb_src_ncms_allowance": 1}, 1),
        ({"reimb_src_commercial": 1}, 0),
        ({"reimb_src_else": 1}, 0),
        ({"reimb_src_commercial": 1, "reimb_src_else": 1}, 0),
        ({"reimb_src_commercial": 1, "reimb_src_ncms_allowance": 1}, 1),
        ({"reimb_src_else": 1, "reimb_src_employer": 1}, 1),
        ({"reimb_src_fp_operation": 1}, 1),
        ({}, 0),
    ],
)
def test_reimbursement_rule(chosen, reimbursed):
    row = one(**{**ONLY, **chosen})
    assert row.reimbursed == reimbursed
    assert row.in_part2 == reimbursed
    if reimbursed:
        assert row.reimb_amount == 4000 and row.reimb_ratio == 0.4
    else:
        assert np.isnan(row.reimb_amount) and np.isnan(row.reimb_ratio)


@pytest.mark.parametrize(
    ("amount", "in_part2"),
    [(-1, 0), (-2, 0), (0, 0), (1, 1), (10000, 1), (10001, 0)],
)
def test_amount_usable(amount, in_part2):
    row = one(reimb_amount=amount)
    assert row.reimbursed == 1 and row.in_part2 == in_part2
    if in_part2:
        assert row.reimb_amount == amount and row.reimb_ratio == amount / 10000
    else:
        assert np.isnan(row.reimb_amount) and np.isnan(row.reimb_ratio)


@pytest.mark.parametrize(
    ("code", "level"),
    [(1, "go_back_to_hometown"), (2, "unaware_of_procedure"),
     (3, "not_covered_by_policy"), (4, "other"), (-1, None), (-2, None)],
)  # fmt: skip
def test_noreimb_reason(code, level):
    row = one(**{**NOT_REIMBURSED, "noreimb_reason": code})
    assert row.reimbursed == 0 and row.in_part2 == 0
    assert pd.isna(row.noreimb_reason) if level is None else row.noreimb_reason == level


def test_noreimb_reason_nan_for_reimbursed():
    assert pd.isna(one().noreimb_reason)


def test_outcome_recodes_logged():
    raw = raw_rows(
        {**ONLY, "reimb_src_commercial": 1},
        {**ONLY, "reimb_src_else": 1},
        {**ONLY},
        {"reimb_amount": -1},
        {"reimb_amount": 0},
        {},
    )
    log = clean_survey(raw).recodes.set_index("recode")["n_analytic"]
    assert log.filter(like="only commercial").item() == 2
    assert log.filter(like="no source chosen").item() == 1
    assert log.filter(like="missing code").item() == 1
    assert log.filter(like="amount 0").item() == 1


# --- income quintiles ---------------------------------------------------------------


def test_quintiles_equal_counts_and_ties():
    n = 1165
    income = pd.Series(np.repeat([100.0, 200.0, 300.0, 400.0, 500.0], 233))
    income = income.sample(frac=1, random_state=1).reset_index(drop=True)
    income.iloc[:300] = 250.0  # a large tie block straddling cuts
    ids = pd.Series([f"{i:06d}" for i in range(n)]).sample(frac=1, random_state=2)
    q = income_quintile(income, ids.set_axis(income.index))
    assert q.value_counts().sort_index().tolist() == [233] * 5
    order = pd.DataFrame({"inc": income, "id": ids.to_numpy(), "q": q})
    order = order.sort_values(["inc", "id"])
    assert order["q"].is_monotonic_increasing  # ties split by resp_id


def test_quintiles_in_clean_are_over_the_analytic_sample():
    incomes = [1000, 5000, 2000, 4000, 3000, 9999]
    raw = raw_rows(*[{"household_income": x, "household_size": 1} for x in incomes])
    raw.loc[5, CODEBOOK.column("hosp_place")] = 2  # dropped: not in the quintiles
    out = clean_survey(raw).analytic.set_index("income_pc_month")["income_quintile"]
    assert out.to_dict() == {1000: "q1", 5000: "q5", 2000: "q2", 4000: "q4", 3000: "q3"}


# --- sample flow ---------------------------------------------------------------------


def flow_frame():
    """Rows each failing exactly one rule (plus three who pass)."""
    rows = [
        {}, {}, {},
        NOT_HOSPITALISED,
        {**NOT_HOSPITALISED, "hosp_any": -1},
        {"hosp_place": 2},
        {"hosp_place": 3},
        {"hosp_place": -1},
        {"ins_ncms": 2},
        {"ins_ncms": -1, "ins_urbmi": -1, "ins_uebmi": -1},
        {"education": -2},
        {"household_income": -1},
        {"household_size": -2},
        {"migration_reason": -1},
        {"arrival_year": -1},
        {"arrival_month": -1},
        {"hosp_level": -1},
        {"birth_year": -2},
        {"birth_month": -1, "marital_status": -2},  # counted once, under age
        {"marital_status": -2},
        {"employed": -2},
        {"hukou_type": -2},
        {"hosp_cost": -1},
        {"hosp_cost": -2},
        {"reimb_any": -1},
        {"hosp_place": 2, "education": -2},  # counted under rule 3, the first it fails
    ]  # fmt: skip
    return raw_rows(*rows)


def test_flow_counts_each_rule():
    flow = clean_survey(flow_frame()).flow.set_index("step")
    removed = flow["n_removed"].to_dict()
    expected = {"1": 0, "2": 2, "3": 4, "4": 2, "5a": 0, "5b": 1, "5c": 2, "5d": 0,
                "5e": 1, "5f": 2, "5g": 1, "5h": 2, "5i": 0, "5j": 1, "5k": 1,
                "5l": 1, "5m": 0, "5n": 2, "5o": 1}  # fmt: skip
    assert removed == expected


def test_flow_is_a_chain_with_no_silent_drop():
    raw = flow_frame()
    result = clean_survey(raw)
    flow = result.flow
    assert flow["n_before"].iloc[0] == len(raw)
    assert (flow["n_before"] - flow["n_removed"] == flow["n_after"]).all()
    assert (flow["n_before"].iloc[1:].to_numpy() == flow["n_after"].iloc[:-1]).all()
    assert flow["n_removed"].sum() == len(raw) - len(result.analytic)
    assert flow["n_after"].iloc[-1] == len(result.analytic) == 3
    assert flow["step"].is_unique
    assert flow["columns"].str.contains("syn_hosp_any").any()


# --- recode.csv / varmap.csv: another source's names and codes ----------------------

PERMUTATIONS = {
    "education": {1: 7, 2: 6, 3: 5, 4: 4, 5: 3, 6: 2, 7: 1},
    "sex": {1: 2, 2: 1},
    "ins_ncms": {1: 0, 2: 1},
    "hosp_any": {1: 2, 2: 1},
    "reimb_src_commercial": {0: 1, 1: 0},
    "scope": {1: 3, 3: 1},
}


def renamed_codebook(tmp_path) -> Codebook:
    """A codebook dir whose varmap renames every column and recode permutes codes."""
    directory = tmp_path / "codebook"
    shutil.copytree(CODEBOOK_DIR, directory)
    varmap = pd.read_csv(directory / "varmap.csv")
    varmap["column"] = "Q_" + varmap["column"].str.upper()
    varmap.to_csv(directory / "varmap.csv", index=False)
    rows = [
        (concept, source, canonical)
        for concept, perm in PERMUTATIONS.items()
        for canonical, source in perm.items()
    ]
    recode = pd.DataFrame(rows, columns=["concept", "source_code", "canonical_code"])
    recode.to_csv(directory / "recode.csv", index=False)
    return Codebook(directory)


def test_other_names_and_codes_give_identical_output(tmp_path):
    concepts = concept_rows(
        {}, {"education": 1, "sex": 2}, {"scope": 3, "ins_ncms": 2, "ins_uebmi": 1},
        {**ONLY, "reimb_src_commercial": 1}, NOT_HOSPITALISED, {"education": 6},
    )  # fmt: skip
    other = renamed_codebook(tmp_path)
    raw_other = to_raw(concepts, other)
    assert all(c.startswith("Q_") for c in raw_other.columns)
    assert raw_other[other.column("sex")].tolist() != concepts["sex"].tolist()
    expected = clean_survey(to_raw(concepts))
    got = clean_survey(raw_other, other)
    pd.testing.assert_frame_equal(got.analytic, expected.analytic)
    assert got.flow["n_removed"].tolist() == expected.flow["n_removed"].tolist()
    pd.testing.assert_frame_equal(got.recodes, expected.recodes)


# --- I/O ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::analysis.cleaning.validate.AnalyticWarning")
def test_main_writes_deterministic_files(tmp_path):
    raw = raw_rows({}, {"resp_id": 9, "sex": 2}, NOT_HOSPITALISED)
    src = tmp_path / "raw.dta"
    raw.to_stata(src, write_index=False)
    # under outputs/: analysis.io.default_manifest cannot yet log files under data/
    paths = [tmp_path / f"out{i}" / "outputs" / "analytic.parquet" for i in (1, 2)]
    for path in paths:
        clean.main(src, path, path.parent / "flow.csv")
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = pd.read_parquet(paths[0])
    pd.testing.assert_frame_equal(back, clean_survey(raw).analytic)
    flow = pd.read_csv(paths[0].parent / "flow.csv")
    assert flow["n_after"].iloc[-1] == 2
    assert (paths[0].parent / "flow_recodes.csv").exists()


def test_read_raw_csv_keeps_locality_code_text(tmp_path):
    raw = raw_rows({"locality_code": "11010100100101"})
    path = tmp_path / "raw.csv"
    raw.to_csv(path, index=False)
    back = clean.read_raw(path)
    assert back[CODEBOOK.column("locality_code")].iloc[0] == "11010100100101"


def test_read_raw_sav(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    raw = raw_rows({}, {"resp_id": 7, "education": 6}, NOT_HOSPITALISED)
    path = tmp_path / "raw.sav"
    pyreadstat.write_sav(raw, str(path))
    back = clean.read_raw(path)
    pd.testing.assert_frame_equal(
        clean_survey(back).analytic, clean_survey(raw).analytic
    )
