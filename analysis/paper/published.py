"""The paper's published numbers, read from data/published and keyed by the vocabulary.

The CSVs under ``data/published/`` transcribe the paper: where a cell names a factor
level it holds the level's printed label (column ``label`` of
``data/codebook/levels.csv``), as the paper prints it. This module is their only
reader. It translates each label to the level's name
(:data:`analysis.vocabulary.LABELS`) so that callers key the published numbers exactly
as the analytic data, and renaming a level stays a one-line change in ``levels.csv``.

:func:`read` returns each file as ``pandas.read_csv`` would return it if the file
spelled level names, with the caller's ``dtype`` and ``keep_default_na``: the
translated text is parsed once more with those options, so numbers keep their printed
text under ``dtype=str`` and get the dtypes ``read_csv`` infers otherwise. Table 2 is
stored long (one row per variable and scope) and returned in the paper's wide layout.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from analysis.config import PUBLISHED_DIR
from analysis.vocabulary import FACTORS, LABELS, LEVELS_FILE

NAMES = ("table1", "table2", "table3", "table4", "figure1", "inconsistencies")
P_VALUE = "p_value"
#: Table 3 groups whose name differs from the factor they list the levels of.
GROUP_FACTOR = {"facility": "facility_level"}
#: The conflict log's column of cell ids; a level inside an id is spelled by its label,
#: and labels contain spaces, so ids are separated by ";" (returned space separated).
CELL_IDS = "unmatched_cells"
ID_SEPARATOR = ";"


#: Factor -> printed label -> level name.
LEVEL_OF_LABEL = {f: {lab: lev for lev, lab in LABELS[f].items()} for f in FACTORS}


class UnknownLabelError(ValueError):
    """A published cell names a level by a label that ``levels.csv`` does not hold."""


def read(
    name: str,
    *,
    dtype=None,
    keep_default_na: bool = True,
    directory: Path = PUBLISHED_DIR,
) -> pd.DataFrame:
    """One published exhibit, keyed by level names.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    dtype, keep_default_na
        As in ``pandas.read_csv``.
    directory : Path
        Folder of the transcriptions (``data/published``).

    Raises
    ------
    UnknownLabelError
        A cell that names a factor level holds no label of that factor.
    ValueError
        A Table 2 outcome with more than one p-value, or a conflict-log cell id that
        names no table.
    """
    if name not in NAMES:
        raise ValueError(f"no published exhibit {name!r}; known: {', '.join(NAMES)}")
    path = directory / f"{name}.csv"
    keyed = TRANSLATORS[name](_raw(path), path)
    csv = keyed.to_csv(index=False)
    return pd.read_csv(io.StringIO(csv), dtype=dtype, keep_default_na=keep_default_na)


def _raw(path: Path) -> pd.DataFrame:
    """Every cell as its text; empty cells are ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _levels(
    values: pd.Series, factors: pd.Series, path: Path, column: str
) -> pd.Series:
    """Labels -> level names, each row's label read in the factor ``factors`` names.

    Rows whose factor is '' are not factor cells and keep their text.
    """
    out = values.copy()
    unknown: dict[tuple[str, str], int] = {}
    for i, (value, factor) in enumerate(zip(values, factors, strict=True)):
        if not factor:
            continue
        level = LEVEL_OF_LABEL[factor].get(value)
        if level is None:
            unknown[(factor, value)] = unknown.get((factor, value), 0) + 1
        else:
            out.iloc[i] = level
    if unknown:
        raise UnknownLabelError(_unknown_message(path, column, unknown))
    return out


def _unknown_message(path: Path, column: str, unknown: dict) -> str:
    items = "; ".join(
        f"{value!r} is no label of {factor!r} ({n} row{'s' * (n != 1)}; its labels: "
        f"{', '.join(map(repr, LABELS[factor].values()))})"
        for (factor, value), n in unknown.items()
    )
    return (
        f"{path}, column {column!r}: {items}. The published files spell a level by "
        f"its label in {LEVELS_FILE}"
    )


