"""Unit tests of disclosure control (analysis.disclosure) on hand-built tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import disclosure as dc
from analysis.cleaning.codebook import Codebook
from analysis.config import CODEBOOK_DIR

MARK = dc.marker(10)


def test_threshold_rule_boundaries():
    counts = pd.Series([0, 1, 9, 10, np.nan])
    assert dc.small(counts, 10).tolist() == [False, True, True, False, False]
    assert dc.small(counts, 1).tolist() == [False] * 5
    assert "1 to 9" in dc.rule_text(10) and "fewer than 10" in dc.rule_text(10)
    assert MARK == "suppressed (n<10)"


def factor_table() -> pd.DataFrame:
    """A factor with four levels in two columns, counts and percentages."""
    return pd.DataFrame(
        {
            "level": ["a", "b", "c", "d"],
            "x": [50, 4, 30, 16],
            "x_pct": [50.0, 4.0, 30.0, 16.0],
            "y": [20, 25, 12, 0],
            "y_pct": [35.1, 43.9, 21.0, 0.0],
        }
    )


def test_primary_and_complementary_in_a_factor():
    table = factor_table()
    counts = table[["x", "y"]]
    groups = pd.Series("f", index=table.index)
    out = dc.suppress(
        table, counts, {"x": ["x", "x_pct"], "y": ["y", "y_pct"]}, 10, groups,
        keys=["level"],
    )  # fmt: skip
    # b (4) is small; the next smallest positive count of x (d, 16) hides it
    assert out.table.loc[1, ["x", "x_pct"]].tolist() == [MARK, MARK]
    assert out.table.loc[3, ["x", "x_pct"]].tolist() == [dc.COMPLEMENTARY] * 2
    assert out.table.loc[[0, 2], "x"].tolist() == [50, 30]
    # y has no count from 1 to 9 (0 is shown): nothing hidden
    assert out.table["y"].tolist() == [20, 25, 12, 0]
    assert out.log[["level", "column", "reason"]].values.tolist() == [
        ["b", "x", "primary"],
        ["d", "x", "complementary"],
    ]
    assert "4" not in " ".join(map(str, out.log.to_numpy().ravel()))


def test_additive_rows_protect_the_total_column():
    # total = a + b in every row: hiding b alone would leave total - a = b
    table = pd.DataFrame({"total": [40, 100], "a": [35, 60], "b": [5, 40]})
    out = dc.suppress(
        table, table, {c: [c] for c in table}, 10,
        additive_rows=pd.Series([True, True]),
    )  # fmt: skip
    assert out.reasons.loc[0].tolist() == ["", "complementary", "primary"]
    assert out.reasons.loc[1].tolist() == ["", "", ""]


def test_min_cell_must_be_positive():
    table = pd.DataFrame({"n": [1]})
    with pytest.raises(ValueError, match="min_cell"):
        dc.suppress(table, table, {"n": ["n"]}, 0)


def test_flow_chain_leaves_only_the_sum_of_hidden_removals():
    flow = pd.DataFrame(
        {
            "step": ["1", "2", "3", "4", "5"],
            "n_before": [100, 100, 60, 55, 50],
            "n_removed": [0, 40, 5, 5, 20],
            "n_after": [100, 60, 55, 50, 30],
        }
    )
    out = dc.suppress_flow(flow, 10)
    assert out["n_removed"].tolist() == [0, 40, MARK, MARK, 20]
    assert out["n_after"].tolist() == [100, 60, dc.COMPLEMENTARY, 50, 30]
    assert out["n_before"].tolist() == [100, 100, 60, dc.COMPLEMENTARY, 50]


def test_a_single_small_removal_gets_a_complement():
    flow = pd.DataFrame(
        {
            "step": ["1", "2", "3"],
            "n_before": [100, 100, 97],
            "n_removed": [0, 3, 12],
            "n_after": [100, 97, 85],
        }
    )
    out = dc.suppress_flow(flow, 10)
    assert out["n_removed"].tolist() == [0, MARK, dc.COMPLEMENTARY]
    assert out["n_after"].tolist() == [100, dc.COMPLEMENTARY, 85]


def tiny_analytic(n_private: int) -> pd.DataFrame:
    n = 200
    rng = np.random.default_rng(0)
    facility = ["secondary"] * (n - n_private) + ["private"] * n_private
    return pd.DataFrame(
        {
            "scheme": ["NCMS"] * 120 + ["UEBMI"] * 80,
            "facility_level": facility,
            "female": rng.integers(0, 2, n),
            "married": [1] * (n - 3) + [0] * 3,
            "in_part2": [1, 0] * 100,
        }
    )


def test_model_cells_based_on_few_cases_are_hidden():
    analytic = tiny_analytic(n_private=6)
    cells = pd.DataFrame(
        {
            "sample": ["total"] * 4,
            "equation": ["probit", "probit", "probit", "ratio"],
            "term": ["private", "female", "married", "age"],
            "estimate": [0.1, 0.2, 0.3, 0.4],
            "se": [0.01] * 4,
            "p": [0.5] * 4,
        }
    )
    counts = dc.model_cell_counts(analytic, cells)
    assert counts.tolist()[0] == 6  # six private cases
    assert counts.tolist()[2] == 3  # three unmarried: the smaller group
    assert counts.tolist()[3] == 100  # continuous: the part-2 sample size
    hidden = dc.suppress_model_cells(cells, analytic, 10)
    assert hidden["suppressed"].tolist() == [True, False, True, False]
    assert hidden["estimate"].isna().tolist() == [True, False, True, False]
    table = pd.DataFrame(
        {"term": ["private", "female"], "probit_me": ["0.100", "0.200"],
         "probit_se": ["0.010", "0.010"], "probit_stars": ["", ""]}
    )  # fmt: skip
    marked = dc.mark_model_table(table, hidden, 10)
    assert (
        marked.loc[0, ["probit_me", "probit_se", "probit_stars"]].tolist() == [MARK] * 3
    )
    assert marked.loc[1, "probit_me"] == "0.200"


def test_figure_shares_hide_small_bars_and_their_complement():
    reasons = pd.DataFrame(
        {"reason": list("abcd"), "n": [60, 20, 5, 15],
         "pct": [60.0, 20.0, 5.0, 15.0], "published_pct": [1.0] * 4}
    )  # fmt: skip
    hometown = pd.DataFrame(
        {"scope": ["x", "y"], "k": [3, 30], "n": [40, 50], "pct": [7.5, 60.0],
         "ci_low": [1.0, 45.0], "ci_high": [20.0, 73.0]}
    )  # fmt: skip
    r, h = dc.suppress_shares(reasons, hometown, 10)
    assert r["pct"].isna().tolist() == [False, False, True, True]
    assert "n" not in r and "k" not in h and "n" not in h
    assert h["pct"].isna().tolist() == [True, False]
    assert h.loc[0, ["ci_low", "ci_high"]].isna().all()


def test_output_check_finds_microdata_id_columns_and_ids(tmp_path):
    out = tmp_path / "outputs"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "ok.csv").write_text("term,estimate\nage,0.118639\nn,1165\n")
    (out / "report.md").write_text("Mean 118639.5 and 2.118639e-05; no ids here.\n")
    ids = {"118639", "000179"}
    assert dc.check_outputs(out, ids) == []
    (out / "tables" / "rows.csv").write_text("resp_id,age\n000179,33\n")
    (out / "leak.md").write_text("respondent 118639 was dropped.\n")
    (out / "data.parquet").write_bytes(b"PAR1")
    problems = dc.check_outputs(out, ids)
    assert len(problems) == 4
    assert any("data.parquet" in p and "microdata" in p for p in problems)
    assert any("rows.csv" in p and "identifier column" in p for p in problems)
    assert any(p.startswith("leak.md: 1 record-level id") for p in problems)
    assert not any("118639" in p or "000179" in p for p in problems)  # never repeated
    with pytest.raises(dc.DisclosureError, match="leak.md"):
        dc.raise_if_disclosive(out, ids)


def test_templates_map_the_package_file_unchanged():
    templates = CODEBOOK_DIR / "templates"
    varmap = pd.read_csv(templates / "varmap.csv", dtype=str)
    assert dict(zip(varmap["concept"], varmap["column"], strict=True)) == (
        Codebook().varmap
    )
    assert varmap["check_when_the_file_arrives"].notna().all()
    recode = pd.read_csv(templates / "recode.csv")
    assert (recode["source_code"] == recode["canonical_code"]).all()  # identity
    scope = recode[recode["concept"] == "scope"]
    assert sorted(scope["canonical_code"]) == [1, 2, 3]
    assert "跨省" in " ".join(scope["canonical_label"])
