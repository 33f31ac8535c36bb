"""A catalogue of hostile raw files and codebooks, run through the ``clean`` stage.

Each case is what a grant holder's copy of the survey can look like after a bad
download, an export from another program or an unedited mapping. Every case is run
through ``python -m analysis clean`` (in-process, the code path of the Makefile) and
must end either refused (exit status 2, a short message on stderr naming the file and
what is wrong, no traceback, nothing written) or done with every row accounted for in
the sample flow.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_clean import NOT_HOSPITALISED, NOT_REIMBURSED, raw_rows

from analysis import cli
from analysis.config import CODEBOOK_DIR

REFUSED = cli.EXIT_INVALID_DATA


def valid_raw() -> pd.DataFrame:
    """Eight respondents: five in the analytic sample, three dropped by a rule."""
    return raw_rows(
        {}, {"sex": 2}, {"education": 6}, {"scope": 3}, NOT_REIMBURSED,
        NOT_HOSPITALISED, {"hosp_place": 2}, {"ins_ncms": 2},
    )  # fmt: skip


def write(frame: pd.DataFrame, path: Path, **kw) -> Path:
    """Write ``frame`` in the format of ``path``'s suffix."""
    if path.suffix == ".dta":
        frame.to_stata(path, write_index=False, version=118)
    elif path.suffix == ".sav":
        import pyreadstat

        pyreadstat.write_sav(frame, str(path), **kw)
    else:
        frame.to_csv(path, index=False, lineterminator="\n", **kw)
    return path


def clean(tmp_path: Path, raw: Path, *extra: str, capsys=None) -> tuple[int, str]:
    """Run the clean stage into ``tmp_path/run``; return (status, stderr)."""
    args = ["--root", str(tmp_path / "run"), "clean", "--raw", str(raw), *extra]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = cli.main(args)
    err = capsys.readouterr().err if capsys else ""
    return status, err


def nothing_written(tmp_path: Path) -> bool:
    """True if the run root holds no file."""
    root = tmp_path / "run"
    return not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def assert_refused(status: int, err: str, tmp_path: Path, *names: str) -> None:
    """Exit 2, a short message naming each of ``names``, no traceback, no file."""
    assert status == REFUSED, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 4, err
    for name in names:
        assert name in err, (name, err)
    assert nothing_written(tmp_path)


# --- the file itself ---------------------------------------------------------------


def zip_of(path: Path) -> Path:
    """The survey file inside a .zip archive, the archive named like the file."""
    inner = write(valid_raw(), path.with_name("inner.dta"))
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(inner, inner.name)
    return path


def gzip_of(path: Path) -> Path:
    """A gzip-compressed .dta named .dta (a download saved without unpacking)."""
    inner = write(valid_raw(), path.with_name("inner.dta"))
    path.write_bytes(gzip.compress(inner.read_bytes()))
    return path


def truncated(path: Path, keep: float) -> Path:
    """A valid file of ``path``'s type cut to ``keep`` of its bytes."""
    whole = write(valid_raw(), path.with_name(f"whole{path.suffix}"))
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


FILE_CASES = {
    "missing": (lambda p: p, "file not found"),
    "directory": (lambda p: (p.mkdir(), p)[1], "is a directory"),
    "zero_bytes": (lambda p: (p.write_bytes(b""), p)[1], "empty file (0 bytes)"),
    "zip_named_dta": (zip_of, "zip archive"),
    "gzip_named_dta": (gzip_of, "gzip-compressed"),
    "text_named_dta": (
        lambda p: (p.write_text("id,sex\n1,2\n"), p)[1],
        "not a Stata .dta file",
    ),
    "truncated_header": (lambda p: truncated(p, 0.02), "truncated or corrupt"),
    "truncated_data": (lambda p: truncated(p, 0.8), "truncated"),
}


@pytest.mark.parametrize("case", FILE_CASES)
def test_unreadable_dta_refused_naming_the_file(case, tmp_path, capsys):
    make, expected = FILE_CASES[case]
    raw = make(tmp_path / "survey.dta")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(tmp_path / "survey.dta"), expected)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("survey.sav", b"not an spss file at all", "not an SPSS .sav file"),
        ("survey.xlsx", b"PK\x03\x04rest", "zip archive"),
        ("survey.parquet", b"PAR1....", "unsupported file type '.parquet'"),
        ("survey", b"1,2,3\n", "unsupported file type '(no suffix)'"),
        ("survey.pdf", b"%PDF-1.4", "a PDF document"),
    ],
)
def test_other_formats_refused(name, content, expected, tmp_path, capsys):
    raw = tmp_path / name
    raw.write_bytes(content)
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), expected)


