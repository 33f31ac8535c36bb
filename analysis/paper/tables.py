"""Tables 3 and 4 in the published layout, from the tidy estimates.

Inputs: ``outputs/estimates/paper_cells.csv`` (written by
:mod:`analysis.paper.estimates`) and
the published tables in ``data/published`` (for the row order and keys only).
Outputs: ``outputs/tables/table3.csv`` and ``table4.csv`` with exactly the published
columns and keys, estimates and SEs rounded to the published 3 decimals, stars from our
own two-sided z tests (``**`` p < 0.01, ``*`` p < 0.05, as the paper's notes say).
A column that was not estimable, or a regressor the fit omitted, is marked in its
cells with the reason (``outputs/estimates/model_status.csv``), e.g.
``not estimable (empty subsample)`` or ``omitted (predicts failure perfectly)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import disclosure, io, omissions
from analysis.paper import models
from analysis.paper import published as published_tables

EQUATIONS = models.EQUATION_NAMES
DECIMALS = 3


def main(
    cells_path: Path,
    tables_dir: Path,
    analytic_path: Path | None = None,
    min_cell: int | None = None,
    synthetic: bool = True,
) -> dict[str, pd.DataFrame]:
    """Write Tables 3 and 4 (CSV) from the tidy estimate cells; return them as printed.

    With ``min_cell`` (real-data mode) cells based on fewer respondents, counted in
    the analytic sample at ``analytic_path``, are suppressed
    (:mod:`analysis.disclosure`). ``synthetic`` adds the synthetic-data notice
    column (:func:`analysis.io.with_notice`).
    """
    cells = pd.read_csv(cells_path)
    tables_dir.mkdir(parents=True, exist_ok=True)
    t3, t4 = table3(cells), table4(cells)
    if min_cell is not None:
        hidden = disclosure.suppress_model_cells(
            cells, pd.read_parquet(analytic_path), min_cell
        )
        t3, t4 = (disclosure.mark_model_table(t, hidden, min_cell) for t in (t3, t4))
    status = omissions.model_status(Path(cells_path).parent)
    t3, t4 = mark_status(t3, status, "total"), mark_status(t4, status)
    printed = {"table3": printed_cells(t3), "table4": printed_cells(t4)}
    for name, table in printed.items():
        save_printed(table, tables_dir / f"{name}.csv", synthetic)
    return printed


def stars(p: float) -> str:
    """Significance marks of the paper: ``**`` p < 0.01, ``*`` p < 0.05."""
    if np.isnan(p):
        return ""
    return "**" if p < 0.01 else "*" if p < 0.05 else ""


def wide_cells(cells: pd.DataFrame, sample: str) -> pd.DataFrame:
    """One row per term with ``<equation>_me/_se/_stars`` columns for ``sample``."""
    rows = cells[cells["sample"] == sample]
    out = None
    for eq in EQUATIONS:
        part = rows[rows["equation"] == eq].set_index("term")
        block = pd.DataFrame(
            {
                f"{eq}_me": part["estimate"].round(DECIMALS),
                f"{eq}_se": part["se"].round(DECIMALS),
                f"{eq}_stars": [stars(p) for p in part["p"]],
            }
        )
        out = block if out is None else out.join(block, how="outer")
    return out


def table3(cells: pd.DataFrame) -> pd.DataFrame:
    """Table 3: all terms of the three equations on the total sample."""
    published = published_tables.read("table3", dtype=str)
    keys = published.loc[published["term_group"] != "n", ["term_group", "term"]]
    wide = wide_cells(cells, "total")
    body = keys.join(wide, on="term")
    n = {}
    for eq in EQUATIONS:
        rows = cells.loc[(cells["sample"] == "total") & (cells["equation"] == eq), "n"]
        n[eq] = int(rows.iloc[0]) if len(rows) else np.nan
    footer = {"term_group": "n", "term": "observations"}
    footer |= {f"{eq}_me": n[eq] for eq in EQUATIONS}
    return pd.concat([body, pd.DataFrame([footer])], ignore_index=True)[
        published.columns
    ]


def table4(cells: pd.DataFrame) -> pd.DataFrame:
    """Table 4: the migration-scope rows on the NCMS and URBMI+UEBMI subsamples."""
    published = published_tables.read("table4", dtype=str)
    frames = []
    for sample in ("ncms", "urban"):
        keys = published.loc[published["sample"] == sample, ["sample", "term"]]
        frames.append(keys.join(wide_cells(cells, sample), on="term"))
    return pd.concat(frames, ignore_index=True)[published.columns]


def mark_status(
    table: pd.DataFrame, status: pd.DataFrame, sample: str | None = None
) -> pd.DataFrame:
    """Write the reason into the cells of columns and regressors not estimated.

    ``sample`` names Table 3's sample (its rows have no ``sample`` column); Table 4
    rows carry theirs.
    """
    out = table.copy()
    samples = out["sample"] if sample is None else pd.Series(sample, index=out.index)
    for r in omissions.not_estimated(status).itertuples(index=False):
        rows = samples == r.sample
        if r.status == "omitted":
            rows &= out["term"] == r.term
        if not rows.any():
            continue
        out[[f"{r.equation}_me", f"{r.equation}_se", f"{r.equation}_stars"]] = out[
            [f"{r.equation}_me", f"{r.equation}_se", f"{r.equation}_stars"]
        ].astype(object)
        out.loc[rows, f"{r.equation}_me"] = omissions.marker(r.status, r.reason)
        out.loc[rows, [f"{r.equation}_se", f"{r.equation}_stars"]] = ""
    return out


def write_csv(table: pd.DataFrame, path: Path, synthetic: bool = False) -> None:
    """Write with fixed 3-decimal formatting so files diff cleanly across runs.

    ``synthetic`` adds the synthetic-data notice column (:func:`io.with_notice`).
    """
    save_printed(printed_cells(table), path, synthetic)


def save_printed(printed: pd.DataFrame, path: Path, synthetic: bool = False) -> None:
    """Write a table already formatted by :func:`printed_cells`, keyed by its rows."""
    keys = [c for c in ("sample", "term_group", "term") if c in printed]
    io.save_table(printed, keys, path, sort=False, synthetic=synthetic)


def printed_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table as printed: estimates and SEs as text with the published decimals."""
    out = table.copy()
    for col in out.columns:
        if col.endswith(("_me", "_se")):
            out[col] = [format_cell(v, col) for v in out[col]]
    return out


