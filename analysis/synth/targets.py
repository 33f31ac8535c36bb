"""Published targets of the analytic sample, read at run time from the paper's tables.

Table 1 gives counts and moments by insurance column (total, NCMS, URBMI+UEBMI);
Table 2 gives outcome moments by migration scope. Rows and columns are keyed by level
names as :mod:`analysis.paper.published` returns them; Figure 1's reasons enter through
``resolutions.py``.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from analysis.cleaning import schema
from analysis.paper import published

COLUMNS = ("ncms", "urban")  # the two Table 1 scheme columns; "total" is their union


@cache
def _read(name: str) -> pd.DataFrame:
    return published.read(name, dtype={"level": str})


def table1() -> pd.DataFrame:
    """Table 1 as published."""
    return _read("table1")


def table2() -> pd.DataFrame:
    """Table 2 as published."""
    return _read("table2")


def t1_counts(variable: str, column: str) -> dict[str, int]:
    """Counts of each level of ``variable`` in a Table 1 column, levels in schema order.

    Binaries (one published ``yes`` row) return ``{"yes": n, "no": N - n}``.
    """
    t = table1()
    rows = t[t["variable"] == variable]
    n_col = column_size(column)
    if variable in schema.FACTORS:
        levels = schema.FACTORS[variable]
        got = dict(zip(rows["level"], rows[column], strict=True))
        return {lev: int(got[lev]) for lev in levels}
    yes = int(rows[column].iloc[0])
    return {"yes": yes, "no": n_col - yes}


def t1_moments(variable: str, column: str) -> tuple[float, float]:
    """(mean, SD) of a continuous Table 1 row in ``column``."""
    t = table1()
    row = t[t["variable"] == variable].iloc[0]
    return float(row[column]), float(row[f"{column}_spread"])


def column_size(column: str) -> int:
    """N of a Table 1 column: 1,165 / 777 / 388."""
    t = table1()
    scheme = t[t["variable"] == "scheme"].set_index("level")
    return int(scheme.loc[list(schema.SUBSAMPLES[column]), "total"].sum())


def t2_moments(variable: str) -> dict[str, tuple[float, float]]:
    """Table 2 (mean, SD) of ``variable`` for each migration scope."""
    row = table2().set_index("variable").loc[variable]
    return {s: (float(row[s]), float(row[f"{s}_sd"])) for s in schema.FACTORS["scope"]}
