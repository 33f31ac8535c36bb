"""Step 7, other costs: the stays outside part 2, so Table 1's cost moments hold.

Table 1's cost mean and SD by insurance column cover every row, while the part-2 rows'
costs are already fixed by the money and GLM steps. The other rows (not reimbursed, or
reimbursed without a usable amount) take ``COST_FLOOR + exp(alpha + beta * d)`` per
column, ``d`` the centred log DGP cost, with ``alpha`` and ``beta`` solved so the
column's sum and sum of squares are met exactly; then whole yuan and the integer nudge.
The total column's moments follow from the two columns (conflict C02).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from analysis.synth import numerics, targets
from analysis.synth.calibration.money_moments import COST_FLOOR, MONEY_DECIMALS
from analysis.synth.moments import MomentTarget, nudge


def match_other_costs(frame, cost, fixed, cost0):
    """Integer costs of the non-part-2 rows so Table 1's cost moments hold on all rows.

    ``cost`` holds the fixed part-2 costs where ``fixed``; ``cost0`` the DGP cost.
    """
    column = frame["column"].to_numpy()
    out = cost.astype(float).copy()
    for col in targets.COLUMNS:
        rows = column == col
        mean, sd = targets.t1_moments("total_expenditure", col)
        n = rows.sum()
        s1 = n * mean - out[rows & fixed].sum()
        s2 = (n - 1) * sd**2 + n * mean**2 - (out[rows & fixed] ** 2).sum()
        free = rows & ~fixed
        out[free] = _lognormal_affine(numerics.log(cost0[free]), s1, s2)
    x = np.rint(np.round(out, MONEY_DECIMALS))
    x = np.maximum(x, 1).astype(np.int64)[:, None]
    moment_targets = []
    # C02: the total column's cost mean and SD contradict the column cells; keep the
    # columns (the total follows: 10,366.48 / 17,547.60).
    for col in targets.COLUMNS:
        mean, sd = targets.t1_moments("total_expenditure", col)
        mask = column == col
        moment_targets += [
            MomentTarget(f"cost_{col}_mean", "cost", mask, "mean", mean),
            MomentTarget(f"cost_{col}_sd", "cost", mask, "sd", sd),
        ]
    x = nudge(
        x,
        lambda v: {"cost": v[:, 0].astype(float)},
        moment_targets,
        movable=~fixed,
        valid=lambda v: v[:, 0] >= COST_FLOOR,
    )
    return x[:, 0]


def _lognormal_affine(lc: np.ndarray, s1: float, s2: float) -> np.ndarray:
    """COST_FLOOR + exp(alpha + beta * (lc - mean)), given sum and sum of squares."""
    n = len(lc)
    mean, ms = s1 / n - COST_FLOOR, s2 / n - 2 * COST_FLOOR * s1 / n + COST_FLOOR**2
    if ms <= mean**2:
        raise ValueError("infeasible cost moments for the remaining rows")
    d = lc - lc.mean()

    def cv_gap(beta):
        v = numerics.exp(beta * d)
        return np.mean(v**2) / np.mean(v) ** 2 - ms / mean**2

    beta = optimize.brentq(cv_gap, 1e-3, 10.0)
    v = numerics.exp(beta * d)
    return COST_FLOOR + v * mean / v.mean()
