"""Cleaning stage: raw CMDS-2014-shaped survey -> the paper's analytic sample.

Purpose
    Validate the raw file, recode it to concepts through the codebook, apply the
    selection rules of ``docs/architecture.md`` (rules 1-5, each a row of the sample
    flow table) and derive the columns of
    :data:`analysis.cleaning.schema.ANALYTIC_COLUMNS`.
Inputs
    ``data/raw/cmds2014_synthetic.dta`` (or a real ``.dta``/``.sav``/``.csv``) and the
    codebook directory ``data/codebook/`` (variables, value labels, varmap, recode).
Outputs
    ``data/derived/analytic.parquet`` (key ``resp_id``, sorted, deterministic bytes)
    with ``analytic.dta`` and ``analytic_dictionary.md`` beside it
    (:mod:`analysis.cleaning.dictionary`), ``outputs/tables/sample_flow.csv`` (one
    row per selection rule) and ``outputs/tables/sample_flow_recodes.csv`` (recodes
    that are not drops).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import omissions
from analysis.cleaning import dictionary, rawfile
from analysis.cleaning.codebook import Codebook
from analysis.cleaning.derive import (
    derive_covariates,
    derive_outcomes,
    income_quintile,
    outcome_recode_log,
)
from analysis.cleaning.flow import select_sample
from analysis.cleaning.recode import to_concepts
from analysis.cleaning.schema import (
    ANALYTIC_COLUMNS,
    BINARIES,
    CONTINUOUS,
    DESIGN,
    FACTORS,
    KEY,
)
from analysis.cleaning.validate import (
    AnalyticWarning,
    RawDataError,
    ValidationReport,
    analytic_warnings,
    validate_raw,
)
from analysis.cleaning.validate_checks import Problem
from analysis.io import save_table
from analysis.omissions import NOTE_ITEM

DEFAULT_CODEBOOK = Codebook()


def main(
    raw_path: Path,
    analytic_path: Path,
    flow_path: Path,
    codebook: Codebook = DEFAULT_CODEBOOK,
    recodes_path: Path | None = None,
    encoding: str | None = None,
    synthetic: bool = True,
) -> CleanResult:
    """Read, validate, clean and write the analytic sample and its flow tables.

    Parameters
    ----------
    raw_path : Path
        Raw survey (``.dta``, ``.sav`` or ``.csv``).
    analytic_path : Path
        Destination parquet of the analytic sample.
    flow_path : Path
        Destination CSV of the sample-flow table.
    codebook : Codebook
        Codebook of the raw file.
    recodes_path : Path, optional
        Destination CSV of the recode log; default ``<flow stem>_recodes.csv``.
    encoding : str, optional
        Encoding of a CSV (default: detected, UTF-8 or GB18030).
    synthetic : bool
        The raw file is the synthetic survey: the flow tables carry the notice
        (:data:`analysis.notices.CSV`); ``False`` for a real file.

    Raises
    ------
    analysis.cleaning.rawfile.RawFileError
        If the file cannot be read (missing, empty, truncated, corrupt, ...).
    analysis.cleaning.validate.RawDataError
        If the raw file fails validation (every problem listed in one message),
        including a file with no row or with no respondent left by the rules.
    """
    raw_path = Path(raw_path).expanduser()
    source = rawfile.read(raw_path, codebook, encoding)
    raw = source.frame
    report = validate_raw(raw, codebook, source=str(raw_path), metadata=source)
    report.raise_if_errors()
    result = clean_survey(raw, codebook)
    refuse_empty_sample(result, raw_path)
    absent = [
        (f"optional concept {p.concept}", NOTE_ITEM, p.detail, 0)
        for p in report.warnings
        if p.check == "optional_concept_absent"
    ]
    omissions.record(Path(flow_path).parent.parent / "logs", "clean", absent)
    for message in analytic_warnings(result.analytic):
        warnings.warn(message, AnalyticWarning, stacklevel=2)
    flow_path = Path(flow_path)
    recodes_path = recodes_path or flow_path.with_name(f"{flow_path.stem}_recodes.csv")
    save_table(result.analytic, KEY, Path(analytic_path))
    stata = Path(analytic_path).with_suffix(".dta")
    dictionary.write_dta(result.analytic, stata, synthetic)
    dictionary.write_dictionary(
        result.analytic, stata.with_name(f"{stata.stem}_dictionary.md"), synthetic
    )
    save_table(result.flow, ["step"], flow_path, sort=False, synthetic=synthetic)
    save_table(
        result.recodes, ["step", "recode"], Path(recodes_path), sort=False,
        synthetic=synthetic,
    )  # fmt: skip
    return result


def read_raw(
    path: Path, codebook: Codebook = DEFAULT_CODEBOOK, encoding: str | None = None
) -> pd.DataFrame:
    """Read a raw survey file with its codes as numbers (no value labels applied).

    ``.dta`` via ``pandas.read_stata(convert_categoricals=False)``, ``.sav`` via
    ``pyreadstat`` (no value formats; user-defined missing values kept as codes)
    and ``.csv`` via ``pandas.read_csv`` with the codebook's string concepts read
    as text (:func:`analysis.cleaning.rawfile.read`, which raises ``RawFileError``).
    """
    return rawfile.read(Path(path), codebook, encoding).frame


def refuse_empty_sample(result: CleanResult, raw_path: Path) -> None:
    """Raise ``RawDataError`` when no respondent is left by the selection rules.

    The report names the rule that removed the last respondents, so the file is
    refused at validation and nothing is written.
    """
    if len(result.analytic):
        return
    flow = result.flow
    n_rows = int(flow["n_before"].iloc[0])
    removing = flow[flow["n_removed"] > 0]
    column, where = "", "the file has no respondent"
    if len(removing):
        last = removing.iloc[-1]
        column = str(last["columns"])
        where = (
            f"rule {last['step']} ({last['rule']}) removed the last "
            f"{int(last['n_removed']):,}"
        )
    detail = (
        f"no respondent is left in the analytic sample: {where}; check the "
        "mapping of that rule's columns (varmap.csv, recode.csv)"
    )
    problem = Problem("empty_analytic_sample", column, "", detail, n_rows=n_rows)
    raise RawDataError(ValidationReport(str(raw_path), n_rows, (problem,)))


@dataclass(frozen=True)
class CleanResult:
    """Output of :func:`clean_survey`.

    Attributes
    ----------
    analytic : DataFrame
        Exactly ``schema.ANALYTIC_COLUMNS``; one row per respondent, sorted by resp_id.
    flow : DataFrame
        step, rule, columns, n_before, n_removed, n_after; one row per rule.
    recodes : DataFrame
        step, recode, n_at_step, n_analytic; recodes that are not drops.
    """

    analytic: pd.DataFrame
    flow: pd.DataFrame
    recodes: pd.DataFrame


def clean_survey(
    raw: pd.DataFrame, codebook: Codebook = DEFAULT_CODEBOOK
) -> CleanResult:
    """Return the analytic sample of ``raw`` with its flow table and recode log.

    Parameters
    ----------
    raw : DataFrame
        The raw survey (validated by :func:`analysis.cleaning.validate.validate_raw`).
    codebook : Codebook
        Maps concepts to ``raw``'s columns and its codes to canonical codes.

    Returns
    -------
    CleanResult

    Notes
    -----
    Dtypes: factors are ``Categorical`` with the levels of ``schema.FACTORS`` in that
    order, binaries int8, continuous float64, design ids ``str``. ``resp_id`` is the
    raw id zero-padded to the width of the codebook's ``valid_max`` so that text order
    equals numeric order. Income quintiles follow the tie rule of
    :func:`analysis.cleaning.derive.income_quintile`.
    """
    concepts = to_concepts(raw, codebook)
    selection = select_sample(concepts, codebook)
    sample = concepts.loc[selection.keep]
    design = derive_design(sample, codebook)
    outcomes = derive_outcomes(sample)
    income = sample["household_income"] / sample["household_size"]
    frame = pd.concat([design, derive_covariates(sample), outcomes], axis=1)
    frame["scheme"] = selection.scheme.loc[selection.keep]
    frame["income_pc_month"] = income
    frame["income_quintile"] = income_quintile(income, design["resp_id"])
    analytic = finalize(frame)
    recodes = pd.concat(
        [selection.recodes, outcome_recode_log(sample, outcomes)], ignore_index=True
    )
    return CleanResult(analytic=analytic, flow=selection.flow, recodes=recodes)


def derive_design(c: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Return resp_id, province, city, stratum and psu as strings.

    province and city are the first 2 and 4 characters of the locality code (GB/T 2260
    province and prefecture); stratum and psu are the mapped integer ids as text, or,
    when the file has none (optional concepts), the prefecture and the township (the
    first 4 and 9 characters of the locality code).
    """
    width = len(str(int(float(codebook.variables.at["resp_id", "valid_max"]))))
    locality = c["locality_code"].astype("str")
    ids = {}
    for concept, chars in (("stratum", 4), ("psu", 9)):
        if c[concept].isna().all() and len(c):  # optional and absent from the file
            ids[concept] = locality.str[:chars]
        else:
            ids[concept] = c[concept].map(lambda v: str(int(v)))
    return pd.DataFrame(
        {
            "resp_id": c["resp_id"].map(lambda v: f"{int(v):0{width}d}"),
            "province": locality.str[:2],
            "city": locality.str[:4],
            **ids,
        },
        index=c.index,
    )


def finalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Set the schema's column order and dtypes and sort rows by resp_id."""
    out = pd.DataFrame(index=frame.index)
    for column in ANALYTIC_COLUMNS:
        values = frame[column]
        if column in FACTORS:
            out[column] = pd.Categorical(values, categories=list(FACTORS[column]))
        elif column in BINARIES:
            out[column] = values.astype(bool).astype("int8")
        elif column in CONTINUOUS:
            out[column] = values.astype("float64")
        elif column in DESIGN:
            out[column] = values.astype("str")
    out = out.sort_values(list(KEY), kind="stable").reset_index(drop=True)
    if out["resp_id"].duplicated().any():
        raise ValueError("resp_id is not unique in the analytic sample")
    return out
