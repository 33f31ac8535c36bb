"""Unit tests of raw-survey validation on hand-built raw rows."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from test_clean import (  # the row builders of the cleaning tests
    CODEBOOK,
    NOT_HOSPITALISED,
    NOT_REIMBURSED,
    concept_rows,
    raw_rows,
    renamed_codebook,
    to_raw,
)

from analysis.cleaning import clean
from analysis.cleaning.clean import clean_survey
from analysis.cleaning.validate import (
    REPORT_COLUMNS,
    RawDataError,
    RawDataWarning,
    analytic_warnings,
    validate_raw,
)

SOURCE = "cmds_test.dta"
col = CODEBOOK.column


def sample() -> pd.DataFrame:
    """Six valid respondents (ids 1-6) covering the skip patterns."""
    return raw_rows({}, {}, NOT_HOSPITALISED, NOT_REIMBURSED, {"reimb_amount": -1}, {})


def error_of(raw: pd.DataFrame, codebook=CODEBOOK) -> RawDataError:
    """Validate ``raw`` and return the RawDataError it must raise."""
    with pytest.raises(RawDataError) as info:
        validate_raw(raw, codebook, source=SOURCE).raise_if_errors()
    return info.value


def only_problem(raw: pd.DataFrame, check: str):
    """Return the single problem of kind ``check`` in ``raw``'s report."""
    problems = [p for p in validate_raw(raw, CODEBOOK, SOURCE).problems
                if p.check == check]  # fmt: skip
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_rows_pass():
    report = validate_raw(sample(), CODEBOOK, source=SOURCE)
    assert report.ok and report.problems == ()
    assert list(report.to_frame().columns) == REPORT_COLUMNS
    report.raise_if_errors()  # no exception, no warning


def test_missing_column_named():
    raw = sample().drop(columns=[col("ins_ncms")])
    message = str(error_of(raw))
    assert SOURCE in message and "[missing_column]" in message
    assert repr(col("ins_ncms")) in message and "ins_ncms" in message


def test_misnamed_column_suggests_close_match():
    raw = sample().rename(columns={col("sex"): "GENDER1"})
    message = str(error_of(raw))
    assert "[misnamed_column]" in message
    assert f"{col('sex')!r}" in message and "did you mean 'GENDER1'" in message


def test_code_outside_codebook_values_counts_rows_ids():
    raw = sample()
    raw.loc[[0, 1], col("education")] = 9
    raw.loc[5, col("education")] = 0
    message = str(error_of(raw))
    line = next(x for x in message.splitlines() if "code_outside_codebook" in x)
    assert SOURCE in line and repr(col("education")) in line
    assert "9 (2), 0 (1)" in line and "3 row(s)" in line
    assert "resp_id 1, 2, 6" in line


@pytest.mark.parametrize(
    ("concept", "value"),
    [("birth_year", 1900), ("sex", -8), ("scope", 4), ("household_size", 0),
     ("reimb_src_commercial", 2), ("hosp_place", -2)],
)  # fmt: skip
def test_outside_range_or_undeclared_missing_code(concept, value):
    raw = sample()
    raw.loc[0, col(concept)] = value
    problem = only_problem(raw, "code_outside_codebook")
    assert problem.column == col(concept)
    assert problem.values == ((value, 1),) and problem.n_rows == 1


def test_negative_cost():
    raw = sample()
    raw.loc[[0, 1], col("hosp_cost")] = -50
    problem = only_problem(raw, "negative_amount")
    assert problem.column == col("hosp_cost") and problem.values == ((-50, 2),)
    assert problem.n_rows == 2 and problem.example_ids == ("1", "2")
    assert "[negative_amount]" in str(error_of(raw))


def test_amount_above_cost():
    raw = sample()
    raw.loc[0, col("reimb_amount")] = 10001
    problem = only_problem(raw, "amount_above_cost")
    assert problem.n_rows == 1 and problem.values == (("10001 > 10000", 1),)
    message = str(error_of(raw))
    assert col("reimb_amount") in message and "1 row(s)" in message


def test_duplicated_id():
    raw = sample()
    raw.loc[[1, 3], col("resp_id")] = 1
    problem = only_problem(raw, "duplicated_id")
    assert problem.values == ((1, 3),) and problem.n_rows == 3
    assert "duplicated_id" in str(error_of(raw))


def test_wrong_dtype_string_in_integer_column():
    raw = sample()
    raw[col("birth_year")] = raw[col("birth_year")].astype(object)
    raw.loc[[0, 2], col("birth_year")] = "1980s"
    raw.loc[3, col("birth_year")] = "n/a"
    message = str(error_of(raw))
    line = next(x for x in message.splitlines() if "wrong_dtype" in x)
    assert repr(col("birth_year")) in line
    assert "'1980s' (2), 'n/a' (1)" in line and "3 row(s)" in line