def test_truncated_sav_refused(tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    raw = truncated(tmp_path / "survey.sav", 0.7)
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "truncated")


# --- CSV text: encoding and parsing ------------------------------------------------


def chinese_raw() -> pd.DataFrame:
    """The valid rows with Chinese city names (what makes the encoding matter)."""
    raw = valid_raw()
    raw["city_name"] = ["北京市", "上海市", "广州市", "深圳市", "成都市", "重庆市",
                        "武汉市", "西安市"]  # fmt: skip
    return raw


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_csv_encodings_detected_with_identical_results(encoding, tmp_path, capsys):
    (tmp_path / "ref").mkdir()
    reference = write(chinese_raw(), tmp_path / "ref" / "utf8.csv")
    assert clean(tmp_path / "ref", reference, capsys=capsys)[0] == 0
    raw = write(chinese_raw(), tmp_path / f"survey_{encoding}.csv", encoding=encoding)
    if encoding == "gbk":
        with pytest.raises(UnicodeDecodeError):
            raw.read_bytes().decode("utf-8")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert status == 0, err
    ours = tmp_path / "run" / "data" / "derived" / "analytic.parquet"
    theirs = tmp_path / "ref" / "run" / "data" / "derived" / "analytic.parquet"
    assert ours.read_bytes() == theirs.read_bytes()


def test_csv_in_utf16_refused_then_read_with_encoding(tmp_path, capsys):
    raw = write(chinese_raw(), tmp_path / "survey.csv", encoding="utf-16")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "cannot be decoded", "ENCODING=")
    status, err = clean(tmp_path, raw, "--encoding", "utf-16", capsys=capsys)
    assert status == 0, err
    flow = pd.read_csv(tmp_path / "run" / "outputs" / "tables" / "sample_flow.csv")
    assert flow["n_before"].iloc[0] == 8 and flow["n_after"].iloc[-1] == 5


def test_unknown_encoding_refused(tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / "survey.csv")
    status, err = clean(tmp_path, raw, "--encoding", "klingon", capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "unknown encoding 'klingon'")


def test_ragged_csv_refused_naming_the_line(tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / "survey.csv")
    lines = raw.read_text().splitlines()
    lines[4] += ",1,2,3"
    raw.write_text("\n".join(lines) + "\n")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "does not parse", "line 5")


def test_csv_cut_mid_line_refused_as_truncated(tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / "survey.csv")
    text = raw.read_text()
    raw.write_text(text[: text.rstrip("\n").rfind(",")])  # the last record, cut
    n_rows = len(text.strip().splitlines()) - 1
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "truncated", f"row {n_rows:,}")


def test_csv_without_final_line_end_is_read(tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / "survey.csv")
    raw.write_text(raw.read_text().rstrip("\n"))
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert status == 0, err


# --- right format, wrong content -----------------------------------------------------


@pytest.mark.parametrize("fmt", ["dta", "csv", "sav"])
def test_zero_rows_refused_at_validation(fmt, tmp_path, capsys):
    raw = write(valid_raw().head(0), tmp_path / f"survey.{fmt}")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "[no_rows]", "(0 rows)")


def test_unrelated_file_refused_in_one_line(tmp_path, capsys):
    frame = pd.DataFrame({"price": [1.5, 2.0], "item": ["a", "b"]})
    raw = write(frame, tmp_path / "prices.csv")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "[not_a_survey]", "'price'")
    assert "[missing_column]" not in err


def test_no_respondent_left_refused_naming_the_rule(tmp_path, capsys):
    raw = write(raw_rows(NOT_HOSPITALISED, NOT_HOSPITALISED), tmp_path / "s.dta")
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert_refused(status, err, tmp_path, str(raw), "[empty_analytic_sample]",
                   "rule 2", "removed the last 2", "syn_hosp_any")  # fmt: skip


# --- the codebook folder -------------------------------------------------------------


def codebook_copy(tmp_path: Path) -> Path:
    """A copy of the package codebook to damage."""
    return Path(shutil.copytree(CODEBOOK_DIR, tmp_path / "codebook"))


