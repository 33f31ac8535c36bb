"""Stage ``describe``: Tables 1 and 2 of Wang et al. (2022) from the analytic sample.

Input: the analytic frame (``data/derived/analytic.parquet``, columns
``schema.ANALYTIC_COLUMNS``). Outputs, in ``outputs/tables/``: ``table1.csv|.md|.tex``,
``table2.csv|.md|.tex`` and ``table2_tests.csv`` (the tests behind Table 2's p column).
The CSVs have the columns and keys of the published Tables 1-2 as
:func:`analysis.paper.published.read` returns them, so :func:`compare_to_published`
can diff them cell by cell.

Which rows enter each statistic is a parameter (a mapping row -> sample rule, see
``TABLE1_SAMPLES`` and ``TABLE2_SAMPLES``): the paper does not say, and its Table 2
expenditure row is not reproducible on the full sample (``docs/table2_pvalues.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from analysis import disclosure, io, render
from analysis.cleaning import schema
from analysis.paper import layouts as paper_layouts
from analysis.paper import stat_tests as st

SampleRule = Literal["all", "reimbursed", "part2"]

#: Subsample columns of Table 1: column prefix -> schemes kept.
TABLE1_COLUMNS = dict(schema.SUBSAMPLES)

#: Table 1 rows in published order: (section, variable, kind).
TABLE1_LAYOUT = (
    ("outcomes", "total_expenditure", "mean_sd"),
    ("outcomes", "reimbursed", "binary"),
    ("outcomes", "reimb_amount", "mean_sd"),
    ("outcomes", "reimb_ratio_pct", "mean_sd"),
    ("insurance", "scheme", "factor"),
    ("demographics", "age", "mean_sd"),
    ("demographics", "female", "binary"),
    ("demographics", "married", "binary"),
    ("ses", "education", "factor"),
    ("ses", "income_pc_month", "mean_sd"),
    ("ses", "has_job", "binary"),
    ("ses", "rural_hukou", "binary"),
    ("ses", "urban_area", "binary"),
    ("migration", "scope", "factor"),
    ("migration", "reason", "factor"),
    ("migration", "duration", "factor"),
    ("facility", "facility_level", "factor"),
)
TABLE1_KEYS = ("section", "variable", "level", "stat")

#: Default sample of each Table 1 row (rows not listed use "all"): the amount and
#: ratio are described among the reimbursed with a usable amount (part 2, N=663).
TABLE1_SAMPLES: Mapping[str, SampleRule] = {
    "reimb_amount": "part2",
    "reimb_ratio_pct": "part2",
}

#: Table 2 rows in published order and the test behind each p-value.
TABLE2_TESTS = {
    "total_expenditure": "anova",
    "reimbursed_pct": "chi2",
    "reimb_amount": "anova",
    "reimb_ratio_pct": "anova",
}
TABLE2_KEYS = ("variable", "stat")

#: Default sample of each Table 2 row. The expenditure row cannot be all 1,165 (its
#: scope means pool to 12,636 against Table 1's 10,366); the part-2 rows fit its
#: means/SDs best, so it is computed there (conflict C03 in
#: data/published/inconsistencies.csv; its p-value, C04, fits no sample).
TABLE2_SAMPLES: Mapping[str, SampleRule] = {
    "total_expenditure": "part2",
    "reimbursed_pct": "all",
    "reimb_amount": "part2",
    "reimb_ratio_pct": "part2",
}

OUTPUT_NAMES = tuple(
    f"{name}.{ext}" for name in ("table1", "table2") for ext in ("csv", "md", "tex")
) + ("table2_tests.csv",)


def main(
    analytic_path: Path, out_dir: Path, synthetic: bool = True, min_cell: int = 10
) -> None:
    """Read the analytic frame and write Tables 1-2 (CSV, Markdown, LaTeX).

    Parameters
    ----------
    analytic_path : Path
        ``analytic.parquet``.
    out_dir : Path
        Destination directory (``outputs/tables``); this stage's own files in it are
        removed first, other stages' files are left alone.
    synthetic : bool, default True
        Caption every rendering "Synthetic data — not the CMDS microdata". If False
        (real data), cells based on fewer than ``min_cell`` respondents are suppressed
        (:mod:`analysis.disclosure`).
    min_cell : int, default 10
        Smallest count shown in real-data mode.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_NAMES:
        (out_dir / name).unlink(missing_ok=True)
    analytic = pd.read_parquet(analytic_path)
    t1, t2 = table1(analytic), table2(analytic)
    tests = table2_tests(analytic)
    printed = {"table1": format_table1(t1), "table2": format_table2(t2)}
    layouts = {
        "table1": paper_layouts.table1_layout(t1),
        "table2": paper_layouts.table2_layout(t2),
    }
    if not synthetic:
        printed, layouts, tests = control_tables_1_2(
            analytic, (t1, t2, tests), printed, layouts, min_cell
        )
    # produces Table 1 and Table 2
    for name, keys in (("table1", TABLE1_KEYS), ("table2", TABLE2_KEYS)):
        io.save_table(
            printed[name], keys, out_dir / f"{name}.csv", sort=False,
            synthetic=synthetic,
        )  # fmt: skip
    io.save_table(
        tests,
        ("variable",),
        out_dir / "table2_tests.csv",
        sort=False,
        digits=io.TABLE_DIGITS,
        synthetic=synthetic,
    )
    for name, layout in layouts.items():
        for ext, writer in (("md", render.to_markdown), ("tex", render.to_latex)):
            path = out_dir / f"{name}.{ext}"
            io.save_text(writer(layout, synthetic=synthetic), path)
            io.log_file(path, (), (len(layout.rows()), len(layout.columns)))


