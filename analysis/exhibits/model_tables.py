"""Tables 3-4 in the paper's printed layout (Markdown, LaTeX) and the twopm margins.

Inputs: the CSV Tables 3-4 of :mod:`analysis.paper.tables` (published keys and columns)
and
``outputs/estimates/margins_all.csv`` (every margin of :mod:`analysis.paper.estimates`).
Outputs in ``outputs/tables/``:

* ``table3.{md,tex}``, ``table4.{md,tex}``: the paper's rows, section titles with their
  reference groups; per model an estimate column headed by what it holds (AME or
  coefficient, from ``analysis.paper.models.EQUATIONS``) and an SE column; the
  observations
  of every model (from ``model_status.csv`` of the estimate stage); notes;
* ``table_combined_margins.{csv,md}``: the combined-mean (twopm) AMEs of the paper's
  regressors on the expected reimbursement per inpatient stay, E[y|x] =
  P(y>0|x) E[y|y>0,x], for the amount (yuan) and the ratio (zeros included), with
  their extensive and intensive parts (delta-method SEs), for the total sample and
  both subsamples. Not in the paper: it reports the two parts separately.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io, omissions, render, vocabulary
from analysis.paper import estimates, models
from analysis.paper.tables import stars
from analysis.render import Row, Section, TableLayout

SECTIONS = {
    "scheme": "Social health insurance (referred to NCMS)",
    "education": "Education attainment (referred to primary school and below)",
    "income_quintile": (
        "Monthly household income per capita (referred to first quintile)"
    ),
    "scope": (
        "Geographical scope of migration (referred to migration across counties "
        "within a city)"
    ),
    "reason": "Reasons for migration (referred to seeking jobs)",
    "duration": "Migration duration (referred to 0-)",
    "facility": "Facility level of hospitalisation (referred to primary care facility)",
}
#: Labels of the Table 3 regressors that are not factor levels (the published wording).
REGRESSOR_LABELS = {
    "age": "Age (years)",
    "age_sq": "Age² (years)",
    "female": "Female",
    "married": "Married",
    "has_job": "Having any job",
    "rural_hukou": "Rural hukou",
    "urban_area": "Living in an urban area",
}


def term_labels() -> dict[str, str]:
    """Published key -> label of every Table 3 row, in the published order."""
    labels = {}
    for token in models.TABLE3_REGRESSORS:
        variable = token.split(".", 1)[1]
        if variable in vocabulary.FACTORS:
            for level in vocabulary.FACTORS[variable][1:]:
                labels[level] = vocabulary.label(variable, level)
        else:
            labels[variable] = REGRESSOR_LABELS[variable]
    return labels


TERM_LABELS = term_labels()
EQUATIONS = tuple(eq.name for eq in models.EQUATIONS)
# Spanning headers over each model's two columns, and the paper's column titles
MODEL_HEADERS = {
    "probit": "Probit: reimbursed",
    "amount": "GLM: amount",
    "ratio": "GLM: ratio",
}
MODEL_TITLES = {
    "probit": "probability of getting reimbursements (probit)",
    "amount": "reimbursement amount among the reimbursed (Gamma GLM, log link)",
    "ratio": "reimbursement ratio among the reimbursed (Gamma GLM, log link)",
}
REPORTED = {"ame": "AME", "coef": "Coefficient"}
REPORTED_WORDS = {
    "ame": "average marginal effects (AME)",
    "coef": "coefficients (log scale)",
}
COLUMNS = (
    "Variables",
    *(c for eq in models.EQUATIONS for c in (REPORTED[eq.reported], "SE")),
)
GROUPS = tuple((MODEL_HEADERS[eq.name], 2) for eq in models.EQUATIONS)
COLUMN_NOTE = (
    "Columns: "
    + "; ".join(
        f"{MODEL_TITLES[eq.name]}, {REPORTED_WORDS[eq.reported]}"
        for eq in models.EQUATIONS
    )
    + ". SE, standard error. Observations: the respondents each model is fitted on."
)
ABBREVIATIONS = (
    "NCMS, New Rural Cooperative Medical Scheme; UEBMI, Urban Employee Basic Medical "
    "Insurance; URBMI, Urban Resident Basic Medical Insurance."
)
SUBSAMPLE_TITLES = {"ncms": "NCMS subsample", "urban": "URBMI and UEBMI subsample"}
MARGIN_COMPONENTS = ("total", "extensive", "intensive")


def main(
    printed: dict[str, pd.DataFrame],
    tables_dir: Path,
    estimates_dir: Path,
    synthetic: bool = True,
) -> None:
    """Write the rendered Tables 3-4 and the combined-margins table.

    ``printed`` holds Tables 3 and 4 as :func:`analysis.paper.tables.main` wrote them
    (text cells), so the layout never re-reads what estimation wrote.
    """
    t3, t4 = (printed[t].fillna("").astype(str) for t in ("table3", "table4"))
    n = observations(omissions.model_status(estimates_dir))
    layouts = (("table3", table3_layout(t3, n)), ("table4", table4_layout(t4, n)))
    for name, layout in layouts:
        for ext, writer in (("md", render.to_markdown), ("tex", render.to_latex)):
            text = writer(layout, synthetic=synthetic)
            io.save_text(text, tables_dir / f"{name}.{ext}")
    margins = combined_margins(pd.read_csv(estimates_dir / "margins_all.csv"))
    keys = ("outcome", "sample", "term")
    io.save_table(
        margins,
        keys,
        tables_dir / "table_combined_margins.csv",
        sort=False,
        digits=io.TABLE_DIGITS,
        synthetic=synthetic,
    )
    layout = combined_layout(margins)
    io.save_text(
        render.to_markdown(layout, synthetic=synthetic),
        tables_dir / "table_combined_margins.md",
    )


def _cells(row: pd.Series) -> tuple[str, ...]:
    """The six printed cells of one row: estimate with stars, SE, per equation."""
    out = []
    for eq in EQUATIONS:
        me = row[f"{eq}_me"]
        out += [f"{me}{row[f'{eq}_stars']}" if me else render.EMPTY, row[f"{eq}_se"]]
    return tuple(c if c else render.EMPTY for c in out)


def observations(status: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Observations of every estimated model, by (sample, equation).

    From the estimate stage's ``model_status.csv`` (:func:`omissions.model_status`):
    its rows with an empty ``term`` are the published columns.
    """
    rows = status[(status["term"] == "") & (status["status"] == estimates.ESTIMATED)]
    return {(r.sample, r.equation): int(r.n) for r in rows.itertuples(index=False)}


