"""Render tables in the paper's layout as Markdown and LaTeX (booktabs).

A table is a :class:`TableLayout`: a title, column headers (the first heads the row
labels), and a list of :class:`Section` s, each an optional title (a factor's name,
as "Education attainment") and its :class:`Row` s of already formatted cells.
Tables 1-2 are built by :func:`table1_layout` and :func:`table2_layout`; any other
table (Tables 3-4) can be built with :func:`layout_from_frame` or by hand, and is
rendered by the same :func:`to_markdown` / :func:`to_latex`. Both are hand-rolled (no
tabulate or jinja2), so the bytes depend on nothing but the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.cleaning import schema
from analysis.paper.stat_tests import format_p

SYNTHETIC_CAPTION = "Synthetic data — not the CMDS microdata"
EMPTY = "–"  # the paper's empty cell (en dash)

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

LEVEL_LABELS = {
    "scheme": {"NCMS": "NCMS", "URBMI": "URBMI", "UEBMI": "UEBMI"},
    "education": {
        "primary_or_below": "Primary school and below",
        "junior_high": "Junior high school",
        "senior_high": "Senior high school",
        "college_or_above": "College and above",
    },
    "scope": {
        "within_city_across_counties": "Across counties within a city",
        "within_province_across_cities": "Across cities within a province",
        "across_provinces": "Across provinces",
    },
    "reason": {
        "job": "Seeking jobs",
        "family_following": "Family members following migrants",
        "other": "Other reasons",
    },
    "duration": {"0-1": "0–", "1-5": "1–", "5-10": "5–", "10+": "10+"},
    "facility_level": {
        "primary": "Primary care facility",
        "secondary": "Secondary hospital",
        "tertiary": "Tertiary hospital",
        "private": "Private hospital",
    },
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


@dataclass(frozen=True)
class Row:
    """One table row: a label and its formatted cells; ``indent`` for factor levels."""

    label: str
    cells: tuple[str, ...]
    indent: bool = False


@dataclass(frozen=True)
class Section:
    """A block of rows under an optional title row (e.g. a factor's name)."""

    title: str | None
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class TableLayout:
    """A table ready to render: title, headers (stub first), sections, notes."""

    title: str
    columns: tuple[str, ...]
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()
    label: str = ""

    def rows(self) -> list[Row]:
        """All rows, section titles excluded."""
        return [row for section in self.sections for row in section.rows]


def to_markdown(layout: TableLayout, synthetic: bool = True) -> str:
    """Render ``layout`` as a GitHub-flavoured Markdown table with title and notes.

    The first line is ``SYNTHETIC_CAPTION`` when ``synthetic``. Section titles are bold
    rows; factor levels are indented with two em spaces.
    """
    lines = [SYNTHETIC_CAPTION, ""] if synthetic else []
    lines += [f"**{_md(layout.title)}**", ""]
    lines.append("| " + " | ".join(_md(c) for c in layout.columns) + " |")
    lines.append("|:--" + "|--:" * (len(layout.columns) - 1) + "|")
    width = len(layout.columns) - 1
    for section in layout.sections:
        if section.title:
            lines.append(f"| **{_md(section.title)}** |" + " |" * width)
        for row in section.rows:
            label = ("\u2003\u2003" if row.indent else "") + _md(row.label)
            lines.append("| " + " | ".join([label, *map(_md, row.cells)]) + " |")
    if layout.notes:
        lines.append("")
        lines += [_md(note) + "  " for note in layout.notes[:-1]] + [
            _md(layout.notes[-1])
        ]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Escape the characters that would break a Markdown table cell or add emphasis."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


def to_latex(layout: TableLayout, synthetic: bool = True) -> str:
    r"""Render ``layout`` as a LaTeX ``table`` float with a booktabs ``tabular``.

    Needs ``\usepackage{booktabs}``. With ``synthetic`` the first line is a comment
    with ``SYNTHETIC_CAPTION`` and the caption starts with it.
    """
    ncol = len(layout.columns)
    caption = latex_escape(layout.title)
    head = [r"% Requires \usepackage{booktabs}", r"\begin{table}[htbp]", r"\centering"]
    if synthetic:
        head.insert(0, f"% {SYNTHETIC_CAPTION}")
        caption = latex_escape(SYNTHETIC_CAPTION) + ". " + caption
    head.append(rf"\caption{{{caption}}}")
    if layout.label:
        head.append(rf"\label{{{layout.label}}}")
    body = [rf"\begin{{tabular}}{{l{'r' * (ncol - 1)}}}", r"\toprule"]
    body.append(" & ".join(latex_escape(c) for c in layout.columns) + r" \\")
    body.append(r"\midrule")
    for section in layout.sections:
        if section.title:
            body.append(
                rf"\multicolumn{{{ncol}}}{{l}}{{{latex_escape(section.title)}}} \\"
            )
        for row in section.rows:
            label = (r"\quad " if row.indent else "") + latex_escape(row.label)
            body.append(" & ".join([label, *map(latex_escape, row.cells)]) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    notes = [
        rf"\par\smallskip{{\footnotesize {latex_escape(n)}\par}}" for n in layout.notes
    ]
    return "\n".join(head + body + notes + [r"\end{table}"]) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "<": r"$<$",
    ">": r"$>$",
    "¥": r"\textyen{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the paper's symbols (±, –, —, <) to LaTeX."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


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
    headers = tuple(LEVEL_LABELS["scope"][lv] for lv in levels)
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
        return LEVEL_LABELS[variable][level]
    return VARIABLE_LABELS[variable] + ("*" if stat == "mean_sd" else "")


def _cell(value: float, spread: float, stat: str) -> str:
    """Format a cell as "n (pct)" or "mean (±SD)"; the paper's en dash when empty."""
    if pd.isna(value):
        return EMPTY
    if stat == "n_pct":
        return f"{int(round(value))} ({spread:.2f})"
    return f"{value:.2f} (±{spread:.2f})"


def layout_from_frame(
    frame: pd.DataFrame,
    title: str,
    stub: str,
    section: str | None = None,
    labels: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> TableLayout:
    """A layout from a frame of already formatted text cells (e.g. Tables 3-4).

    Parameters
    ----------
    frame : DataFrame
        One row per table row; every column other than ``stub`` and ``section`` is a
        table column, in order, holding text.
    title : str
        Table title.
    stub : str
        Column holding row labels (mapped through ``labels`` when present).
    section : str, optional
        Column grouping rows into titled sections (mapped through ``labels``); rows of
        a titled section are indented.
    labels : mapping, optional
        Display words for stub/section values and column names.
    notes : sequence of str
        Notes printed under the table.
    """
    labels = labels or {}
    cells = [c for c in frame.columns if c not in (stub, section)]
    groups = frame.groupby(section, sort=False) if section else [(None, frame)]
    sections = []
    for key, block in groups:
        rows = tuple(
            Row(
                labels.get(r[stub], str(r[stub])),
                tuple(str(r[c]) for c in cells),
                indent=key is not None,
            )
            for _, r in block.iterrows()
        )
        sections.append(
            Section(None if key is None else labels.get(key, str(key)), rows)
        )
    header = (labels.get(stub, stub), *(labels.get(c, c) for c in cells))
    return TableLayout(title, header, tuple(sections), tuple(notes))
