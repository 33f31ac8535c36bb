"""The raw survey's codebook and the concept-to-column map.

``data/codebook/variables.csv`` defines each raw column the way the CMDS questionnaire
does (type, value-label set, valid range, survey missing codes, the universe a skip
pattern asks it of). ``varmap.csv`` maps each concept to the column that holds it and
``recode.csv`` maps a user's codes to the canonical ones. Code outside this module never
spells a raw column name: it asks for a concept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis.config import CODEBOOK_DIR

MISSING_LABELSET = "missing"
# Files of a codebook folder and the columns the reader needs in each.
REQUIRED_COLUMNS = {
    "variables.csv": ("column", "concept", "stata_type", "labelset", "valid_min",
                      "valid_max", "missing_codes", "universe"),
    "value_labels.csv": ("labelset", "code", "label_zh", "label_en"),
    "varmap.csv": ("concept", "column"),
}  # fmt: skip
OPTIONAL_FILES = {"recode.csv": ("concept", "source_code", "canonical_code")}

# Concepts no exhibit of ``make reproduce`` needs, with what happens without them. A
# file may lack them (``column`` left empty in varmap.csv, or the column absent):
# validation then notes it instead of refusing the file.
OPTIONAL_CONCEPTS = {
    "city_name": "not used by any output",
    "ethnicity": "not used by any output",
    "employment_identity": "not used by any output",
    "household_expenditure": "not used by any output",
    "ins_commercial": "not used by any output",
    "neighbourhood": "not used by any output",
    "stratum": (
        "only the cluster bootstrap (make bootstrap) uses it: the prefecture, the "
        "first 4 characters of locality_code, is used instead"
    ),
    "psu": (
        "only the cluster bootstrap (make bootstrap) uses it: the township, the "
        "first 9 characters of locality_code, is used instead"
    ),
}


class CodebookError(ValueError):
    """A codebook folder is missing, incomplete or malformed; the message says why."""


@dataclass(frozen=True)
class Codebook:
    """The codebook files of one raw data source, loaded from ``directory``."""

    directory: Path = CODEBOOK_DIR

    def check(self) -> Codebook:
        """Refuse a folder that cannot serve as a codebook; return ``self`` if fine.

        Raises
        ------
        CodebookError
            Naming the folder or file and what is wrong: folder or file missing, a
            file that does not parse, a missing column, a duplicated or unknown
            concept, a code that is not an integer.
        """
        folder = Path(self.directory)
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "folder not found"
            raise CodebookError(f"{folder}: {what} (CODEBOOK= names a codebook folder)")
        for name, columns in {**REQUIRED_COLUMNS, **OPTIONAL_FILES}.items():
            if name in OPTIONAL_FILES and not (folder / name).exists():
                continue
            read_checked(folder / name, columns)
        try:
            self.variables, self.value_labels, self.varmap, self.recode  # noqa: B018
        except CodebookError:
            raise
        except (ValueError, TypeError) as error:
            raise CodebookError(f"{folder}: {error}") from None
        unknown = sorted(set(self.varmap) - set(self.variables.index))
        if unknown:
            raise CodebookError(
                f"{folder / 'varmap.csv'}: concept(s) {unknown} are not in "
                "variables.csv (edit only the column side of varmap.csv)"
            )
        return self

    @cached_property
    def variables(self) -> pd.DataFrame:
        """One row per canonical raw column, indexed by concept."""
        table = pd.read_csv(self.directory / "variables.csv", dtype=str)
        duplicated = table["concept"][table["concept"].duplicated()].tolist()
        if duplicated:
            raise ValueError(
                f"{self.directory / 'variables.csv'}: concept(s) {duplicated} appear "
                "more than once"
            )
        return table.set_index("concept")

    @cached_property
    def value_labels(self) -> pd.DataFrame:
        """Value labels: columns labelset, code (int), label_zh, label_en."""
        table = pd.read_csv(self.directory / "value_labels.csv")
        return table.astype({"code": "int64"})

    @cached_property
    def varmap(self) -> dict[str, str]:
        """Concept -> column name in the data source."""
        path = self.directory / "varmap.csv"
        table = pd.read_csv(path, dtype=str)
        duplicated = table["concept"][table["concept"].duplicated()].tolist()
        if duplicated:
            raise CodebookError(
                f"{path}: concept(s) {duplicated} appear more than once"
            )
        table["column"] = table["column"].fillna("").str.strip()
        return dict(zip(table["concept"], table["column"], strict=True))

    @cached_property
    def recode(self) -> dict[str, dict[int, int]]:
        """Concept -> {source code: canonical code}; empty for the synthetic file."""
        path = self.directory / "recode.csv"
        table = pd.read_csv(path) if path.exists() else pd.DataFrame()
        out: dict[str, dict[int, int]] = {}
        for line, row in enumerate(table.itertuples(index=False), start=2):
            try:
                source, canonical = int(row.source_code), int(row.canonical_code)
            except (TypeError, ValueError):
                raise CodebookError(
                    f"{path}, line {line} (concept {row.concept}): codes must be "
                    f"integers, got source_code={row.source_code!r}, "
                    f"canonical_code={row.canonical_code!r}"
                ) from None
            codes = out.setdefault(row.concept, {})
            if source in codes and codes[source] != canonical:
                raise CodebookError(
                    f"{path}, line {line} (concept {row.concept}): source code "
                    f"{source} is mapped twice ({codes[source]} and {canonical})"
                )
            codes[source] = canonical
        return out

    def absent(self, concept: str, columns) -> bool:
        """True for an optional concept unmapped or with no column in ``columns``."""
        if concept not in OPTIONAL_CONCEPTS:
            return False
        column = self.varmap.get(concept, "")
        return not column or column not in columns

    def column(self, concept: str) -> str:
        """Return the data-source column that holds ``concept``."""
        try:
            return self.varmap[concept]
        except KeyError:
            raise KeyError(
                f"concept {concept!r} has no entry in {self.directory / 'varmap.csv'}"
            ) from None

    def labels(self, labelset: str) -> dict[int, str]:
        """Return {code: English label} of a value-label set."""
        table = self.value_labels[self.value_labels["labelset"] == labelset]
        return dict(zip(table["code"], table["label_en"], strict=True))

    def missing_codes(self, concept: str) -> tuple[int, ...]:
        """Survey missing codes (don't know, refused, not applicable) of ``concept``."""
        text = self.variables.at[concept, "missing_codes"]
        if pd.isna(text):
            return ()
        return tuple(int(code) for code in str(text).split())


def read_checked(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read one codebook CSV or raise :class:`CodebookError` naming it."""
    if not path.exists():
        raise CodebookError(f"{path}: file not found in the codebook folder")
    try:
        table = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CodebookError(f"{path}: not a readable CSV ({first})") from None
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise CodebookError(
            f"{path}: column(s) {absent} missing (has {list(table.columns)[:8]})"
        )
    return table
