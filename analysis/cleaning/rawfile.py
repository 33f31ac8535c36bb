"""Reading a raw survey file, with file-level errors stated in one or two lines.

Purpose
    Turn any file a data provider may deliver into a raw ``DataFrame`` plus the
    metadata the validation uses (value labels, SPSS user-defined missing values,
    the text encoding of a CSV), or refuse it with :class:`RawFileError` naming the
    file and what is wrong with it: missing, a directory, empty, compressed,
    truncated or corrupt, an unsupported type, an undecodable encoding, a CSV whose
    rows do not parse. Content errors (columns, codes, ...) are the validation's job
    (:mod:`analysis.cleaning.validate`), not this module's.
Inputs
    A path (``.dta``, ``.sav`` or ``.csv``), the codebook (string concepts of a CSV
    are read as text) and optionally the CSV's encoding.
Outputs
    :class:`RawFile`: the frame (codes as numbers, no value labels applied; SPSS
    user-missing values kept as their codes) and its metadata.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyreadstat

from analysis.cleaning.codebook import Codebook
from analysis.cleaning.recode import is_string_concept

SUFFIXES = (".dta", ".sav", ".csv")
# Encodings tried, in order, for a CSV without ENCODING=: UTF-8 (with or without a
# byte-order mark), then GB18030, the superset of GBK/GB2312 that Chinese Excel and
# SPSS write by default.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
MAGIC = {
    b"PK\x03\x04": "a zip archive: unzip it and point DATA at the survey file inside",
    b"\x1f\x8b": "gzip-compressed: decompress it first (gunzip)",
    b"7z\xbc\xaf": "a 7-Zip archive: extract the survey file first",
    b"Rar!": "a RAR archive: extract the survey file first",
    b"%PDF": "a PDF document, not a data file",
    b"\xd0\xcf\x11\xe0": "an old Excel/Word file: export it as .dta, .sav or .csv",
}


class RawFileError(ValueError):
    """The raw file cannot be read as a survey file; the message says why."""


@dataclass(frozen=True)
class RawFile:
    """A raw survey as read, with the metadata the validation checks.

    Attributes
    ----------
    frame : DataFrame
        One row per record, the file's column names, codes as numbers.
    value_labels : dict
        ``{column: {code: label}}`` stored in the file (``.dta``/``.sav``).
    user_missing : dict
        ``{column: (code, ...)}`` declared user-missing in an SPSS file; their
        cells hold the code itself (to be mapped through ``recode.csv``).
    encoding : str or None
        Encoding a CSV was decoded with.
    """

    frame: pd.DataFrame
    value_labels: dict = field(default_factory=dict)
    user_missing: dict = field(default_factory=dict)
    encoding: str | None = None


def read(path: Path, codebook: Codebook, encoding: str | None = None) -> RawFile:
    """Read ``path`` or raise :class:`RawFileError` naming the file and the problem.

    Parameters
    ----------
    path : Path
        The raw survey file.
    codebook : Codebook
        Gives the string concepts, read as text from a CSV.
    encoding : str, optional
        Encoding of a CSV; default: UTF-8, else GB18030 (detected).

    Returns
    -------
    RawFile

    Raises
    ------
    RawFileError
        If the file is missing, empty, compressed, of another type, truncated or
        corrupt, or (CSV) undecodable or unparsable.
    """
    path = Path(path).expanduser()
    check_file(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".dta":
            return read_dta(path)
        if suffix == ".sav":
            return read_sav(path)
        return read_csv(path, codebook, encoding)
    except RawFileError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's
        raise RawFileError(unreadable(path, error)) from None


def check_file(path: Path) -> None:
    """Refuse a path that is not a non-empty file of a supported, uncompressed type."""
    if not path.exists():
        raise RawFileError(f"{path}: file not found")
    if path.is_dir():
        raise RawFileError(f"{path}: is a directory; DATA must name the survey file")
    size = path.stat().st_size
    if size == 0:
        raise RawFileError(f"{path}: empty file (0 bytes): the copy or download failed")
    with open(path, "rb") as handle:
        head = handle.read(16)
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            raise RawFileError(f"{path}: is {what}")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RawFileError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
            "the package reads .dta (Stata), .sav (SPSS) or .csv: convert it first"
        )
    if suffix == ".dta" and not looks_like_dta(head):
        raise RawFileError(f"{path}: not a Stata .dta file (no Stata header)")
    if suffix == ".sav" and not head.startswith((b"$FL2", b"$FL3")):
        raise RawFileError(f"{path}: not an SPSS .sav file (no SPSS header)")


def looks_like_dta(head: bytes) -> bool:
    """True for a Stata 117+ (``<stata_dta>``) or 104-115 (version byte) header."""
    return head.startswith(b"<stata_dta>") or (
        len(head) > 1 and 104 <= head[0] <= 115 and head[1] in (1, 2)
    )


def unreadable(path: Path, error: Exception) -> str:
    """Two lines: what could not be read, and the reader's own words."""
    kind = {".dta": "a Stata .dta", ".sav": "an SPSS .sav", ".csv": "a CSV"}
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (
        f"{path}: cannot be read as {kind.get(path.suffix.lower(), 'a survey')} file "
        f"({path.stat().st_size:,} bytes): it is truncated or corrupt, or not that "
        f"format.\n  reader said: {type(error).__name__}: {reason[:200]}"
    )