def drop_varmap(folder: Path) -> str:
    (folder / "varmap.csv").unlink()
    return "varmap.csv: file not found"


def varmap_without_column(folder: Path) -> str:
    varmap = pd.read_csv(folder / "varmap.csv")
    varmap.rename(columns={"column": "name"}).to_csv(folder / "varmap.csv", index=False)
    return "column(s) ['column'] missing"


def recode_with_text(folder: Path) -> str:
    (folder / "recode.csv").write_text(
        "concept,source_code,canonical_code\nsex,male,1\n"
    )
    return "line 2 (concept sex): codes must be integers"


def recode_mapped_twice(folder: Path) -> str:
    (folder / "recode.csv").write_text(
        "concept,source_code,canonical_code\nsex,1,1\nsex,1,2\n"
    )
    return "source code 1 is mapped twice"


def varmap_unknown_concept(folder: Path) -> str:
    with open(folder / "varmap.csv", "a") as handle:
        handle.write("shoe_size,v_shoe\n")
    return "['shoe_size'] are not in variables.csv"


def value_labels_garbled(folder: Path) -> str:
    (folder / "value_labels.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n")
    return "value_labels.csv"


CODEBOOK_CASES = {
    f.__name__: f
    for f in (drop_varmap, varmap_without_column, recode_with_text,
              recode_mapped_twice, varmap_unknown_concept, value_labels_garbled)
}  # fmt: skip


@pytest.mark.parametrize("case", CODEBOOK_CASES)
def test_malformed_codebook_refused_naming_the_file(case, tmp_path, capsys):
    folder = codebook_copy(tmp_path)
    expected = CODEBOOK_CASES[case](folder)
    raw = write(valid_raw(), tmp_path / "survey.dta")
    status, err = clean(tmp_path, raw, "--codebook", str(folder), capsys=capsys)
    assert_refused(status, err, tmp_path, str(folder), expected)


def test_missing_codebook_folder_refused(tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / "survey.dta")
    folder = tmp_path / "no such codebook"
    status, err = clean(tmp_path, raw, "--codebook", str(folder), capsys=capsys)
    assert_refused(status, err, tmp_path, str(folder), "folder not found")


# --- what passes is complete ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dta", "csv", "sav"])
def test_valid_file_every_row_accounted_for(fmt, tmp_path, capsys):
    raw = write(valid_raw(), tmp_path / f"survey {fmt} 调查.{fmt}")  # space, CJK
    status, err = clean(tmp_path, raw, capsys=capsys)
    assert status == 0, err
    flow = pd.read_csv(tmp_path / "run" / "outputs" / "tables" / "sample_flow.csv")
    assert flow["n_before"].iloc[0] == 8
    assert flow["n_removed"].sum() == 8 - flow["n_after"].iloc[-1] == 3
    derived = tmp_path / "run" / "data" / "derived"
    assert len(pd.read_parquet(derived / "analytic.parquet")) == 5


# --- SPSS and Stata metadata: user-missing values and value labels -----------------

SCOPE_LABELS = {1: "跨省", 2: "省内跨市", 3: "市内跨县"}


def provider_codebook(tmp_path: Path, rows: str = "") -> Path:
    """A codebook copy whose recode.csv holds ``rows`` (concept,source,canonical)."""
    folder = codebook_copy(tmp_path)
    (folder / "recode.csv").write_text("concept,source_code,canonical_code\n" + rows)
    return folder


def reference_analytic(tmp_path: Path, capsys) -> bytes:
    """The analytic sample of the valid rows read from a plain .dta."""
    (tmp_path / "ref").mkdir()
    raw = write(valid_raw(), tmp_path / "ref" / "survey.dta")
    assert clean(tmp_path / "ref", raw, capsys=capsys)[0] == 0
    derived = tmp_path / "ref" / "run" / "data" / "derived"
    return (derived / "analytic.parquet").read_bytes()


def analytic_bytes(tmp_path: Path) -> bytes:
    return (tmp_path / "run" / "data" / "derived" / "analytic.parquet").read_bytes()


