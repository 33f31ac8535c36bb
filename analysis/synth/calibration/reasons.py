"""Step 8, reasons: why the non-reimbursed were not reimbursed (Figures 1 and 2).

Of the 387 non-reimbursed, the conflict log fixes how many were asked by scope (C09)
and the count of each reason by scope (C11), so Figure 1's shares and Figure 2's
rise of the go-back share with scope hold exactly. Who answers, and which reason each
gives, follow fixed draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.synth import resolutions


def noreimb_reasons(
    frame: pd.DataFrame, answered: np.ndarray, reason: np.ndarray
) -> np.ndarray:
    """Return each row's reason (NaN unless not reimbursed and asked).

    Parameters
    ----------
    frame : DataFrame
        ``reimbursed`` and ``scope`` (final).
    answered, reason : ndarray
        Fixed U(0, 1) draws per row: who among the non-reimbursed of a scope answered
        (lowest first), and the order in which the answers take the reasons.
    """
    levels = schema.FACTORS["noreimb_reason"]
    out = np.full(len(frame), np.nan, dtype=object)
    for scope, n_answered in resolutions.ANSWERED_BY_SCOPE.items():
        rows = np.flatnonzero((frame["reimbursed"] == 0) & (frame["scope"] == scope))
        asked = rows[np.argsort(answered[rows], kind="stable")[:n_answered]]
        asked = asked[np.argsort(reason[asked], kind="stable")]
        counts = resolutions.REASON_BY_SCOPE[scope]
        out[asked] = np.repeat(levels, counts)
    return out
