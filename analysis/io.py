"""Saving derived tables with declared keys and a fingerprint log.

Every derived table goes through :func:`save_table`: its key columns must be unique and
non-missing, rows are sorted by key, and the file's MD5 is recorded in a manifest beside
the outputs (``logs/manifest.csv``), so a rerun with the same seed can be checked for
byte-identical results by diffing one file (the Gentzkow-Shapiro / JMSLab ``SaveData``
habit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import notices

MANIFEST_COLUMNS = ["path", "keys", "rows", "columns", "md5"]
# Committed CSV tables carry six significant digits: another BLAS kernel, thread count
# or SIMD path moves a fitted number in its 10th-16th digit (measured: at most 2e-9
# relative on the shipped data), which full precision would print as a change.
TABLE_DIGITS = 6
# Every CSV table of a synthetic run carries the notice as a last column, the same on
# every row: ``pd.read_csv`` and Stata's ``import delimited`` read the file as they
# would any other, and the notice travels with any subset of rows or a copy-paste.
# Real-data runs write no such column.


def save_table(
    df: pd.DataFrame,
    keys: Sequence[str],
    path: Path,
    manifest: Path | None = None,
    sort: bool = True,
    digits: int | None = None,
    synthetic: bool = False,
) -> Path:
    """Write ``df`` (CSV or parquet) after checking its key, and log its hash.

    Parameters
    ----------
    df : DataFrame
        The table.
    keys : sequence of str
        Columns that identify a row. They must exist, be non-missing and unique.
    path : Path
        Destination; the suffix (``.csv`` or ``.parquet``) picks the format.
    manifest : Path, optional
        The manifest CSV to update; default ``<outputs>/logs/manifest.csv`` found by
        walking up from ``path`` to a directory named ``outputs`` or ``data``.
    sort : bool
        Sort rows by ``keys`` before writing (turn off for tables whose row order is
        the published layout).
    digits : int, optional
        Significant digits of floats in a CSV (``TABLE_DIGITS`` for the committed
        tables); default full precision.
    synthetic : bool
        Add the synthetic-data notice column (:func:`with_notice`) to a CSV.

    Raises
    ------
    ValueError
        If a key column is missing, has missing values, or does not identify rows.
    """
    check_keys(df, keys, path)
    if sort:
        df = df.sort_values(list(keys), kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        float_format = None if digits is None else f"%.{digits}g"
        df = with_notice(df) if synthetic else df
        df.to_csv(path, index=False, lineterminator="\n", float_format=float_format)
    log_file(path, keys, df.shape, manifest)
    return path


def save_text(text: str, path: Path, manifest: Path | None = None) -> Path:
    """Write a rendered exhibit (Markdown, LaTeX, HTML) as UTF-8 and log its hash.

    The manifest records it like a table, with no key, its lines as rows and one
    column.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    log_file(path, (), (text.count("\n"), 1), manifest)
    return path


#: The time stamp of every .dta the package writes (the end of CMDS 2014 fieldwork),
#: so that a file's bytes follow its data and nothing else.
DTA_TIME_STAMP = dt.datetime(2014, 5, 31, 0, 0)


def write_dta(
    df: pd.DataFrame,
    path: Path,
    data_label: str,
    variable_labels: dict[str, str],
    value_labels: dict[str, dict[int, str]],
) -> Path:
    """Write a Stata 14 (format 118, UTF-8) .dta with labels and fixed bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_stata(
        path,
        write_index=False,
        byteorder="little",
        time_stamp=DTA_TIME_STAMP,
        data_label=data_label[:80],
        variable_labels=variable_labels,
        version=118,
        value_labels=value_labels,
    )
    return path


def with_notice(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the synthetic-data notice as its last column."""
    if notices.CSV_COLUMN in df.columns:
        raise ValueError(f"the table already has a column {notices.CSV_COLUMN!r}")
    return df.assign(**{notices.CSV_COLUMN: notices.CSV})


def without_notice(df: pd.DataFrame) -> pd.DataFrame:
    """Return a table read from a CSV without its synthetic-data notice column."""
    return df.drop(columns=notices.CSV_COLUMN, errors="ignore")


def check_keys(df: pd.DataFrame, keys: Sequence[str], path: Path) -> None:
    """Raise ``ValueError`` unless ``keys`` identify the rows of ``df`` uniquely."""
    absent = [k for k in keys if k not in df.columns]
    if absent:
        raise ValueError(f"{path}: key column(s) {absent} not in the table")
    n_missing = int(df[list(keys)].isna().any(axis=1).sum())
    if n_missing:
        raise ValueError(f"{path}: {n_missing} row(s) with a missing key {list(keys)}")
    dup = df.duplicated(list(keys), keep=False)
    if dup.any():
        example = df.loc[dup, list(keys)].head(3).to_dict("records")
        raise ValueError(
            f"{path}: key {list(keys)} is not unique: {int(dup.sum())} rows share a "
            f"key, e.g. {example}"
        )


def md5(path: Path) -> str:
    """Return the hex MD5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def log_file(
    path: Path,
    keys: Sequence[str],
    shape: tuple[int, int],
    manifest: Path | None = None,
) -> None:
    """Record ``path``'s hash and shape in the manifest, replacing any older entry."""
    manifest = manifest or default_manifest(path)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    base = manifest.parent.parent.parent  # <root>/outputs/logs/manifest.csv
    name = path.resolve().relative_to(base.resolve()).as_posix()
    entry = pd.DataFrame(
        [[name, " ".join(keys), shape[0], shape[1], md5(path)]],
        columns=MANIFEST_COLUMNS,
    )
    if manifest.exists():
        old = pd.read_csv(manifest, dtype={"md5": str})
        entry = pd.concat([old[old["path"] != name], entry], ignore_index=True)
    entry.sort_values("path").to_csv(manifest, index=False, lineterminator="\n")


def default_manifest(path: Path) -> Path:
    """Return ``<run root>/outputs/logs/manifest.csv`` for a file under that root."""
    for parent in path.resolve().parents:
        if parent.name in {"outputs", "data"}:
            return parent.parent / "outputs" / "logs" / "manifest.csv"
    return path.resolve().parent / "manifest.csv"
