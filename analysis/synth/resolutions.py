"""Counts the paper does not print, fixed here, each resolving a logged conflict.

Every constant cites its row in ``data/published/inconsistencies.csv`` (the conflict
log), which carries the arithmetic. Cell counts that only need to agree with published
margins are derived by iterative proportional fitting (IPF) and rounded so both margins
stay exact.
"""

from __future__ import annotations

import numpy as np

from analysis.cleaning import schema
from analysis.synth import targets

SCOPES = schema.FACTORS["scope"]

# C06: the 663 part-2 cases by Table 1 column. Table 1's total amount and ratio means
# are the n-weighted averages of its column means only at NCMS 391 / urban 272.
PART2_BY_COLUMN = dict(zip(targets.COLUMNS, (391, 272), strict=True))

# C07: the 663 part-2 cases by scope. Table 2's amount mean and SD weighted by these
# counts give back Table 1's 5,506.16 and 9,761.79 exactly; ANOVA p = 0.056 (amount).
PART2_BY_SCOPE = dict(zip(SCOPES, (214, 199, 250), strict=True))

# C09: Figure 1 reasons come from 227 of the 387 non-reimbursed (151/38/24/14 give back
# 66.5/16.7/10.6/6.2 %); the other 160 were not asked. Split by scope (non-reimbursed
# 54/101/232) so that the go-back share rises with scope under any denominator (C11).
ANSWERED_BY_SCOPE = dict(zip(SCOPES, (30, 57, 140), strict=True))
# Rows: scopes; columns: schema.FACTORS["noreimb_reason"] (both in published order).
REASON_BY_SCOPE = dict(
    zip(SCOPES, ((10, 10, 6, 4), (24, 16, 11, 6), (117, 12, 7, 4)), strict=True)
)

# The 115 reimbursed without a usable amount (C05): share answering "don't know"
# (an assumption; the paper does not say why the amounts are unusable).
DONT_KNOW_SHARE = 0.75


def ipf_2x3(seed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Integer 2 x 3 table closest (IPF) to ``seed`` with exact row and column sums."""
    x = seed.astype(float).copy()
    for _ in range(200):
        x *= (rows / x.sum(axis=1))[:, None]
        x *= (cols / x.sum(axis=0))[None, :]
    first = _round_to_sum(x[0], int(rows[0]))
    return np.vstack([first, cols - first]).astype(int)


def _round_to_sum(v: np.ndarray, total: int) -> np.ndarray:
    base = np.floor(v).astype(int)
    extra = total - base.sum()
    base[np.argsort(-(v - base), kind="stable")[:extra]] += 1
    return base