def observations_row(n: dict[tuple[str, str], int], sample: str) -> Row:
    """The "Observations" row of ``sample``: each model's N under its estimate."""
    cells: list[str] = []
    for eq in EQUATIONS:
        cells += [str(n[(sample, eq)]) if (sample, eq) in n else render.EMPTY, ""]
    return Row("Observations", tuple(cells))


def table3_layout(t3: pd.DataFrame, n: dict[tuple[str, str], int]) -> TableLayout:
    """Table 3 as printed: untitled rows and titled factor blocks, observations last.

    ``n``: observations by (sample, equation), :func:`observations`.
    """
    sections: list[Section] = []
    for group, block in t3.groupby("term_group", sort=False):
        if group == "n":
            sections.append(Section(None, (observations_row(n, "total"),)))
            continue
        rows = tuple(
            Row(TERM_LABELS[r.term], _cells(r), indent=group in SECTIONS)
            for _, r in block.iterrows()
        )
        sections.append(Section(SECTIONS.get(group), rows))
    return TableLayout(
        "Table 3 Association between insurance programmes, migration scope, other "
        "factors and social health insurance benefits",
        COLUMNS,
        tuple(sections),
        (
            "Note: ** and * denote statistical significance at 1% and 5% level, "
            "respectively.",
            COLUMN_NOTE,
            ABBREVIATIONS,
        ),
        "tab:table3",
        GROUPS,
    )