def _factor_of(names: pd.Series) -> pd.Series:
    """The factor a row's group or variable names, or '' if it is no factor."""
    factors = names.map(lambda g: GROUP_FACTOR.get(g, g))
    return factors.where(factors.isin(list(FACTORS)), "")


def _table1(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    factors = _factor_of(raw["variable"])
    return raw.assign(level=_levels(raw["level"], factors, path, "level"))


def _table2(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Long (variable, stat, scope, mean, sd, p_value) -> the paper's wide layout."""
    scopes = _levels(raw["scope"], _constant(raw, "scope"), path, "scope")
    long = raw.assign(scope=scopes)
    rows = []
    for (variable, stat), part in long.groupby(["variable", "stat"], sort=False):
        p = part[P_VALUE].unique()
        if len(p) != 1:
            raise ValueError(
                f"{path}, column {P_VALUE!r}: {variable} has {len(p)} p-values "
                f"({', '.join(p)}); the test is one per variable"
            )
        row = {"variable": variable, "stat": stat}
        for scope, mean, sd in part[["scope", "mean", "sd"]].itertuples(index=False):
            row |= {scope: mean, f"{scope}_sd": sd}
        rows.append(row | {P_VALUE: p[0]})
    return pd.DataFrame(rows)


def _constant(raw: pd.DataFrame, factor: str) -> pd.Series:
    return pd.Series(factor, index=raw.index)


def _table3(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    factors = _factor_of(raw["term_group"])
    return raw.assign(term=_levels(raw["term"], factors, path, "term"))


def _table4(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    return raw.assign(term=_levels(raw["term"], _constant(raw, "scope"), path, "term"))


def _figure1(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    factors = _constant(raw, "noreimb_reason")
    return raw.assign(reason=_levels(raw["reason"], factors, path, "reason"))


def _inconsistencies(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Cell ids with their level slots translated; ids space separated."""
    table3 = _raw(path.parent / "table3.csv")
    factors = _factor_of(table3["term_group"])
    term_factor = dict(zip(table3["term"], factors, strict=True))
    ids = [
        " ".join(
            _cell_id(cell.strip(), term_factor, path)
            for cell in text.split(ID_SEPARATOR)
            if cell.strip()
        )
        for text in raw[CELL_IDS]
    ]
    return raw.assign(**{CELL_IDS: ids})


def _cell_id(cell: str, term_factor: dict[str, str], path: Path) -> str:
    """One cell id with its level slot translated.

    Forms: ``table1:variable:level:column``, ``table2:variable:scope`` (or
    ``:p_value``), ``table3:term:equation``, ``table4:sample:term:equation``.
    """
    parts = cell.split(":")
    table = parts[0]
    if table == "table1":
        slot, factor = 2, _factor_of(pd.Series([parts[1]])).iloc[0]
    elif table == "table2":
        slot, factor = 2, "" if parts[2] == P_VALUE else "scope"
    elif table == "table3":
        slot, factor = 1, _table3_term_factor(parts[1], term_factor, path)
    elif table == "table4":
        slot, factor = 2, "scope"
    else:
        raise ValueError(f"{path}, column {CELL_IDS!r}: {cell!r} names no table 1-4")
    if factor and parts[slot]:
        level = _levels(pd.Series([parts[slot]]), pd.Series([factor]), path, CELL_IDS)
        parts[slot] = level.iloc[0]
    return ":".join(parts)


def _table3_term_factor(term: str, term_factor: dict[str, str], path: Path) -> str:
    if term not in term_factor:
        raise UnknownLabelError(
            f"{path}, column {CELL_IDS!r}: table3 has no term {term!r} (1 row); a "
            f"factor level is spelled by its label, other terms as in table3.csv"
        )
    return term_factor[term]


TRANSLATORS = {
    "table1": _table1,
    "table2": _table2,
    "table3": _table3,
    "table4": _table4,
    "figure1": _figure1,
    "inconsistencies": _inconsistencies,
}
