"""Tests of the renderer: paper layout, captions, escaping, page width, writers."""

from __future__ import annotations

import re
import shutil
import subprocess

import matplotlib
import pandas as pd
import pytest
from matplotlib import ft2font
from test_descriptives import fake_analytic

from analysis import render
from analysis.config import ROOT
from analysis.paper import descriptives as ds
from analysis.paper import layouts as paper_layouts

CAPTION = "Synthetic data — not the CMDS microdata"


@pytest.fixture(scope="module")
def layouts():
    analytic = fake_analytic()
    return (
        paper_layouts.table1_layout(ds.table1(analytic)),
        paper_layouts.table2_layout(ds.table2(analytic)),
    )


def test_first_line_is_the_synthetic_caption(layouts):
    for layout in layouts:
        assert render.to_markdown(layout).splitlines()[0] == CAPTION
        tex = render.to_latex(layout)
        assert tex.splitlines()[0] == f"% {CAPTION}"
        assert r"\caption{Synthetic data --- not the CMDS microdata. " in tex
        assert f"<caption>{CAPTION}. " in render.to_html(layout)
        assert CAPTION not in render.to_markdown(layout, synthetic=False)
        assert "Synthetic" not in render.to_latex(layout, synthetic=False)
        assert "Synthetic" not in render.to_html(layout, synthetic=False)


def md_rows(md: str) -> list[list[str]]:
    """Cells of every row of a pipe table, stripped of tabulate's padding."""
    return [
        [c.strip() for c in line.strip()[1:-1].split(" | ")]
        for line in md.splitlines()
        if line.startswith("| ")
    ]


def test_table1_markdown_has_the_paper_rows_and_cells(layouts):
    md = render.to_markdown(layouts[0])
    rows = md_rows(md)
    labels = [r[0] for r in rows]
    for label in (
        "Total expenditure per inpatient stay (Yuan)\\*",
        "**Social health insurance programmes**",
        "&emsp;&emsp;Across counties within a city",
        "&emsp;&emsp;Family members following migrants",
        "&emsp;&emsp;Private hospital",
        "Living in an urban area",
    ):
        assert label in labels
    assert rows[0][:3] == ["Variables", "Total sample (N=10)", "NCMS subsample (N=5)"]
    assert ["7 (70.00)", "3 (60.00)", "4 (80.00)"] in [r[1:] for r in rows]
    assert "5500.00 (±3027.65)" in md
    assert ["5 (50.00)", "–", "–"] in [r[1:] for r in rows]  # empty subsample cells
    assert md.rstrip().endswith("Urban Resident Basic Medical Insurance.")
    assert len(rows) == 1 + 32 + 6  # header, 32 published rows, 6 factor titles
    # tabulate keeps the formatted text: no number is re-parsed ("0.020" stays)
    assert all(len(r) == 4 for r in rows)


