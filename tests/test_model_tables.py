"""Tables 3-4 in the printed layout and the combined-margins table (model_tables)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import render
from analysis.exhibits import model_tables
from analysis.paper import published as published_tables


@pytest.fixture(scope="module")
def published():
    read = {"dtype": str, "keep_default_na": False}
    return (
        published_tables.read("table3", **read),
        published_tables.read("table4", **read),
    )


def status_frame(n: dict[tuple[str, str], int]) -> pd.DataFrame:
    """A model_status.csv as the estimate stage writes it (as read, all text)."""
    rows = [
        {"sample": s, "equation": e, "term": "", "status": "estimated", "reason": "",
         "n": str(v)}
        for (s, e), v in n.items()
    ]  # fmt: skip
    rows.append({"sample": "ncms", "equation": "probit", "term": "URBMI",
                 "status": "omitted", "reason": "x", "n": "0"})  # fmt: skip
    return pd.DataFrame(rows)


# observations by model (total: the paper's Table 3 row); the NCMS ratio model is left
# out to stand for a model that was not estimated
N_BY_MODEL = {
    ("total", "probit"): 1165, ("total", "amount"): 663, ("total", "ratio"): 663,
    ("ncms", "probit"): 777, ("ncms", "amount"): 391,
    ("urban", "probit"): 388, ("urban", "amount"): 272, ("urban", "ratio"): 272,
}  # fmt: skip


def test_observations_come_from_the_model_status():
    n = model_tables.observations(status_frame(N_BY_MODEL))
    assert n == N_BY_MODEL  # the omitted-regressor row is not a model
    row = model_tables.observations_row(n, "ncms")
    assert row.cells == ("777", "", "391", "", render.EMPTY, "")  # ratio not fitted


def test_headers_say_what_each_column_holds():
    """AME over the probit and ratio columns, coefficient over the amount column."""
    from analysis.paper import models

    reported = {eq.name: eq.reported for eq in models.EQUATIONS}
    assert reported == {"probit": "ame", "amount": "coef", "ratio": "ame"}
    assert model_tables.COLUMNS == (
        "Variables", "AME", "SE", "Coefficient", "SE", "AME", "SE",
    )  # fmt: skip
    assert [g for g, _ in model_tables.GROUPS] == [
        "Probit: reimbursed", "GLM: amount", "GLM: ratio",
    ]  # fmt: skip
    assert "coefficient" not in " ".join(model_tables.COLUMNS[1:3]).lower()


def test_table3_layout_prints_every_published_cell(published):
    """Rendered from the published CSV, the layout gives back the paper's rows."""
    t3, _ = published
    layout = model_tables.table3_layout(t3, N_BY_MODEL)
    rows = {row.label: row.cells for row in layout.rows()}
    assert rows["UEBMI"] == ("0.375**", "0.044", "0.428**", "0.094", "0.201**", "0.023")
    assert rows["Private hospital"][:2] == ("-0.156*", "0.063")
    assert rows["Observations"] == ("1165", "", "663", "", "663", "")
    # the published observations row says the same as the N from the estimates
    obs = t3[t3["term_group"] == "n"].iloc[0]
    assert rows["Observations"][::2] == (obs.probit_me, obs.amount_me, obs.ratio_me)
    assert len(layout.rows()) == len(t3)  # 26 terms + observations
    text = render.to_latex(layout, synthetic=False)
    assert text.count("0.375**") == 1 and text.count("\\hspace{1em}") == 19
    md = render.to_markdown(layout, synthetic=False)
    assert "Probit: reimbursed, AME" in md and "GLM: amount, Coefficient" in md


def test_table4_layout_has_both_subsamples_with_their_n(published):
    _, t4 = published
    layout = model_tables.table4_layout(t4, N_BY_MODEL)
    titles = [s.title for s in layout.sections]
    assert titles.count(model_tables.SECTIONS["scope"]) == 2
    rows = layout.rows()
    cells = [row.cells for row in rows]
    assert cells[1][:2] == ("-0.333**", "0.048")
    assert [r.label for r in rows].count("Observations") == 2
    assert rows[2].cells == ("777", "", "391", "", "–", "")
    assert rows[5].cells == ("388", "", "272", "", "272", "")
    assert cells[4][:2] == ("-0.118", "0.061")


def test_combined_margins_split_adds_up():
    """Total = extensive + intensive (symmetric split), from a margins file."""
    rows = []
    for term, (ext, inten) in {
        "female": (1.0, 2.5),
        "scope__across_provinces": (-3.0, 1.0),
    }.items():
        for comp, est in (
            ("total", ext + inten),
            ("extensive", ext),
            ("intensive", inten),
        ):
            rows.append(
                {
                    "sample": "total",
                    "outcome": "reimb_amount",
                    "part": "combined",
                    "component": comp,
                    "term": term,
                    "level": np.nan,
                    "estimate": est,
                    "se": 1.0,
                    "p": 0.5,
                }
            )
    rows.append(
        {
            "sample": "total",
            "outcome": "reimb_amount",
            "part": "part1",
            "component": "total",
            "term": "female",
            "level": np.nan,
            "estimate": 9.0,
            "se": 1.0,
            "p": 0.5,
        }
    )
    out = model_tables.combined_margins(pd.DataFrame(rows))
    assert list(out["term"]) == ["female", "across_provinces"]  # Table 3 order
    np.testing.assert_allclose(
        out["total_estimate"], out["extensive_estimate"] + out["intensive_estimate"]
    )


def test_shipped_combined_margins_add_up():
    """On the committed outputs the estimator's split adds up to its total."""
    from analysis.config import ROOT

    out = pd.read_csv(ROOT / "outputs" / "tables" / "table_combined_margins.csv")
    assert set(out["sample"]) == {"total", "ncms", "urban"}
    # Each number is stored to TABLE_DIGITS significant digits, so each carries a
    # rounding error of at most half a unit in its last digit, 0.5 * 10**(1 - digits)
    # times its size; the identity holds up to the sum of the three.
    from analysis.io import TABLE_DIGITS

    parts = ["total_estimate", "extensive_estimate", "intensive_estimate"]
    bound = 0.5 * 10.0 ** (1 - TABLE_DIGITS) * out[parts].abs().sum(axis=1)
    gap = (
        out["total_estimate"] - out["extensive_estimate"] - out["intensive_estimate"]
    ).abs()
    assert (gap <= bound).all(), out.loc[gap > bound, parts]