def validate_analytic(analytic: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming any column Tables 1-2 need that is absent.

    Factor columns must hold only the levels of ``schema.FACTORS`` (or missing).
    """
    needed = set(schema.FACTORS) | set(schema.BINARIES) | set(schema.CONTINUOUS)
    absent = sorted(needed - set(analytic.columns))
    if absent:
        raise ValueError(f"analytic frame lacks column(s) {absent}")
    for factor, levels in schema.FACTORS.items():
        stray = set(analytic[factor].dropna().astype(str)) - set(levels)
        if stray:
            raise ValueError(f"{factor} has level(s) {sorted(stray)} not in {levels}")


def select_sample(analytic: pd.DataFrame, rule: SampleRule) -> pd.DataFrame:
    """Rows of ``analytic`` a statistic is computed on.

    ``"all"``: every row; ``"reimbursed"``: reimbursed == 1; ``"part2"``: in_part2 == 1
    (reimbursed with a usable amount).
    """
    if rule not in get_args(SampleRule):
        raise ValueError(f"sample rule {rule!r} is not one of {get_args(SampleRule)}")
    if rule == "all":
        return analytic
    column = "reimbursed" if rule == "reimbursed" else "in_part2"
    return analytic[analytic[column] == 1]


def outcome_values(frame: pd.DataFrame, variable: str) -> pd.Series:
    """Values of a table row's variable; ``<column>_pct`` is 100 x ``<column>``.

    Raises ``ValueError`` if the selected rows have missing values: every row's sample
    must be explicit, never a silent ``dropna``.
    """
    if variable.endswith("_pct"):
        values = 100.0 * frame[variable.removesuffix("_pct")].astype(float)
    else:
        values = frame[variable].astype(float)
    if values.isna().any():
        raise ValueError(
            f"{variable}: {int(values.isna().sum())} missing value(s) in its sample; "
            "choose a sample rule that excludes them"
        )
    return values


def table1(
    analytic: pd.DataFrame, samples: Mapping[str, SampleRule] | None = None
) -> pd.DataFrame:
    """Table 1: sample characteristics for the total sample and the two subsamples.

    Parameters
    ----------
    analytic : DataFrame
        The analytic frame; its ``scheme`` makes the three columns.
    samples : mapping, optional
        Row variable -> sample rule; default ``TABLE1_SAMPLES`` (others "all").

    Returns
    -------
    DataFrame
        Columns ``section, variable, level, stat`` and, for ``total``, ``ncms``,
        ``urban``, the value (count or mean) and ``<col>_spread`` (percent of the
        column's sample or SD, ddof=1), unrounded. ``level`` is "" for mean rows and
        "yes" for binaries. Scheme rows are empty (NaN) in a column that does not
        contain that scheme, and in the single-scheme NCMS column, as published.
    """
    validate_analytic(analytic)
    unknown = set(samples or {}) - {variable for _, variable, _ in TABLE1_LAYOUT}
    if unknown:
        raise ValueError(f"no Table 1 row(s) {sorted(unknown)}")
    samples = {**TABLE1_SAMPLES, **(samples or {})}
    table = pd.DataFrame(_table1_keys(), columns=list(TABLE1_KEYS))
    for column, schemes in TABLE1_COLUMNS.items():
        sub = analytic[analytic["scheme"].astype(str).isin(schemes)]
        cells = [_table1_cell(sub, samples, row) for row in table.itertuples()]
        table[column] = [c[0] for c in cells]
        table[f"{column}_spread"] = [c[1] for c in cells]
        blank = (table["variable"] == "scheme") & (
            ~table["level"].isin(schemes) | (len(schemes) == 1)
        )
        table.loc[blank, [column, f"{column}_spread"]] = np.nan
    return table


def _table1_keys() -> list[tuple[str, str, str, str]]:
    """(section, variable, level, stat) of every Table 1 row, in published order."""
    keys = []
    for section, variable, kind in TABLE1_LAYOUT:
        if kind == "mean_sd":
            keys.append((section, variable, "", "mean_sd"))
        elif kind == "binary":
            keys.append((section, variable, "yes", "n_pct"))
        else:
            keys += [
                (section, variable, lv, "n_pct") for lv in schema.FACTORS[variable]
            ]
    return keys


def _table1_cell(sub: pd.DataFrame, samples, row) -> tuple[float, float]:
    """(count, percent) or (mean, SD) of one Table 1 row within one column's rows."""
    frame = select_sample(sub, samples.get(row.variable, "all"))
    if row.stat == "mean_sd":
        values = outcome_values(frame, row.variable)
        return float(values.mean()), float(values.std(ddof=1))
    if row.level == "yes":
        hits = int((frame[row.variable] == 1).sum())
    else:
        hits = int((frame[row.variable].astype(str) == row.level).sum())
    share = 100.0 * hits / len(frame) if len(frame) else np.nan
    return float(hits), share


def table2(
    analytic: pd.DataFrame, samples: Mapping[str, SampleRule] | None = None
) -> pd.DataFrame:
    """Table 2: outcomes by migration scope with chi-square / ANOVA p-values.

    Parameters
    ----------
    analytic : DataFrame
        The analytic frame; its ``scope`` makes the three columns.
    samples : mapping, optional
        Row -> sample rule, overriding ``TABLE2_SAMPLES`` (which reads: the share
        reimbursed over all rows; expenditure, amount and ratio over part 2).

    Returns
    -------
    DataFrame
        Columns ``variable, stat``, then for each scope level its mean and
        ``<level>_sd`` (ddof=1), then ``p_value`` (float; :func:`format_table2` prints
        it as the paper does).

    Notes
    -----
    ``reimbursed_pct`` is the mean and SD of 100 x reimbursed; its p-value is the
    Pearson chi-square test of reimbursed x scope (no continuity correction). The other
    rows use the one-way ANOVA F test across the three scopes.
    """
    validate_analytic(analytic)
    tests = table2_tests(analytic, samples).set_index("variable")
    rows = []
    for variable, rule in _table2_samples(samples).items():
        frame = select_sample(analytic, rule)
        row = {"variable": variable, "stat": "mean_sd"}
        for level, values in _by_scope(frame, variable):
            row[level] = float(values.mean()) if len(values) else np.nan
            row[f"{level}_sd"] = float(values.std(ddof=1)) if len(values) else np.nan
        row["p_value"] = float(tests.loc[variable, "pvalue"])
        rows.append(row)
    return pd.DataFrame(rows)


def table2_tests(
    analytic: pd.DataFrame, samples: Mapping[str, SampleRule] | None = None
) -> pd.DataFrame:
    """The test behind each Table 2 p-value, tidy.

    Returns
    -------
    DataFrame
        Columns ``variable, sample, test, statistic, df, pvalue, n`` plus ``n_<level>``
        (observations per scope), one row per Table 2 row.
    """
    records = []
    for variable, rule in _table2_samples(samples).items():
        frame = select_sample(analytic, rule)
        groups = dict(_by_scope(frame, variable))
        if TABLE2_TESTS[variable] == "chi2":
            yes = [int((g > 0).sum()) for g in groups.values()]
            result = st.chi2_from_counts(yes, [len(g) for g in groups.values()])
        else:
            result = st.oneway_anova(list(groups.values()))
        sizes = {f"n_{level}": len(g) for level, g in groups.items()}
        records.append(
            {"variable": variable, "sample": rule, **result.as_dict(), **sizes}
        )
    return pd.DataFrame(records)


def _table2_samples(samples: Mapping[str, SampleRule] | None) -> dict[str, SampleRule]:
    """Default sample rules updated by ``samples``; an unknown row raises ValueError."""
    unknown = set(samples or {}) - set(TABLE2_TESTS)
    if unknown:
        raise ValueError(
            f"no Table 2 row(s) {sorted(unknown)}; rows: {list(TABLE2_TESTS)}"
        )
    return {**TABLE2_SAMPLES, **(samples or {})}


def _by_scope(frame: pd.DataFrame, variable: str) -> list[tuple[str, pd.Series]]:
    """The row variable's values within each migration scope, in schema order."""
    values = outcome_values(frame, variable)
    scope = frame["scope"].astype(str)
    return [(level, values[scope == level]) for level in schema.FACTORS["scope"]]


def format_table1(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as printed: counts as integers, percents, means and SDs to 2 decimals."""
    out = table.copy()
    counts = out["stat"] == "n_pct"
    for column in TABLE1_COLUMNS:
        out[column] = [
            _fmt(v, 0 if is_count else 2)
            for v, is_count in zip(out[column], counts, strict=True)
        ]
        out[f"{column}_spread"] = [_fmt(v, 2) for v in out[f"{column}_spread"]]
    return out


def format_table2(table: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as printed: 2 decimals, p-values as the paper (3 decimals, "<0.001")."""
    out = table.copy()
    for column in out.columns.drop(["variable", "stat", "p_value"]):
        out[column] = [_fmt(v, 2) for v in out[column]]
    out["p_value"] = [st.format_p(p) if pd.notna(p) else "" for p in out["p_value"]]
    return out


def _fmt(value: float, decimals: int) -> str:
    """Fixed-point text, "" for missing."""
    return "" if pd.isna(value) else f"{value:.{decimals}f}"


COMPARE_KEYS = ("section", "variable", "level", "stat")


def compare_to_published(ours: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Cell-by-cell comparison of a replicated table with the published one.

    Parameters
    ----------
    ours : DataFrame
        Our table, unrounded (:func:`table1` / :func:`table2`) or as read back from its
        CSV; p-values may be floats or printed text.
    published : DataFrame
        ``data/published/table1.csv`` or ``table2.csv``, read as text (``dtype=str``,
        so each cell keeps its printed decimals) or with default dtypes.

    Returns
    -------
    DataFrame
        One row per published cell: the key columns, ``column``, ``value`` (ours, as a
        number), ``value_printed`` (ours at the published cell's rounding),
        ``published`` (text), ``difference`` (ours - published) and ``match``.

    Notes
    -----
    A cell matches when ours, rounded to the published cell's decimals, equals it;
    ``"<0.001"`` matches any p below 0.001; an empty published cell matches an empty
    one. A published cell read as a float has lost its printed decimals; it is taken to
    have 3 decimals in ``p_value`` and 2 elsewhere.
    """
    keys = [k for k in COMPARE_KEYS if k in published.columns]
    long_pub = _long_cells(published, keys).rename(columns={"cell": "published"})
    long_ours = _long_cells(ours, keys).rename(columns={"cell": "ours"})
    cells = long_pub.merge(long_ours, on=[*keys, "column"], how="left")
    judged = [
        _judge(o, p, c)
        for o, p, c in zip(cells.ours, cells.published, cells.column, strict=True)
    ]
    out = cells[[*keys, "column"]].copy()
    out["value"] = [_number(o) for o in cells.ours]
    out["value_printed"] = [j[0] for j in judged]
    out["published"] = [_text(p) for p in cells.published]
    out["difference"] = out["value"] - [_number(p) for p in cells.published]
    out["match"] = [j[1] for j in judged]
    return out


def _long_cells(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Melt a wide table into (keys, column, cell); keys as text, "" for missing."""
    frame = table.copy()
    frame[keys] = frame[keys].fillna("").astype(str)
    return frame.melt(id_vars=keys, var_name="column", value_name="cell")


def _judge(ours: object, published: object, column: str) -> tuple[str, bool]:
    """(ours printed at the published rounding, whether that equals the published)."""
    pub_text, our_value = _text(published), _number(ours)
    if pub_text == "" or pd.isna(our_value) and not isinstance(ours, str):
        return _text(ours), pub_text == _text(ours)
    if pub_text.startswith("<"):
        bound = float(pub_text[1:])
        if isinstance(ours, str) and ours.startswith("<"):
            return ours, float(ours[1:]) <= bound
        return _text(ours), bool(our_value < bound)
    decimals = _decimals(published, column)
    printed = "" if pd.isna(our_value) else f"{our_value:.{decimals}f}"
    lo, hi = st.published_interval(f"{float(pub_text):.{decimals}f}")
    return printed, bool(lo - 1e-9 <= our_value < hi + 1e-9)


def _decimals(published: object, column: str) -> int:
    """Decimals a published cell was printed with (see compare_to_published Notes)."""
    if isinstance(published, str):
        return len(published.split(".")[1]) if "." in published else 0
    return 3 if column == "p_value" else 2


def _text(cell: object) -> str:
    """A cell as text: "" for missing, floats without a trailing ".0" for integers."""
    if cell is None or (not isinstance(cell, str) and pd.isna(cell)):
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _number(cell: object) -> float:
    """A cell as a float; NaN for missing or non-numeric text such as "<0.001"."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return np.nan


# --- disclosure control of Tables 1-2 (real-data runs) ----------------------------


def table1_counts(analytic: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Respondents behind each cell of Table 1 (:func:`table1`).

    Count rows of a factor: the count; binaries: the smaller of yes/no; mean rows: the
    size of the row's sample. Columns ``total``, ``ncms``, ``urban``.
    """
    out = pd.DataFrame(index=table.index)
    for column, schemes in TABLE1_COLUMNS.items():
        sub = analytic[analytic["scheme"].astype(str).isin(schemes)]
        values = []
        for row in table.itertuples():
            rule = TABLE1_SAMPLES.get(row.variable, "all")
            n = len(select_sample(sub, rule))
            cell = getattr(row, column)
            if row.stat == "mean_sd":
                values.append(float(n))
            elif row.level == "yes":
                values.append(float(disclosure.two_sided(cell, n)))
            else:
                values.append(cell)  # NaN where the published cell is empty
        out[column] = values
    return out


def table1_groups(table: pd.DataFrame) -> pd.Series:
    """Factor name for the level rows of Table 1 (they add up to the column N)."""
    is_level = table["variable"].isin(list(schema.FACTORS)) & (table["stat"] == "n_pct")
    return table["variable"].where(is_level)


def table2_counts(analytic: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Respondents behind each scope cell of Table 2, from its tests table.

    Means are based on ``n_<scope>``; the percentage reimbursed on the smaller of the
    reimbursed and not reimbursed of that scope. Columns: the scope levels.
    """
    out = pd.DataFrame(index=tests.index)
    for level in schema.FACTORS["scope"]:
        n = tests[f"n_{level}"].astype(float)
        yes = float(
            (
                (analytic["scope"].astype(str) == level) & (analytic["reimbursed"] == 1)
            ).sum()
        )
        is_share = tests["variable"] == "reimbursed_pct"
        out[level] = np.where(is_share, disclosure.two_sided(yes, n), n)
    return out


def control_tables_1_2(
    analytic, unrounded, printed, layouts, min_cell=disclosure.MIN_CELL
):
    """Disclosure control of Tables 1-2 (CSV, layouts) and the Table 2 tests.

    Parameters
    ----------
    analytic : DataFrame
        The analytic sample.
    unrounded : tuple
        (table1, table2, table2_tests) as computed by
        :mod:`analysis.paper.descriptives`.
    printed : dict
        ``{"table1": ..., "table2": ...}``: the formatted CSV tables.
    layouts : dict
        The same keys: :class:`analysis.render.TableLayout` of each table.
    min_cell : int
        Smallest count shown.

    Returns
    -------
    tuple
        (printed, layouts, tests) after suppression.
    """
    t1, _, tests = unrounded
    c1 = table1_counts(analytic, t1)
    cells1 = {c: [c, f"{c}_spread"] for c in c1.columns}
    s1 = disclosure.suppress(printed["table1"], c1, cells1, min_cell, table1_groups(t1),
                  additive_rows=t1["stat"] == "n_pct")  # fmt: skip
    c2 = table2_counts(analytic, tests)
    cells2 = {lv: [lv, f"{lv}_sd"] for lv in schema.FACTORS["scope"]}
    s2 = disclosure.suppress(printed["table2"], c2, cells2, min_cell)
    n_columns = [c for c in tests.columns if c == "n" or c.startswith("n_")]
    return (
        {"table1": s1.table, "table2": s2.table},
        {
            name: disclosure.suppress_layout(layouts[name], s.reasons, min_cell)
            for name, s in (("table1", s1), ("table2", s2))
        },
        disclosure.suppress_counts(tests, n_columns, min_cell),
    )