def test_table2_latex_is_booktabs_with_escaped_cells(layouts):
    tex = render.to_latex(layouts[1])
    for piece in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{"):
        assert piece in tex
    assert r"Probability of receiving reimbursement (\%)" in tex
    assert "Across provinces & P value \\\\" in tex
    assert r"\label{tab:table2}" in tex
    assert tex.count(" \\\\\n") == 1 + 4  # header and four rows
    assert tex.index(r"\end{tabular}") < tex.index("SD are reported")  # notes under


def test_latex_escape():
    assert render.latex_escape("a_b & 5% < ±1 – x") == (r"a\_b \& 5\% $<$ $\pm$1 -- x")


def test_column_shares_fill_the_line(layouts):
    for layout in layouts:
        shares = render.column_shares(layout)
        assert len(shares) == len(layout.columns)
        assert 990 <= sum(round(s * 1000) for s in shares) <= 1000  # thousandths
        assert shares[0] >= render.MIN_STUB_SHARE


def grouped_layout() -> render.TableLayout:
    rows = (
        render.Row("Across cities", ("-0.147**", "0.035", "0.334**", "0.097"), True),
        render.Row("Observations", ("1165", "", "663", "")),
    )
    return render.TableLayout(
        "Table 3 Two-part model",
        ("Variables", "AME", "SE", "Coefficient", "SE"),
        (render.Section("Scope", rows[:1]), render.Section(None, rows[1:])),
        ("**p<0.01.",),
        "tab:t",
        (("Probit", 2), ("GLM", 2)),
    )


def test_spanning_headers_in_every_format():
    layout = grouped_layout()
    md = render.to_markdown(layout, synthetic=False)
    assert md_rows(md)[0] == [
        "Variables", "Probit, AME", "Probit, SE", "GLM, Coefficient", "GLM, SE",
    ]  # fmt: skip
    tex = render.to_latex(layout, synthetic=False)
    assert tex.count(r"\multicolumn{2}") == 2
    assert r"\cmidrule(lr){2-3}\cmidrule(lr){4-5}" in tex
    assert "Variables & AME & SE & Coefficient & SE" in tex
    html = render.to_html(layout, synthetic=False)
    assert html.count('colspan="2"') == 2
    assert "<b>Scope</b>" in html and "&emsp;&emsp;Across cities" in html
    assert '<p class="note">**p&lt;0.01.</p>' in html
    assert html == render.to_html(layout, synthetic=False)  # no random ids


def test_layout_checks_its_shape():
    with pytest.raises(ValueError, match="row 'a' has 1 cells for 2 columns"):
        render.TableLayout("T", ("V", "x", "y"), (render.Section(None, (
            render.Row("a", ("1",)),)),))  # fmt: skip
    with pytest.raises(ValueError, match="cover 3 columns, the table has 2"):
        render.TableLayout("T", ("V", "x", "y"), (), groups=(("g", 3),))


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
    rows = md_rows(md)
    assert ["**Scope**", "", ""] in rows
    assert ["&emsp;&emsp;Across cities", "-0.147\\*\\*", "0.334\\*\\*"] in rows
    assert rows[0] == ["Variables", "probit", "amount"]
    tex = render.to_latex(layout)
    assert re.search(r"\\multicolumn\{3\}\{.*\}\{\\textit\{Scope\}\} \\\\\n", tex)


# --- the committed .tex tables fit an A4 page --------------------------------------
# Without a TeX engine: widths are measured with the Computer Modern Roman metrics
# that matplotlib ships (cmr10.ttf), at \small (9 pt), on the narrowest usual A4
# text block (the article class's 345 pt). Glyphs that LaTeX takes from other fonts
# get their TeX widths in em: math < > and \pm 0.778, the en dash (--) 0.5.
TEX_WIDTHS_EM = {"<": 0.778, ">": 0.778, "±": 0.778, "–": 0.5, "_": 0.8}
SMALL_PT = 9.0
ARTICLE_A4_PT = 345.0
GEOMETRY_A4_PT = 160 / 25.4 * 72.27  # A4 with 2.5 cm margins
TABLES = ["table1", "table2", "table3", "table4"]


@pytest.fixture(scope="module")
def cmr10():
    font = ft2font.FT2Font(str(matplotlib.get_data_path()) + "/fonts/ttf/cmr10.ttf")
    font.set_size(10, 72)  # 10 px per em
    return font


def width_pt(font, text: str) -> float:
    """Width of ``text`` set in \\small Computer Modern Roman, in TeX points."""
    em = 0.0
    for char in text:
        if char in TEX_WIDTHS_EM:
            em += TEX_WIDTHS_EM[char]
        else:
            glyph = font.load_char(ord(char), flags=ft2font.LoadFlags.NO_HINTING)
            em += glyph.linearHoriAdvance / 65536 / 10
    return em * SMALL_PT


def plain(tex: str) -> str:
    """A LaTeX cell back to the text it prints (the escapes render.py writes)."""
    for code, text in (
        (r"$\pm$", "±"), ("$<$", "<"), ("$>$", ">"), ("---", "—"), ("--", "–"),
        (r"\%", "%"), (r"\_", "_"), (r"\&", "&"), (r"\hspace{1em}", "M"),
    ):  # fmt: skip
        tex = tex.replace(code, text)
    return re.sub(r"\\textit\{(.*)\}", r"\1", tex)


def committed_tex(name: str) -> str:
    return (ROOT / "outputs" / "tables" / f"{name}.tex").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", TABLES)
def test_committed_latex_tables_fit_an_a4_page(cmr10, name):
    """No word of a cell, header or label is wider than its column on A4 (345 pt)."""
    tex = committed_tex(name)
    body = tex[tex.index(r"\begin{tabular}") : tex.index(r"\end{tabular}")]
    spec = body.split("\n", 1)[0]
    shares = [float(s) for s in re.findall(r"p\{\\dimexpr ([0-9.]+)\\linewidth", spec)]
    # the table spans the line (shares are written in thousandths)
    assert 990 <= sum(round(s * 1000) for s in shares) <= 1000, shares
    widths = [s * ARTICLE_A4_PT - 2 * render.TABCOLSEP_PT for s in shares]
    head = body.split(r"\toprule", 1)[1].split(r"\midrule")[0]
    spanners = re.findall(r"\\multicolumn\{(\d)\}\{.*?\\relax\}\}\{([^}]*)\}", head)
    rows = [
        r for r in body.split("\n") if r.endswith("\\\\") and r"\multicolumn" not in r
    ]
    assert len(rows) > 2, name
    worst = 0.0
    for row in rows:
        cells = [plain(c.strip()) for c in row[: -len("\\\\")].split(" & ")]
        assert len(cells) == len(shares), row
        for cell, width in zip(cells, widths, strict=True):
            for word in cell.split():
                worst = max(worst, width_pt(cmr10, word) / width)
    start = 1
    for span, text in spanners:
        group = sum(shares[start : start + int(span)])
        start += int(span)
        for word in plain(text).split():
            worst = max(
                worst,
                width_pt(cmr10, word)
                / (group * ARTICLE_A4_PT - 2 * render.TABCOLSEP_PT),
            )
    print(f"{name}: widest word / column width = {worst:.3f}")
    assert worst <= 1.0, f"{name}: a word is {worst:.2f} times its column width"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")
@pytest.mark.parametrize("geometry", ["", r"\usepackage[margin=2.5cm]{geometry}"])
def test_committed_latex_tables_compile_without_overfull_boxes(tmp_path, geometry):
    """pdflatex sets every table on A4 (article's text block, and 2.5 cm margins)."""
    for name in TABLES:
        doc = tmp_path / f"{name}.tex"
        doc.write_text(
            "\\documentclass[10pt,a4paper]{article}\n" + geometry + "\n"
            "\\usepackage[T1]{fontenc}\n\\usepackage{booktabs,array}\n"
            "\\begin{document}\n" + committed_tex(name) + "\\end{document}\n",
            encoding="utf-8",
        )
        run = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        log = (tmp_path / f"{name}.log").read_text(encoding="latin-1")
        assert run.returncode == 0, log[-2000:]
        assert "Overfull \\hbox" not in log, name