def test_wrong_dtype_fraction_and_blank():
    raw = sample().astype({col("household_size"): float, col("sex"): float})
    raw.loc[0, col("household_size")] = 2.5
    raw.loc[1, col("sex")] = np.nan
    checks = {p.check: p for p in validate_raw(raw, CODEBOOK, SOURCE).errors}
    assert checks["wrong_dtype"].values == ((2.5, 1),)
    assert checks["blank"].column == col("sex") and checks["blank"].n_rows == 1


def test_locality_code_stored_as_number():
    raw = sample()
    raw[col("locality_code")] = raw[col("locality_code")].astype("int64")
    assert only_problem(raw, "wrong_dtype").column == col("locality_code")


def test_skip_violation():
    raw = sample()
    raw.loc[2, col("hosp_place")] = 1  # row 3 has no stay, yet a place
    raw.loc[3, col("reimb_amount")] = 500  # row 4 not reimbursed, yet an amount
    raw.loc[0, col("noreimb_reason")] = 2  # row 1 reimbursed, yet a reason
    found = [p for p in validate_raw(raw, CODEBOOK, SOURCE).errors
             if p.check == "skip_violation"]  # fmt: skip
    assert {(p.column, p.values, p.example_ids) for p in found} == {
        (col("hosp_place"), ((1, 1),), ("3",)),
        (col("reimb_amount"), ((500, 1),), ("4",)),
        (col("noreimb_reason"), ((2, 1),), ("1",)),
    }
    message = str(error_of(raw))
    assert message.count("[skip_violation]") == 3 and "hosp_any == 1" in message


def test_not_applicable_inside_universe_is_a_warning():
    raw = sample()
    raw.loc[0, col("hosp_level")] = -8
    report = validate_raw(raw, CODEBOOK, SOURCE)
    assert report.ok and [p.check for p in report.warnings] == ["skipped_in_universe"]
    with pytest.warns(RawDataWarning, match=re.escape(col("hosp_level"))):
        report.raise_if_errors()


def test_arrival_after_interview_is_a_warning():
    raw = sample()
    raw.loc[0, [col("arrival_year"), col("arrival_month")]] = [2014, 6]
    report = validate_raw(raw, CODEBOOK, SOURCE)
    assert report.ok and report.warnings[0].check == "arrival_after_interview"


@pytest.mark.filterwarnings("ignore::analysis.cleaning.validate.RawDataWarning")
def test_every_problem_in_one_report():
    raw = sample().rename(columns={col("sex"): "gender1"})
    raw.loc[0, col("education")] = 9
    raw.loc[1, col("hosp_cost")] = -1000
    raw.loc[2, col("resp_id")] = 4
    raw.loc[3, col("hosp_level")] = -8
    error = error_of(raw)
    checks = [p.check for p in error.report.problems]
    assert checks == ["misnamed_column", "code_outside_codebook", "negative_amount",
                      "duplicated_id", "skipped_in_universe"]  # fmt: skip
    text = str(error)
    assert text.startswith(f"Raw data validation of {SOURCE} (6 rows): 4 error(s)")
    assert all(f"  {i}. " in text for i in (1, 2, 3, 4))
    frame = error.report.to_frame()
    assert len(frame) == 5 and set(frame["source"]) == {SOURCE}
    assert frame.loc[frame["check"] == "negative_amount", "n_rows"].item() == 1


def test_other_codes_validated_after_recode(tmp_path):
    other = renamed_codebook(tmp_path)
    raw = to_raw(concept_rows({}, {"education": 1, "sex": 2}, NOT_HOSPITALISED), other)
    assert validate_raw(raw, other, SOURCE).ok
    raw.loc[0, other.column("education")] = 8  # not a source code of the recode
    problem = only_code_problem(validate_raw(raw, other, SOURCE))
    assert problem.column == other.column("education") and problem.values == ((8, 1),)


def only_code_problem(report):
    (problem,) = [p for p in report.problems if p.check == "code_outside_codebook"]
    return problem


def test_main_stops_before_writing(tmp_path):
    raw = sample()
    raw.loc[0, col("reimb_amount")] = 10001
    src = tmp_path / "bad.dta"
    raw.to_stata(src, write_index=False)
    out = tmp_path / "outputs" / "analytic.parquet"
    with pytest.raises(RawDataError, match=re.escape(str(src))):
        clean.main(src, out, tmp_path / "outputs" / "flow.csv")
    assert not out.exists()


def test_analytic_warnings_on_thin_subsamples():
    analytic = clean_survey(sample()).analytic
    messages = analytic_warnings(analytic)
    assert any("'total' part 1: 5 case(s), fewer than 30" in m for m in messages)
    assert any("'urban' part 1: 0 case(s)" in m for m in messages)
    assert any("no case at education" in m for m in messages)
    assert analytic_warnings(analytic, min_cases=1) != []


def test_main_emits_analytic_warnings(tmp_path):
    src = tmp_path / "ok.dta"
    sample().to_stata(src, write_index=False)
    out = tmp_path / "outputs" / "analytic.parquet"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clean.main(src, out, tmp_path / "outputs" / "flow.csv")
    assert any("fewer than 30" in str(w.message) for w in caught)
    assert out.exists()
