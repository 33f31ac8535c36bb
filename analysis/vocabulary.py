"""The factor vocabulary: levels, their order, canonical codes and printed labels.

One table, ``data/codebook/levels.csv``, holds every factor level of the analytic
schema once: its name (the key of every table the package builds or reads), its
position (the first level of a factor is its reference group in Tables 3-4), the
canonical codes of the raw concept that map to it (``*``: every other valid code) and
the label the exhibits print. The transcriptions in ``data/published/`` spell a level
by its label, as the paper prints it, and :mod:`analysis.paper.published` keys them by
name, so renaming a level is a one-line change there; relabelling one must follow the
paper's wording, or the published files stop matching it. The table is the package's
own vocabulary, not part of a user's codebook: a real file's codes are translated to the
canonical ones by ``recode.csv`` before these maps apply.
"""

from __future__ import annotations

import csv
from types import MappingProxyType

from analysis.config import CODEBOOK_DIR

LEVELS_FILE = CODEBOOK_DIR / "levels.csv"
OTHER_CODES = "*"


def _read(path=LEVELS_FILE) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


_ROWS = _read()

#: Factor -> its levels in published order (the first is the reference group).
FACTORS = MappingProxyType(
    {
        concept: tuple(r["level"] for r in _ROWS if r["concept"] == concept)
        for concept in dict.fromkeys(r["concept"] for r in _ROWS)
    }
)

#: Factor -> level -> printed label.
LABELS = MappingProxyType(
    {
        concept: MappingProxyType(
            {r["level"]: r["label"] for r in _ROWS if r["concept"] == concept}
        )
        for concept in FACTORS
    }
)


def code_map(concept: str) -> dict[int, str]:
    """Canonical code -> level of a factor derived by a plain code map."""
    return {
        int(code): r["level"]
        for r in _ROWS
        if r["concept"] == concept and r["canonical_codes"] != OTHER_CODES
        for code in r["canonical_codes"].split()
    }


def other_level(concept: str) -> str | None:
    """The level of every valid code not listed (``*``), if the factor has one."""
    rows = [r for r in _ROWS if r["concept"] == concept]
    return next((r["level"] for r in rows if r["canonical_codes"] == OTHER_CODES), None)


def level_code(concept: str) -> dict[str, int]:
    """Level -> the first canonical code that maps to it (for writing raw codes)."""
    out: dict[str, int] = {}
    for code, level in code_map(concept).items():
        out.setdefault(level, code)
    return out


def label(concept: str, level: str) -> str:
    """The printed label of a level."""
    return LABELS[concept][level]
