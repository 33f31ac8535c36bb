"""Validation of the raw survey before cleaning, reported all at once.

Purpose
    Check a raw file against its codebook and collect *every* problem into one
    readable report instead of stopping at the first: missing or misnamed columns
    (with close matches), wrong dtypes, blanks, codes outside the codebook, negative
    amounts, reimbursement above cost, duplicated respondent ids and skip-pattern
    violations. Legal but suspicious data (e.g. -8 inside a universe, arrivals after the
    interview, a model subsample with fewer than 30 cases) are warnings, not errors.
Inputs
    A raw survey ``DataFrame``, its :class:`~analysis.cleaning.codebook.Codebook` and
    the name of
    the file it came from (for the message).
Outputs
    A :class:`ValidationReport` (``.to_frame()`` gives the tidy table,
    ``.format()`` the text); :meth:`ValidationReport.raise_if_errors` raises
    :class:`RawDataError` listing each problem with file, column, offending values
    (with counts), number of rows and example respondent ids.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd

from analysis.cleaning.codebook import Codebook
from analysis.cleaning.rawfile import RawFile
from analysis.cleaning.recode import to_concepts
from analysis.cleaning.schema import FACTORS, SUBSAMPLES, TABLE3_FACTORS
from analysis.cleaning.validate_checks import (
    CheckContext,
    Problem,
    check_amount_above_cost,
    check_arrival_dates,
    check_codes,
    check_columns,
    check_dtypes,
    check_duplicate_ids,
    check_labels,
    check_universe,
    display_value,
)

MIN_CASES = 30  # fewer cases than this in a model's estimation sample: a warning
MAX_VALUES_SHOWN = 10
REPORT_COLUMNS = [
    "source", "severity", "check", "column", "concept", "values", "n_rows",
    "example_ids", "detail",
]  # fmt: skip


class RawDataError(ValueError):
    """The raw file failed validation; ``.report`` holds the full report."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.format())


class RawDataWarning(UserWarning):
    """A raw value that is legal but suspicious."""


class AnalyticWarning(UserWarning):
    """An analytic sample that is legal but too thin for some model."""


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found in one raw file.

    Attributes
    ----------
    source : str
        File name (or description) of the raw data, used in messages.
    n_rows : int
        Rows of the raw file.
    problems : tuple of Problem
        Errors and warnings in check order.
    """

    source: str
    n_rows: int
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems of severity "error"."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Problems of severity "warning"."""
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        """True if there is no error (warnings allowed)."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """Return one row per problem with the columns ``REPORT_COLUMNS``."""
        rows = [
            [self.source, p.severity, p.check, p.column, p.concept,
             format_values(p.values), p.n_rows, ", ".join(p.example_ids), p.detail]
            for p in self.problems
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=REPORT_COLUMNS)

    def format(self) -> str:
        """Return the readable report: a header, then one numbered line per problem."""
        head = (
            f"Raw data validation of {self.source} ({self.n_rows:,} rows): "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)."
        )
        lines = [head]
        for title, group in (("Errors", self.errors), ("Warnings", self.warnings)):
            if group:
                lines.append(f"{title}:")
                lines += [f"  {i}. {format_problem(self.source, p)}"
                          for i, p in enumerate(group, 1)]  # fmt: skip
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Emit each warning as :class:`RawDataWarning`; raise if there is an error.

        Raises
        ------
        RawDataError
            If the report holds at least one error; its message is :meth:`format`.
        """
        for p in self.warnings:
            warnings.warn(format_problem(self.source, p), RawDataWarning, stacklevel=2)
        if self.errors:
            raise RawDataError(self)


def format_values(values: tuple[tuple[object, int], ...]) -> str:
    """Return ``"'x' (3), 9 (2), ... and k more"`` for value counts."""
    shown = [f"{v!r} ({n:,})" for v, n in values[:MAX_VALUES_SHOWN]]
    if len(values) > MAX_VALUES_SHOWN:
        shown.append(f"... and {len(values) - MAX_VALUES_SHOWN} more")
    return ", ".join(shown)


def format_problem(source: str, p: Problem) -> str:
    """Return one problem as a sentence naming file, column, values, rows and ids."""
    where = f"{source}: column {p.column!r}" if p.column else source
    if p.concept:
        where += f" (concept {p.concept})"
    text = f"[{p.check}] {where}: {p.detail}"
    if p.values:
        text += f"; values {format_values(p.values)}"
    if p.n_rows:
        text += f"; {p.n_rows:,} row(s)"
    if p.example_ids:
        text += f", e.g. resp_id {', '.join(p.example_ids)}"
    return text