def format_cell(value: object, column: str) -> str:
    """Format an estimate/SE with the published 3 decimals; counts as integers."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        return value  # a disclosure-control marker
    if float(value).is_integer() and abs(float(value)) >= 100:
        return str(int(value))
    text = f"{float(value):.{DECIMALS}f}"
    return "0.000" if text == "-0.000" else text


def published_vs_replicated(cells: pd.DataFrame) -> pd.DataFrame:
    """Long table of every Table 3-4 cell: published and replicated estimate and SE."""
    pub3 = published_tables.read("table3")
    pub3 = pub3[pub3["term_group"] != "n"].assign(sample="total")
    pub4 = published_tables.read("table4")
    rows = []
    for pub in (pub3, pub4):
        for eq in EQUATIONS:
            part = pub[["sample", "term", f"{eq}_me", f"{eq}_se"]]
            part.columns = ["sample", "term", "published", "published_se"]
            rows.append(part.assign(equation=eq))
    long = pd.concat(rows, ignore_index=True)
    ours = cells[["sample", "equation", "term", "estimate", "se"]]
    return long.merge(ours, on=["sample", "equation", "term"], how="left")


#: The Table 1 rows (total column) behind the implied combined effects.
IMPLIED_INPUTS = {
    "share": "reimbursed",
    "amount": "reimb_amount",
    "ratio": "reimb_ratio_pct",
}


def published_implied_combined(
    table1: pd.DataFrame, table3: pd.DataFrame
) -> pd.DataFrame:
    """Effects on E[y] over everyone that the published Tables 1 and 3 imply.

    The published columns are part-specific: the probit AME on P(reimbursed) and, among
    the reimbursed, the log-scale amount coefficient b and the ratio AME. Combined at
    the total sample's means (Table 1: share reimbursed P, mean amount A and mean
    ratio R among the reimbursed), by the product rule of E[y] = P * E[y | y > 0]:
    amount ``AME_P * A + P * b * A`` (b * A: the derivative of a log-link mean at A),
    ratio ``AME_P * R + P * AME_ratio``; the first term is the extensive margin, the
    second the intensive one. A derivative approximation at the means, so it is a
    reading of the published numbers, not a replication of a published cell.
    """
    t1 = table1.set_index("variable")
    share = float(t1.loc[IMPLIED_INPUTS["share"], "total_spread"]) / 100
    amount = float(t1.loc[IMPLIED_INPUTS["amount"], "total"])
    ratio = float(t1.loc[IMPLIED_INPUTS["ratio"], "total"]) / 100
    rows = []
    for r in table3[table3["term_group"] != "n"].itertuples():
        p_ame, b, r_ame = float(r.probit_me), float(r.amount_me), float(r.ratio_me)
        rows += [
            (r.term, "reimb_amount", p_ame * amount, share * b * amount),
            (r.term, "reimb_ratio", p_ame * ratio, share * r_ame),
        ]
    out = pd.DataFrame(rows, columns=["term", "outcome", "extensive", "intensive"])
    out["total"] = out["extensive"] + out["intensive"]
    return out[["term", "outcome", "total", "extensive", "intensive"]]
