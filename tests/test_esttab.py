"""esttab-like export of two-part fits (analysis.exhibits.esttab)."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from twopart_toy import simulate

from analysis import notices
from analysis.exhibits import esttab
from analysis.twopart import twopm


@pytest.fixture(scope="module")
def fits():
    """Two fits on one simulated sample; the second has scheme in part 1, no age in
    part 2, so the models share some regressors and not others."""
    data = simulate(900, 7)
    small = twopm(data, "reimb_amount", part1="i.scope c.age", family="gamma",
                  link="log", participation="reimbursed")  # fmt: skip
    large = twopm(data, "reimb_amount", part1="i.scope i.scheme c.age",
                  part2="i.scope", family="gamma", link="log",
                  participation="reimbursed")  # fmt: skip
    return small, large


def test_csv_holds_the_results_own_numbers_to_full_precision(fits, tmp_path):
    small, large = fits
    tidy = esttab.esttab([small, large], names=["small", "large"])
    path = tmp_path / "t.csv"
    esttab.to_csv(tidy, path)
    back = pd.read_csv(path, keep_default_na=False,
                       na_values=[""])  # fmt: skip
    for name, res in (("small", small), ("large", large)):
        rows = back[back["model"] == name].set_index(["equation", "term"])
        assert list(rows.index) == list(res.params.index)
        ci = res.conf_int()
        # exact equality: the CSV stores every float in round-trip form
        assert (rows["estimate"].to_numpy() == res.params.to_numpy()).all()
        assert (rows["se"].to_numpy() == res.bse.to_numpy()).all()
        assert (rows["z"].to_numpy() == res.tvalues.to_numpy()).all()
        assert (rows["p"].to_numpy() == res.pvalues.to_numpy()).all()
        assert (rows["ci_low"].to_numpy() == ci.iloc[:, 0].to_numpy()).all()
        assert (rows["ci_high"].to_numpy() == ci.iloc[:, 1].to_numpy()).all()
        n = rows["n"].groupby(level="equation").unique()
        assert list(n["part1"]) == [res.nobs["part1"]]
        assert list(n["part2"]) == [res.nobs["part2"]]


def fake_results(p: list[float]) -> SimpleNamespace:
    """statsmodels-shaped results with the given p-values (estimate 1, SE 0.5)."""
    terms = [f"x{k}" for k in range(len(p))]
    ones = pd.Series(1.0, index=terms)
    return SimpleNamespace(
        params=ones,
        bse=ones * 0.5,
        tvalues=ones * 2.0,
        pvalues=pd.Series(p, index=terms),
        conf_int=lambda: pd.DataFrame({0: ones * 0.0, 1: ones * 2.0}),
        nobs=50,
    )


def test_stars_at_the_thresholds():
    """One star per threshold p is strictly below, as esttab's star()."""
    p = [0.2, 0.1, 0.0999, 0.05, 0.049, 0.01, 0.0099, np.nan]
    tidy = esttab.esttab([fake_results(p)])
    assert list(tidy["stars"]) == ["", "", "*", "*", "**", "**", "***", ""]
    paper = esttab.esttab([fake_results(p)], stars=(0.05, 0.01))
    assert list(paper["stars"]) == ["", "", "", "", "*", "*", "**", ""]
    assert list(tidy["cell"][:3]) == ["1.000", "1.000", "1.000*"]
    assert esttab._legend(tidy)[1] == "* p<0.1, ** p<0.05, *** p<0.01."


def test_side_by_side_alignment_with_different_regressors(fits):
    small, large = fits
    tidy = esttab.esttab([small, large, large.part1], names=["A", "B", "B, part 1"])
    table = esttab.wide(tidy)
    assert list(table.columns) == ["A", "B", "B, part 1"]
    for name, params, bse in (
        ("A", small.params, small.bse),
        ("B", large.params, large.bse),
        ("B, part 1", large.params[["part1"]], large.bse[["part1"]]),
    ):
        for (equation, term), value in params.items():
            cell = table.loc[(equation, term, "estimate"), name]
            assert cell.rstrip("*") == f"{value:.3f}"
            assert table.loc[(equation, term, "stat"), name] == (
                f"({bse[(equation, term)]:.3f})"
            )
        absent = set(table.index.droplevel("line")) - set(params.index)
        absent -= {("part1", "N"), ("part2", "N")}
        for equation, term in absent:
            assert table.loc[(equation, term, "estimate"), name] == ""
    # scheme (only in B) sits in part 1 before the constant; age (only in A) in part 2
    part1 = list(dict.fromkeys(table.loc["part1"].index.get_level_values("term")))
    assert part1[-2:] == ["_cons", "N"] and "scheme=UEBMI" in part1
    assert table.loc[("part2", "age", "estimate"), "B"] == ""
    n = table.xs("N", level="term")
    assert list(n.loc[("part1", "n")]) == [str(small.nobs["part1"])] * 3
    assert list(n.loc[("part2", "n")]) == [
        str(small.nobs["part2"]), str(large.nobs["part2"]), "",
    ]  # fmt: skip


