"""Step 4, part-2 counts: who among the reimbursed reports a usable amount.

The paper's part 2 (amount and ratio models) holds the 663 reimbursed members with a
usable amount; the other 115 reimbursed answered "don't know" or refused (C05). The
part-2 count of each (column x scope) cell is the IPF of the reimbursed cells to the
part-2 margins the conflict log fixes (C06 by column, C07 by scope), rounded with both
margins exact; inside a cell the reimbursed with the highest part-2 draw are chosen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.synth import resolutions, targets


def in_part2(frame: pd.DataFrame, draw: np.ndarray) -> np.ndarray:
    """Return the 0/1 part-2 indicator: top-n of ``draw`` among each cell's reimbursed.

    Parameters
    ----------
    frame : DataFrame
        ``column``, ``scope`` and ``reimbursed`` (after the participation steps).
    draw : ndarray
        Fixed U(0, 1) draw per row (``OutcomeDraws.part2``).
    """
    cells = frame["column"].astype(str) + "|" + frame["scope"].astype(str)
    reimb_counts = {
        cell: int(frame.loc[cells == cell, "reimbursed"].sum())
        for cell in sorted(set(cells))
    }
    counts = part2_cell_counts(reimb_counts)
    score = np.where(frame["reimbursed"] == 1, draw, -np.inf)
    out = np.zeros(len(score), np.int8)
    for cell, n in counts.items():
        rows = np.flatnonzero((cells == cell).to_numpy())
        top = rows[np.argsort(-score[rows], kind="stable")[:n]]
        out[top] = 1
    return out


def part2_cell_counts(reimb_counts: dict[str, int]) -> dict[str, int]:
    """Part-2 counts by (column, scope): IPF of reimbursed cells to C06/C07 margins."""
    scopes = schema.FACTORS["scope"]
    seed = np.array(
        [[reimb_counts[f"{c}|{s}"] for s in scopes] for c in targets.COLUMNS]
    )
    rows = np.array([resolutions.PART2_BY_COLUMN[c] for c in targets.COLUMNS])
    cols = np.array([resolutions.PART2_BY_SCOPE[s] for s in scopes])
    table = resolutions.ipf_2x3(seed, rows, cols)
    if np.any(table > seed):
        raise ValueError("part-2 cell exceeds its reimbursed cell")
    return {
        f"{c}|{s}": int(table[i, j])
        for i, c in enumerate(targets.COLUMNS)
        for j, s in enumerate(scopes)
    }


def amount_missing(frame: pd.DataFrame, draw: np.ndarray) -> np.ndarray:
    """Why the reimbursed outside part 2 have no amount: "dont_know" or "refused".

    The lowest DONT_KNOW_SHARE of ``draw`` among them answered "don't know"; every
    other row is missing (NaN).
    """
    rows = np.flatnonzero((frame["reimbursed"] == 1) & (frame["in_part2"] == 0))
    out = np.full(len(frame), np.nan, dtype=object)
    n_dk = int(round(resolutions.DONT_KNOW_SHARE * len(rows)))
    order = rows[np.argsort(draw[rows], kind="stable")]
    out[order[:n_dk]] = "dont_know"
    out[order[n_dk:]] = "refused"
    return out