def table4_layout(t4: pd.DataFrame, n: dict[tuple[str, str], int]) -> TableLayout:
    """Table 4 as printed: the scope rows of each subsample under its title.

    Each subsample ends with its models' observations (not printed in the paper);
    ``n`` by (sample, equation), :func:`observations`.
    """
    sections = []
    for sample, block in t4.groupby("sample", sort=False):
        rows = tuple(
            Row(TERM_LABELS[r.term], _cells(r), indent=True)
            for _, r in block.iterrows()
        )
        sections.append(Section(SUBSAMPLE_TITLES[sample], ()))
        sections.append(Section(SECTIONS["scope"], rows))
        sections.append(Section(None, (observations_row(n, sample),)))
    return TableLayout(
        "Table 4 Association between migration scope and benefit of social health "
        "insurance programmes",
        COLUMNS,
        tuple(sections),
        (
            "Note: All models included confounding factors in table 3. ** and * denote "
            "statistical significance at 1% and 5% levels.",
            COLUMN_NOTE,
            ABBREVIATIONS,
        ),
        "tab:table4",
        GROUPS,
    )


def combined_margins(margins: pd.DataFrame) -> pd.DataFrame:
    """Combined-mean AMEs and their extensive/intensive split, one row per regressor.

    Both outcomes: the amount (expected reimbursement in yuan per inpatient stay) and
    the ratio (expected reimbursement ratio, zeros included). Rows in Table 3's order.
    """
    keep = margins[
        (margins["part"] == "combined") & margins["component"].isin(MARGIN_COMPONENTS)
    ].copy()
    keep["term"] = [
        models.published_term(t, lv)
        for t, lv in zip(keep["term"], keep["level"], strict=True)
    ]
    rows = []
    for (sample, outcome, term), block in keep.groupby(
        ["sample", "outcome", "term"], sort=False
    ):
        row = {"sample": sample, "outcome": outcome, "term": term}
        by = block.set_index("component")
        for comp in MARGIN_COMPONENTS:
            for stat in ("estimate", "se", "p"):
                row[f"{comp}_{stat}"] = float(by.loc[comp, stat])
        rows.append(row)
    stats = [f"{c}_{s}" for c in MARGIN_COMPONENTS for s in ("estimate", "se", "p")]
    out = pd.DataFrame(rows, columns=["sample", "outcome", "term", *stats])
    order = {t: k for k, t in enumerate(TERM_LABELS)}
    samples = {s: k for k, s in enumerate(("total", *SUBSAMPLE_TITLES))}
    out = out.assign(
        _s=out["sample"].map(samples), _t=out["term"].map(order)
    ).sort_values(["outcome", "_s", "_t"], kind="stable")
    return out.drop(columns=["_s", "_t"]).reset_index(drop=True)


def combined_layout(margins: pd.DataFrame) -> TableLayout:
    """The combined-margins table in Markdown: yuan per inpatient stay, SEs below."""
    sections = []
    titles = {"total": "Total sample", **SUBSAMPLE_TITLES}
    units = {"reimb_amount": "amount (yuan)", "reimb_ratio": "ratio"}
    digits = {"reimb_amount": 1, "reimb_ratio": 4}
    for (outcome, sample), block in margins.groupby(["outcome", "sample"], sort=False):
        d = digits[outcome]
        rows = tuple(
            Row(
                TERM_LABELS[r.term],
                tuple(
                    f"{r[f'{c}_estimate']:.{d}f}{stars(r[f'{c}_p'])} "
                    f"({r[f'{c}_se']:.{d}f})"
                    for c in MARGIN_COMPONENTS
                ),
                indent=True,
            )
            for _, r in block.iterrows()
        )
        sections.append(Section(f"{titles[sample]}: expected {units[outcome]}", rows))
    return TableLayout(
        "Combined-mean (two-part) AMEs on the expected reimbursement per inpatient "
        "stay (amount in yuan; ratio, zeros included), with their extensive and "
        "intensive parts",
        (
            "Regressor",
            "Total AME (SE)",
            "Extensive AME (SE)",
            "Intensive AME (SE)",
        ),
        tuple(sections),
        (
            "E[y|x] = P(y>0|x) E[y|y>0,x]; total = extensive (change in P times the "
            "conditional mean) + intensive (change in the conditional mean times P); "
            "delta-method SEs. Not in the paper.",
        ),
        "tab:combined_margins",
    )