def test_margins_of_the_combined_mean(fits):
    small, large = fits
    tidy = esttab.esttab(
        [small, large], margins={"parts": ("combined",)}, stat="ci", keep=["scope*"]
    )
    own = small.margins(parts=("combined",))
    own = own[own["term"] == "scope"]
    rows = tidy[tidy["model"] == "(1)"]
    assert list(rows["equation"]) == [
        "combined" if c == "total" else f"combined:{c}" for c in own["component"]
    ]
    assert (rows["estimate"].to_numpy() == own["estimate"].to_numpy()).all()
    assert (rows["se"].to_numpy() == own["se"].to_numpy()).all()
    assert set(rows["n"]) == {small.nobs["part1"]}
    first = rows.iloc[0]
    assert first["paren"] == f"[{first['ci_low']:.3f}, {first['ci_high']:.3f}]"
    table = esttab.wide(tidy)
    assert table.xs("N", level="term").shape[0] == 1  # one N per model


def test_a_margins_frame_without_a_model_has_no_n(fits):
    small, _ = fits
    tidy = esttab.esttab([small.margins(parts=("part1",))], stat="t")
    assert tidy["n"].isna().all()
    assert tidy["paren"].iloc[0] == f"({tidy['z'].iloc[0]:.3f})"
    with pytest.raises(ValueError, match="same part and term"):
        esttab.esttab([small.margins(parts=("part1",), over="scheme")])


def test_statsmodels_results_and_formats():
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"const": 1.0, "x": rng.normal(size=40)})
    y = 1 + 0.5 * x["x"] + rng.normal(size=40)
    ols = sm.OLS(y, x).fit()
    tidy = esttab.esttab([ols], fmt="%.2f")
    assert list(tidy["term"]) == ["const", "x"]
    assert (tidy["p"].to_numpy() == ols.pvalues.to_numpy()).all()
    assert tidy["cell"].iloc[1].rstrip("*") == f"{ols.params['x']:.2f}"
    assert set(tidy["n"]) == {40.0}
    tidy = esttab.esttab([ols], fmt=lambda v: f"{v:.1e}")
    assert tidy["cell"].iloc[1].rstrip("*") == f"{ols.params['x']:.1e}"


def test_writers_say_synthetic_when_asked(fits, tmp_path):
    small, large = fits
    tidy = esttab.esttab([small, large], keep=["part2:*"])
    assert set(tidy["equation"]) == {"part2"}
    md = esttab.to_markdown(tidy, title="Two fits", synthetic=True)
    assert md.splitlines()[0] == notices.CAPTION
    assert "Standard errors in parentheses." in md
    tex = esttab.to_latex(tidy, title="Two fits", synthetic=True)
    assert tex.splitlines()[0] == f"% {notices.CAPTION}" and r"\toprule" in tex
    html = esttab.to_html(tidy, title="Two fits", synthetic=True)
    assert notices.CAPTION in html
    for name in ("t.csv", "t.md", "t.tex", "t.html"):
        esttab.write(tidy, tmp_path / name, "Two fits", synthetic=True)
    csv = pd.read_csv(tmp_path / "t.csv", dtype=str)
    assert (csv[notices.CSV_COLUMN] == notices.CSV).all()
    assert (tmp_path / "t.md").read_text(encoding="utf-8") == md
    assert notices.CAPTION not in esttab.to_markdown(tidy)


def test_bad_requests_are_named(fits):
    small, _ = fits
    with pytest.raises(ValueError, match="stat must be one of"):
        esttab.esttab([small], stat="p")
    with pytest.raises(ValueError, match="2 names for 1 results"):
        esttab.esttab([small], names=["a", "b"])
    with pytest.raises(ValueError, match="matches no term"):
        esttab.esttab([small], keep=["nothing"])
    with pytest.raises(ValueError, match=r"thresholds must lie in \(0, 1\)"):
        esttab.esttab([small], stars=(5,))
    with pytest.raises(TypeError, match="lacks"):
        esttab.esttab([object()])
    with pytest.raises(ValueError, match="unknown table format '.docx'"):
        esttab.write(esttab.esttab([small]), "t.docx")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")
@pytest.mark.parametrize("stat", ["se", "ci"])
def test_latex_compiles_on_an_a4_page(fits, tmp_path, stat):
    """Three models with long term names fit article's A4 text block (345 pt)."""
    small, large = fits
    tidy = esttab.esttab([small, large, large.part1], names=["A", "B", "B, part 1"],
                         stat=stat)  # fmt: skip
    doc = tmp_path / "t.tex"
    doc.write_text(
        "\\documentclass[10pt,a4paper]{article}\n\\usepackage[T1]{fontenc}\n"
        "\\usepackage{booktabs,array}\n\\begin{document}\n"
        + esttab.to_latex(tidy, title="Two fits", synthetic=True)
        + "\\end{document}\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    log = (tmp_path / "t.log").read_text(encoding="latin-1")
    assert run.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log
