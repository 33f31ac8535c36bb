"""The Table 3-4 cells the calibration aims at, aligned with the design columns.

Support module of the participation and GLM steps (not a step itself).

``outcomes.design_terms()`` names the 27 columns of the total-sample design (intercept
plus the 26 published rows). The Table 4 subsample fits use the same columns minus the
ones the pipeline drops (``analysis.paper.models``): NCMS drops the scheme dummies and
rural_hukou (constant); URBMI+UEBMI drops URBMI (the subsample's base scheme).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.paper import published
from analysis.synth import outcomes

TERMS = outcomes.design_terms()
SCOPE_TERMS = tuple(f"scope:{s}" for s in schema.contrast_levels("scope"))
# The scheme dummies in published order (URBMI, UEBMI); NCMS is the reference.
SCHEME_TERMS = tuple(f"scheme:{s}" for s in schema.contrast_levels("scheme"))
DROP = {
    "total": (),
    "ncms": SCHEME_TERMS + ("rural_hukou",),
    "urban": SCHEME_TERMS[:1],
}


def columns(sample: str) -> np.ndarray:
    """Indices of the design columns fitted on ``sample``."""
    return np.array([k for k, t in enumerate(TERMS) if t not in DROP[sample]])


@dataclass(frozen=True)
class Target:
    """Published value and SE of one cell: (sample, design term)."""

    sample: str
    term: str
    value: float
    se: float
    stars: str


def table_targets(equation: str) -> list[Target]:
    """Every published cell of ``equation`` (Table 3 without age_sq, then Table 4)."""
    t3 = outcomes.published_table3()
    out = []
    for term in TERMS[1:]:
        if term == "age_sq":
            continue
        row = t3.loc[term]
        out.append(
            Target(
                "total",
                term,
                float(row[f"{equation}_me"]),
                float(row[f"{equation}_se"]),
                _stars(row[f"{equation}_stars"]),
            )
        )
    t4 = published.read("table4")
    for _, row in t4.iterrows():
        out.append(
            Target(
                row["sample"],
                f"scope:{row['term']}",
                float(row[f"{equation}_me"]),
                float(row[f"{equation}_se"]),
                _stars(row[f"{equation}_stars"]),
            )
        )
    return out


def _stars(value) -> str:
    """Published stars of a cell ("" where the table prints none)."""
    return "" if pd.isna(value) else str(value)


def position(sample: str, term: str) -> int:
    """Position of ``term`` among the columns fitted on ``sample``."""
    return int(np.flatnonzero(columns(sample) == TERMS.index(term))[0])
