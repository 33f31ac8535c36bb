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


@dataclass(frozen=True)
class Codebook:
    """The codebook files of one raw data source, loaded from ``directory``."""

    directory: Path = CODEBOOK_DIR

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
        table = pd.read_csv(self.directory / "varmap.csv", dtype=str)
        return dict(zip(table["concept"], table["column"], strict=True))

    @cached_property
    def recode(self) -> dict[str, dict[int, int]]:
        """Concept -> {source code: canonical code}; empty for the synthetic file."""
        path = self.directory / "recode.csv"
        table = pd.read_csv(path) if path.exists() else pd.DataFrame()
        out: dict[str, dict[int, int]] = {}
        for row in table.itertuples(index=False):
            out.setdefault(row.concept, {})[int(row.source_code)] = int(
                row.canonical_code
            )
        return out

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
