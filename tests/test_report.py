"""The report's targets and cell labels on hand-built verdicts."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.exhibits import report


def verdicts(n: int, se_ok: int, stars_ok: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "point_ok": [True] * n,
            "documented_conflict": [False] * n,
            "se_ok": [True] * se_ok + [False] * (n - se_ok),
            "stars_ok": [True] * stars_ok + [False] * (n - stars_ok),
        }
    )


def test_spare_cells_count_what_a_target_can_lose():
    # 90 cells: 85% needs 77 (76.5 rounded up), 95% needs 86 (85.5 rounded up)
    t = report.target_summary(verdicts(90, 78, 86)).set_index("target")
    assert t.loc["share of SEs within 15%", "spare"] == "1 cell(s)"
    assert t.loc["share of cells with identical stars", "spare"] == "0 cell(s)"
    short = report.target_summary(verdicts(90, 76, 86)).set_index("target")
    assert not short.loc["share of SEs within 15%", "met"]
    assert short.loc["share of SEs within 15%", "spare"] == "-"


def test_synthetic_targets_say_they_hold_by_construction():
    synthetic = report.target_summary(verdicts(10, 10, 10), synthetic=True)
    real = report.target_summary(verdicts(10, 10, 10), synthetic=False)
    assert synthetic["how it holds"].str.startswith("calibration target").all()
    assert (real["how it holds"] == "measured on the data").all()


def test_cells_are_labelled_by_how_the_calibration_constrains_them():
    cells = pd.DataFrame(
        {
            "sample": ["total", "total", "total"],
            "equation": ["probit", "amount", "ratio"],
            "term": ["UEBMI", "UEBMI", "UEBMI"],
            "estimate": [0.37, 0.43, 0.2],
            "se": [0.04, 0.1, 0.02],
            "p": [1e-6, 1e-4, 1e-6],
        }
    )
    conflicts = pd.DataFrame({"id": ["C00"], "unmatched_cells": [""]})
    syn = report.cell_verdicts(cells, conflicts, synthetic=True).dropna(
        subset=["estimate"]
    )
    assert syn.set_index("equation")["point_status"]["amount"].startswith(
        "calibrated: amounts solved"
    )
    assert syn.set_index("equation")["se_status"]["probit"].startswith("selected")
    real = report.cell_verdicts(cells, conflicts, synthetic=False)
    assert (real["point_status"] == report.FREE).all()
    assert (real["se_status"] == report.FREE).all()


def test_html_report_is_styled_without_raw_markdown():
    items = [
        ("# Title", None),
        (None, "A `code` word and **bold** text."),
        ("## Cells", pd.DataFrame({"term": ["a", "b"], "se": [0.1234, 2.0],
                                   "verdict": ["match", "miss: se"]})),
    ]  # fmt: skip
    page = report.to_html(items)
    assert "<style>" in page and "`" not in page and "**" not in page
    assert "<code>code</code>" in page and "<strong>bold</strong>" in page
    assert 'class="data row1 col2 miss"' in page
    assert ">0.123<" in page and 'col1 num"' in page
    assert page == report.to_html(items)  # same bytes every time


def test_published_implied_combined_is_the_product_rule_at_the_means():
    from analysis.paper.tables import published_implied_combined

    table1 = pd.DataFrame(
        {
            "variable": ["reimbursed", "reimb_amount", "reimb_ratio_pct"],
            "total": [500, 1000.0, 40.0],
            "total_spread": [50.0, 99.0, 9.0],
        }
    )
    table3 = pd.DataFrame(
        {"term_group": ["scope", "n"], "term": ["far", "n"],
         "probit_me": [-0.2, 1.0], "amount_me": [0.1, 1.0], "ratio_me": [-0.05, 1.0]}
    )  # fmt: skip
    out = published_implied_combined(table1, table3).set_index("outcome")
    # amount: -0.2 * 1000 + 0.5 * 0.1 * 1000 = -200 + 50
    assert out.loc["reimb_amount", "extensive"] == pytest.approx(-200.0)
    assert out.loc["reimb_amount", "intensive"] == pytest.approx(50.0)
    # ratio: -0.2 * 0.40 + 0.5 * -0.05 = -0.08 - 0.025
    assert out.loc["reimb_ratio", "total"] == pytest.approx(-0.105)
    assert list(out["term"]) == ["far", "far"]