def validate_raw(
    raw: pd.DataFrame,
    codebook: Codebook | None = None,
    source: str = "raw data",
    metadata: RawFile | None = None,
) -> ValidationReport:
    """Check ``raw`` against ``codebook`` and return every problem found.

    Parameters
    ----------
    raw : DataFrame
        The survey as read from the data source (source names and codes).
    codebook : Codebook, optional
        Default: the package's ``data/codebook``.
    source : str
        Name of the file, quoted in every message.
    metadata : RawFile, optional
        The file's value labels and SPSS user-missing declarations
        (:mod:`analysis.cleaning.rawfile`): labels that contradict ``recode.csv`` are
        errors.

    Returns
    -------
    ValidationReport
        Call ``.raise_if_errors()`` to stop on errors.

    Notes
    -----
    Codes are checked after the codebook's recode (``recode.csv``), so a file with
    other codes is valid once its recode is declared; offending values are reported
    as they appear in the file. Checks on a column run only if the column is present.
    """
    codebook = codebook or Codebook()
    problems = check_columns(raw, codebook)
    if any(p.check == "not_a_survey" for p in problems):
        return ValidationReport(str(source), len(raw), tuple(problems))
    if raw.empty:
        detail = "the file has its columns but no rows (no respondent to analyse)"
        problems.append(Problem("no_rows", "", "", detail))
    present = [
        c for c in codebook.variables.index
        if c in codebook.varmap and codebook.column(c)
        and codebook.column(c) in raw.columns
        and not isinstance(raw[codebook.column(c)], pd.DataFrame)
    ]  # fmt: skip
    meta = metadata or RawFile(raw)
    ctx = CheckContext(raw, codebook, example_ids(raw, codebook),
                       to_concepts(raw, codebook, present),
                       meta.value_labels, meta.user_missing)  # fmt: skip
    for concept in present:
        problems += check_dtypes(ctx, concept)
        problems += check_codes(ctx, concept)
        problems += check_labels(ctx, concept)
    problems += check_amount_above_cost(ctx)
    problems += check_duplicate_ids(ctx)
    for concept in present:
        problems += check_universe(ctx, concept)
    problems += check_arrival_dates(ctx)
    return ValidationReport(
        source=str(source), n_rows=len(raw), problems=tuple(problems)
    )


def example_ids(raw: pd.DataFrame, codebook: Codebook) -> pd.Series:
    """Return the respondent id of each row as text (row label if the id is absent)."""
    column = codebook.varmap.get("resp_id")
    if column in raw.columns and not isinstance(raw[column], pd.DataFrame):
        ids = raw[column]
    else:
        ids = pd.Series([f"row {i}" for i in raw.index], index=raw.index)
    return ids.map(lambda v: str(display_value(v)))


def analytic_warnings(analytic: pd.DataFrame, min_cases: int = MIN_CASES) -> list[str]:
    """Return warnings about model samples that are legal but thin.

    Parameters
    ----------
    analytic : DataFrame
        The analytic sample (``schema.ANALYTIC_COLUMNS``).
    min_cases : int
        Fewest cases a model's estimation sample should have.

    Returns
    -------
    list of str
        One message per subsample (Table 4) whose part 1 or part 2 has fewer than
        ``min_cases`` cases, whose part 1 outcome does not vary, or where a level of
        a Table 3 factor has no case in that part.
    """
    messages = []
    for name, schemes in SUBSAMPLES.items():
        sub = analytic[analytic["scheme"].isin(schemes)]
        parts = {"part 1": sub, "part 2": sub[sub["in_part2"] == 1]}
        for part, rows in parts.items():
            if len(rows) < min_cases:
                messages.append(
                    f"subsample {name!r} {part}: {len(rows)} case(s), fewer than "
                    f"{min_cases}"
                )
            messages += empty_levels(rows, name, part, schemes)
        if len(sub) and sub["reimbursed"].nunique() < 2:
            messages.append(f"subsample {name!r} part 1: reimbursed does not vary")
    return messages


def empty_levels(rows: pd.DataFrame, name: str, part: str, schemes) -> list[str]:
    """Return a message for each Table 3 factor level with no case in ``rows``."""
    out = []
    for factor in TABLE3_FACTORS:
        levels = schemes if factor == "scheme" else FACTORS[factor]
        counts = rows[factor].value_counts()
        empty = [lv for lv in levels if counts.get(lv, 0) == 0]
        if empty and len(rows):
            out.append(f"subsample {name!r} {part}: no case at {factor} = {empty}")
    return out
