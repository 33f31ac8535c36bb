"""Tests of the renderer: paper layout, captions, escaping, generic layouts."""

from __future__ import annotations

import pandas as pd
import pytest
from test_descriptives import fake_analytic

from analysis.exhibits import render
from analysis.paper import descriptives as ds

CAPTION = "Synthetic data — not the CMDS microdata"


@pytest.fixture(scope="module")
def layouts():
    analytic = fake_analytic()
    return (
        render.table1_layout(ds.table1(analytic)),
        render.table2_layout(ds.table2(analytic)),
    )


def test_first_line_is_the_synthetic_caption(layouts):
    for layout in layouts:
        assert render.to_markdown(layout).splitlines()[0] == CAPTION
        tex = render.to_latex(layout)
        assert tex.splitlines()[0] == f"% {CAPTION}"
        assert r"\caption{Synthetic data --- not the CMDS microdata. " in tex
        assert CAPTION not in render.to_markdown(layout, synthetic=False)
        assert "Synthetic" not in render.to_latex(layout, synthetic=False)


def test_table1_markdown_has_the_paper_rows_and_cells(layouts):
    md = render.to_markdown(layouts[0])
    for label in (
        "Total expenditure per inpatient stay (Yuan)\\*",
        "**Social health insurance programmes**",
        "Across counties within a city",
        "Family members following migrants",
        "Private hospital",
        "Living in an urban area",
    ):
        assert label in md
    assert "| Variables | Total sample (N=10) | NCMS subsample (N=5) |" in md
    assert "| 7 (70.00) | 3 (60.00) | 4 (80.00) |" in md
    assert "5500.00 (±3027.65)" in md
    assert "| 5 (50.00) | – | – |" in md  # NCMS row: empty subsample cells
    assert md.rstrip().endswith("Urban Resident Basic Medical Insurance.")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 32 + 6  # header, 32 published rows, 6 factor titles


def test_table2_latex_is_booktabs_with_escaped_cells(layouts):
    tex = render.to_latex(layouts[1])
    for piece in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrr}"):
        assert piece in tex
    assert r"Probability of receiving reimbursement (\%)" in tex
    assert "Across provinces & P value \\\\" in tex
    assert r"\label{tab:table2}" in tex
    assert tex.count(r" \\") == 1 + 4  # header and four rows


def test_latex_escape():
    assert render.latex_escape("a_b & 5% < ±1 – x") == (r"a\_b \& 5\% $<$ $\pm$1 -- x")


def test_layout_from_frame_for_later_tables():
    frame = pd.DataFrame(
        {
            "block": ["Scope", "Scope", None],
            "term": ["prov", "country", "n"],
            "probit": ["-0.147**", "-0.260**", "1165"],
            "amount": ["0.334**", "0.272**", "663"],
        }
    )
    layout = render.layout_from_frame(
        frame.fillna({"block": ""}),
        "Table 3 Two-part model",
        stub="term",
        section="block",
        labels={"prov": "Across cities", "term": "Variables", "": ""},
        notes=("**p<0.01.",),
    )
    md = render.to_markdown(layout, synthetic=False)
    assert md.splitlines()[0] == "**Table 3 Two-part model**"
    assert "| **Scope** | | |" in md
    assert "Across cities | -0.147\\*\\* | 0.334\\*\\* |" in md
    assert "| Variables | probit | amount |" in md
    assert r"\multicolumn{3}{l}{Scope}" in render.to_latex(layout)
