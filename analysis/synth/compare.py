"""Compare two raw survey files cell by cell: is a regeneration the provided file.

``python -m analysis compare-raw PROVIDED REGENERATED`` (``make synthetic``) prints
whether the two files are byte-identical and, where they are not, which columns
differ, in how many rows, and how many of those rows are of hospitalised respondents
(the pool the analytic sample is drawn from: the only rows an exhibit can read).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyreadstat

from analysis.cleaning.codebook import Codebook


@dataclass(frozen=True)
class ColumnDiff:
    """Rows in which one column differs between the two files."""

    column: str
    rows: int
    hospitalised_rows: int


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_codes(path: Path) -> pd.DataFrame:
    """The raw codes of a .dta file (no value labels applied)."""
    frame, _ = pyreadstat.read_dta(str(path), apply_value_formats=False)
    return frame


def column_diffs(
    provided: pd.DataFrame, regenerated: pd.DataFrame, pool: pd.Series
) -> list[ColumnDiff]:
    """Columns whose values differ, with row counts (all rows; rows in ``pool``).

    Both frames must have the same shape and columns; missing equals missing.
    """
    diffs = []
    for column in provided.columns:
        left, right = provided[column], regenerated[column]
        differs = ~((left == right) | (left.isna() & right.isna()))
        if differs.any():
            diffs.append(
                ColumnDiff(column, int(differs.sum()), int((differs & pool).sum()))
            )
    return diffs


def compare(provided_path: Path, regenerated_path: Path) -> tuple[bool, list[str]]:
    """Return (identical, report lines) for two raw survey files."""
    lines = [
        f"provided:    {provided_path} sha256 {sha256(provided_path)}",
        f"regenerated: {regenerated_path} sha256 {sha256(regenerated_path)}",
    ]
    if sha256(provided_path) == sha256(regenerated_path):
        lines.append("identical: the regeneration is byte for byte the provided file")
        return True, lines
    provided, regenerated = read_codes(provided_path), read_codes(regenerated_path)
    if provided.shape != regenerated.shape or list(provided.columns) != list(
        regenerated.columns
    ):
        lines.append(
            f"different shapes: {provided.shape} vs {regenerated.shape}; "
            "the files are different surveys"
        )
        return False, lines
    hosp_any = Codebook().column("hosp_any")
    hospitalised = provided[hosp_any].eq(1) | regenerated[hosp_any].eq(1)
    diffs = column_diffs(provided, regenerated, hospitalised)
    if not diffs:
        lines.append("same codes in every cell; only file metadata differ")
        return False, lines
    lines.append(f"{len(diffs)} columns differ:")
    lines += [
        f"  {d.column}: {d.rows} rows ({d.hospitalised_rows} hospitalised)"
        for d in diffs
    ]
    return False, lines
