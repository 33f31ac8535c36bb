"""Tables 1-2 in the paper's printed layout: row labels, cells, headers and notes."""

from __future__ import annotations

import pandas as pd

from analysis import vocabulary
from analysis.cleaning import schema
from analysis.paper.stat_tests import format_p
from analysis.render import EMPTY, Row, Section, TableLayout

VARIABLE_LABELS = {
    "total_expenditure": "Total expenditure per inpatient stay (Yuan)",
    "reimbursed": "Probability of receiving reimbursement",
    "reimbursed_pct": "Probability of receiving reimbursement (%)",
    "reimb_amount": "Reimbursement amount received (Yuan)",
    "reimb_ratio_pct": "Reimbursement ratio received (%)",
    "scheme": "Social health insurance programmes",
    "age": "Age (years)",
    "female": "Female",
    "married": "Married",
    "education": "Education attainment",
    "income_pc_month": "Monthly household income per capita (Yuan)",
    "has_job": "Having any job",
    "rural_hukou": "Rural Hukou",
    "urban_area": "Living in an urban area",
    "scope": "Geographical scope of migration",
    "reason": "Reasons for migration",
    "duration": "Migration duration (years)",
    "facility_level": "Facility level of hospitalisation",
}

TABLE1_HEADERS = {
    "total": "Total sample",
    "ncms": "NCMS subsample",
    "urban": "URBMI and UEBMI subsample",
}
TABLE1_NOTES = (
    "*Mean (±SD).",
    "NCMS, New Rural Cooperative Medical Scheme; UEBMI, Urban Employee Basic Medical "
    "Insurance; URBMI, Urban Resident Basic Medical Insurance.",
)


def table1_layout(table: pd.DataFrame) -> TableLayout:
    """Table 1 in the paper's layout from :func:`analysis.paper.descriptives.table1`.

    Column N's are the sums of the scope counts (scope is never missing in the
    analytic sample). Count cells read "n (pct)"; mean cells "mean (±SD)", with a "*"
    on the label.
    """
    columns = list(TABLE1_HEADERS)
    scope = table[table["variable"] == "scope"]
    headers = [f"{TABLE1_HEADERS[c]} (N={int(scope[c].sum())})" for c in columns]
    sections = []
    for variable, block in table.groupby("variable", sort=False):
        rows = tuple(
            Row(
                _row_label(variable, r.level, r.stat),
                tuple(_cell(r[c], r[f"{c}_spread"], r.stat) for c in columns),
                indent=variable in schema.FACTORS,
            )
            for _, r in block.iterrows()
        )
        title = VARIABLE_LABELS[variable] if variable in schema.FACTORS else None
        sections.append(Section(title, rows))
    return TableLayout(
        "Table 1 Characteristic of the study sample, n (%)",
        ("Variables", *headers),
        tuple(sections),
        TABLE1_NOTES,
        "tab:table1",
    )


def table2_layout(table: pd.DataFrame) -> TableLayout:
    """Table 2 in the paper's layout from :func:`analysis.paper.descriptives.table2`."""
    levels = schema.FACTORS["scope"]
    rows = tuple(
        Row(
            VARIABLE_LABELS[r.variable],
            tuple(f"{r[lv]:.2f} ({r[f'{lv}_sd']:.2f})" for lv in levels)
            + (format_p(r.p_value),),
        )
        for _, r in table.iterrows()
    )
    headers = tuple(vocabulary.label("scope", lv) for lv in levels)
    return TableLayout(
        "Table 2 Benefit distribution of social health insurance by geographical "
        "scope of migration",
        ("Variables", *headers, "P value"),
        (Section(None, rows),),
        ("Note: SD are reported in parentheses.",),
        "tab:table2",
    )


def _row_label(variable: str, level: str, stat: str) -> str:
    """The paper's words for a Table 1 row."""
    if variable in schema.FACTORS:
        return vocabulary.label(variable, level)
    return VARIABLE_LABELS[variable] + ("*" if stat == "mean_sd" else "")


def _cell(value: float, spread: float, stat: str) -> str:
    """Format a cell as "n (pct)" or "mean (±SD)"; the paper's en dash when empty."""
    if pd.isna(value):
        return EMPTY
    if stat == "n_pct":
        return f"{int(round(value))} ({spread:.2f})"
    return f"{value:.2f} (±{spread:.2f})"