def read_dta(path: Path) -> RawFile:
    """A Stata file: codes as numbers; value labels from its label sets."""
    frame = pd.read_stata(path, convert_categoricals=False, convert_missing=False)
    _, meta = pyreadstat.read_dta(str(path), metadataonly=True)
    check_row_count(path, frame, meta.number_rows)
    return RawFile(frame, value_labels=dict(meta.variable_value_labels))


def read_sav(path: Path) -> RawFile:
    """An SPSS file: user-defined missing values kept as codes (``user_missing``)."""
    frame, meta = pyreadstat.read_sav(
        str(path), apply_value_formats=False, user_missing=True
    )
    check_row_count(path, frame, meta.number_rows)
    return RawFile(
        frame,
        value_labels=dict(meta.variable_value_labels),
        user_missing=user_missing_codes(meta),
    )


def check_row_count(path: Path, frame: pd.DataFrame, declared: int | None) -> None:
    """Refuse a file whose header promises more rows than it holds (truncated)."""
    if declared is not None and declared >= 0 and len(frame) != declared:
        raise RawFileError(
            f"{path}: truncated: the header declares {declared:,} rows but "
            f"{len(frame):,} could be read"
        )


def user_missing_codes(meta) -> dict[str, tuple[float, ...]]:
    """``{column: codes}`` of SPSS user-defined missing values (discrete, ranges)."""
    out: dict[str, set[float]] = {}
    for column, values in (getattr(meta, "missing_user_values", None) or {}).items():
        out.setdefault(column, set()).update(float(v) for v in values)
    for column, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        for r in ranges:
            lo, hi = float(r["lo"]), float(r["hi"])
            if lo == hi:
                out.setdefault(column, set()).add(lo)
            elif math.isfinite(lo) and math.isfinite(hi) and hi - lo <= 100:
                out.setdefault(column, set()).update(
                    float(v) for v in range(math.ceil(lo), math.floor(hi) + 1)
                )
    return {column: tuple(sorted(codes)) for column, codes in out.items()}


def refuse_cut_last_line(path: Path, frame: pd.DataFrame, encoding: str) -> None:
    """Refuse a CSV whose last line ends mid-record: a copy cut short.

    A complete file may lack the final line end; a cut one also lacks fields on its
    last line, which pandas would read as blanks in the last row.
    """
    if frame.empty:
        return
    # decoded as a whole: a byte offset may fall inside a multi-byte character
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        text = handle.read()
    if text.endswith(("\n", "\r")):
        return
    fields = next(csv.reader([text.splitlines()[-1]]))
    if len(fields) < frame.shape[1]:
        raise RawFileError(
            f"{path}: truncated: the last line (row {len(frame):,}) stops after "
            f"{len(fields)} of {frame.shape[1]} fields with no line end; the copy "
            "was cut short"
        )


def read_csv(path: Path, codebook: Codebook, encoding: str | None) -> RawFile:
    """A CSV: string concepts as text; encoding given, or UTF-8 else GB18030."""
    text = [
        codebook.varmap[c]
        for c in codebook.variables.index
        if codebook.varmap.get(c) and is_string_concept(codebook, c)
    ]
    dtype = {name: str for name in text}
    tried = [encoding] if encoding else list(CSV_ENCODINGS)
    failures = []
    for name in tried:
        try:
            frame = pd.read_csv(path, dtype=dtype, encoding=name)
        except (UnicodeDecodeError, UnicodeError) as error:
            failures.append(f"{name} (byte {getattr(error, 'start', '?')})")
            continue
        except LookupError:
            message = f"{path}: unknown encoding {name!r} (ENCODING=)"
            raise RawFileError(message) from None
        except pd.errors.EmptyDataError:
            raise RawFileError(f"{path}: no header line: the CSV is empty") from None
        except pd.errors.ParserError as error:
            raise RawFileError(
                f"{path}: the CSV does not parse: {str(error).strip()}"
            ) from None
        refuse_cut_last_line(path, frame, name)
        return RawFile(frame, encoding=name)
    hint = "" if encoding else "; give the file's encoding with ENCODING=..."
    raise RawFileError(
        f"{path}: the text cannot be decoded as {' or '.join(failures)}{hint}"
    )