def test_spss_user_missing_codes_read_as_codes(tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    expected = reference_analytic(tmp_path, capsys)
    raw = valid_raw()
    declared = {c: [-1, -2, -8] for c in ("syn_hosp_cost", "syn_reimb_amt",
                                          "syn_noreimb_reason")}  # fmt: skip
    path = write(raw, tmp_path / "survey.sav", missing_ranges=declared)
    status, err = clean(tmp_path, path, capsys=capsys)
    assert status == 0, err  # not "blank (system-missing)" errors
    assert analytic_bytes(tmp_path) == expected


def test_spss_own_user_missing_codes_named_then_mapped(tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    expected = reference_analytic(tmp_path, capsys)
    raw = valid_raw()
    column = "syn_noreimb_reason"
    raw[column] = raw[column].replace({-8: 99})
    raw.loc[0, column] = 97
    path = write(raw, tmp_path / "survey.sav", missing_ranges={column: [97, 98, 99]})
    status, err = clean(tmp_path, path, capsys=capsys)
    assert status == REFUSED and "Traceback" not in err
    assert "[code_outside_codebook]" in err and repr(column) in err
    assert "97, 99 declared user-missing in the file" in err
    assert nothing_written(tmp_path)
    folder = provider_codebook(tmp_path, "noreimb_reason,97,-1\n"
                                         "noreimb_reason,99,-8\n")  # fmt: skip
    status, err = clean(tmp_path, path, "--codebook", str(folder), capsys=capsys)
    assert status == 0, err
    assert analytic_bytes(tmp_path) == expected


def reversed_scope() -> pd.DataFrame:
    """The valid rows with scope stored in the other order (3 = across provinces)."""
    raw = valid_raw()
    raw["flo_rage_1"] = raw["flo_rage_1"].replace({1: 3, 3: 1})
    return raw


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_labels_contradicting_the_mapping_refused_then_mapped(fmt, tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    expected = reference_analytic(tmp_path, capsys)
    labels = {"flo_rage_1": {3: "跨省", 2: "省内跨市", 1: "市内跨县"}}
    path = tmp_path / f"survey.{fmt}"
    if fmt == "sav":
        write(reversed_scope(), path, variable_value_labels=labels)
    else:
        reversed_scope().to_stata(path, write_index=False, version=118,
                                  value_labels=labels)  # fmt: skip
    status, err = clean(tmp_path, path, capsys=capsys)
    assert status == REFUSED and "Traceback" not in err
    assert "[label_contradicts_mapping]" in err and "'flo_rage_1'" in err
    assert (
        "code 1 is labelled '市内跨县' in the file but recode.csv maps it to "
        "canonical 1 (跨省); '市内跨县' is canonical 3 (市内跨县)" in err
    )
    assert nothing_written(tmp_path)
    folder = provider_codebook(tmp_path, "scope,1,3\nscope,3,1\n")
    status, err = clean(tmp_path, path, "--codebook", str(folder), capsys=capsys)
    assert status == 0, err
    assert analytic_bytes(tmp_path) == expected


def test_shifted_codes_with_labels_refused(tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    raw = valid_raw()
    raw["edu_stat_1"] = raw["edu_stat_1"] - 1  # 0 = never attended ... 6 = postgrad
    labels = {"edu_stat_1": {0: "未上过学", 1: "小学", 2: "初中", 3: "高中/中专",
                             4: "大学专科", 5: "大学本科", 6: "研究生"}}  # fmt: skip
    folder = provider_codebook(tmp_path, "education,0,1\n")  # a half-done mapping
    path = write(raw, tmp_path / "survey.sav", variable_value_labels=labels)
    status, err = clean(tmp_path, path, "--codebook", str(folder), capsys=capsys)
    assert status == REFUSED and "[label_contradicts_mapping]" in err
    assert "code 2 is labelled '初中'" in err and "canonical 2 (小学)" in err


def test_labels_with_prefixes_and_longer_wording_accepted(tmp_path, capsys):
    pytest.importorskip("pyreadstat")
    labels = {"flo_rage_1": {1: "1. 跨省流动", 2: "2 省内跨市", 3: "(3) 市内跨县"},
              "gender_1": {1: "男性", 2: "女性"},
              "acc_nat_1": {1: "农业", 2: "非农业", 3: "农业转为居民",
                            4: "非农业转为居民"}}  # fmt: skip
    path = write(valid_raw(), tmp_path / "survey.sav", variable_value_labels=labels)
    status, err = clean(tmp_path, path, capsys=capsys)
    assert status == 0, err


def test_provided_survey_labels_agree_with_the_codebook():
    from analysis.cleaning import rawfile
    from analysis.cleaning.codebook import Codebook
    from analysis.cleaning.validate import validate_raw
    from analysis.config import SYNTHETIC

    source = rawfile.read(SYNTHETIC.raw_survey, Codebook())
    assert source.value_labels["flo_rage_1"][1] == "跨省"
    report = validate_raw(source.frame, Codebook(), "provided", metadata=source)
    assert report.problems == ()


# --- optional concepts and the templates' advice -----------------------------------

OPTIONAL_EMPTY = (
    "stratum",
    "psu",
    "neighbourhood",
    "city_name",
    "ethnicity",
    "employment_identity",
    "household_expenditure",
    "ins_commercial",
)


def template_codebook(tmp_path: Path, columns: dict[str, str]) -> Path:
    """The codebook built as the templates say: their varmap and recode, edited."""
    folder = codebook_copy(tmp_path)
    for name in ("varmap.csv", "recode.csv"):
        shutil.copy(CODEBOOK_DIR / "templates" / name, folder / name)
    varmap = pd.read_csv(folder / "varmap.csv", dtype=str, keep_default_na=False)
    for concept, column in columns.items():
        varmap.loc[varmap["concept"] == concept, "column"] = column
    varmap.to_csv(folder / "varmap.csv", index=False)
    return folder


def test_template_advice_leave_optional_concepts_empty(tmp_path, capsys):
    advice = pd.read_csv(CODEBOOK_DIR / "templates" / "varmap.csv").set_index(
        "concept")["check_when_the_file_arrives"]  # fmt: skip
    for concept in OPTIONAL_EMPTY:
        assert advice[concept].startswith("optional"), concept
    assert "leave column empty" in advice["stratum"]
    folder = template_codebook(tmp_path, dict.fromkeys(OPTIONAL_EMPTY, ""))
    raw = valid_raw()
    package = pd.read_csv(CODEBOOK_DIR / "varmap.csv").set_index("concept")["column"]
    raw = raw.drop(columns=[package[c] for c in OPTIONAL_EMPTY])
    path = write(raw, tmp_path / "survey.dta")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        status = cli.main(["--root", str(tmp_path / "run"), "clean", "--raw",
                           str(path), "--codebook", str(folder)])  # fmt: skip
    said = capsys.readouterr().err  # the CLI logs each warning as one line
    assert status == 0, said
    assert "warning: [optional_concept_absent]" in said and "prefecture" in said
    analytic = pd.read_parquet(tmp_path / "run" / "data" / "derived"
                               / "analytic.parquet")  # fmt: skip
    assert (analytic["stratum"] == "1101").all()
    assert (analytic["psu"] == "110101001").all()
    log = pd.read_csv(tmp_path / "run" / "outputs" / "logs" / "omissions.csv")
    assert set(log["output"]) == {f"optional concept {c}" for c in OPTIONAL_EMPTY}
    assert (log["item"] == "note").all()  # noted, nothing omitted
    assert cli.main(["--root", str(tmp_path / "run"), "summary", "--strict"]) == 0


def test_template_advice_numeric_ids_from_inte_code_validate(tmp_path, capsys):
    raw = valid_raw()
    code = raw["inte_code"].astype(str)
    raw["stratum_id"] = code.str[:4].astype("int64")
    raw["psu_id"] = code.str[:9].astype("int64")
    raw["ssu_id"] = code.str[:12].astype("int64")
    folder = template_codebook(tmp_path, {"stratum": "stratum_id", "psu": "psu_id",
                                          "neighbourhood": "ssu_id"})  # fmt: skip
    path = write(raw, tmp_path / "survey.dta")
    status, err = clean(tmp_path, path, "--codebook", str(folder), capsys=capsys)
    assert status == 0, err
    analytic = pd.read_parquet(tmp_path / "run" / "data" / "derived"
                               / "analytic.parquet")  # fmt: skip
    assert (analytic["psu"] == "110101001").all()


def test_required_concept_left_empty_refused(tmp_path, capsys):
    folder = template_codebook(tmp_path, {"education": ""})
    path = write(valid_raw(), tmp_path / "survey.dta")
    status, err = clean(tmp_path, path, "--codebook", str(folder), capsys=capsys)
    assert_refused(status, err, tmp_path, "[unmapped_concept]",
                   "(concept education)", "column is empty")  # fmt: skip
