"""Step 3, covariate exchanges: swap scope or reason to finish the probit points.

Why: after the flip polish (``flip_polish``), one within-cell swap of outcomes moves
the 29 probit cells by 0.1-0.3 published SE in many directions at once, and cells can
stay stuck above the 0.1 SE target although the LP relaxation of the flips says a
fractional plan exists. Exchanging the migration scope (or migration reason) of two
respondents who are in the same Table 1 column and have the same outcome is a finer
lever, and it moves no published number: Table 1 counts scope and reason by column
(unchanged), Table 2 counts the reimbursed by scope (unchanged: both rows have the
same outcome), the participation cells (column x scope) keep their sizes and
reimbursed counts, and everything by scope downstream (part-2 membership, money
moments, reasons for no reimbursement) is drawn after this step.

Greedy: every admissible exchange is scored by its predicted effect on the 29
deviations (the one-step change of each probit fit from the two rows' new scores,
exact in those rows, plus the change of mean phi), and the best one is applied if
exact refits lower the polish penalty. Stops when every |deviation| < DONE or after
MAX_SWAPS exchanges. Deterministic (ties go to the first pair in row order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.synth import numerics
from analysis.synth.calibration import fits as cf
from analysis.synth.calibration import participation as cp
from analysis.synth.calibration.cells import TERMS, columns

FACTORS = ("scope", "reason")
MAX_SWAPS = 12
DONE = 0.095  # stop once every |deviation| is below this (published SEs; target 0.1)


def exchange_covariates(
    p: cp.ProbitProblem, frame: pd.DataFrame, y: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, list]:
    """Return (frame, design, exchanges) with the probit deviations polished.

    Parameters
    ----------
    p : ProbitProblem
        The calibration problem; its design arrays are updated in place.
    frame : DataFrame
        The analytic frame the problem was built from (rows aligned with ``p.x``).
    y : ndarray
        Reimbursed (0/1) after the flip polish; not changed.

    Returns
    -------
    frame : DataFrame
        A copy with the exchanged ``scope`` / ``reason`` values.
    x : ndarray
        The design matrix of the new frame (``p.x``).
    exchanges : list of (factor, row, row)
        The exchanges applied, in order.
    """
    frame = frame.copy()
    fits = p.fits(y)
    r = p.dev(fits)
    done = []
    for _ in range(MAX_SWAPS):
        if np.max(np.abs(r)) < DONE:
            break
        best = _best_exchange(p, frame, y, fits, r)
        if best is None:
            break
        factor, i, j = best
        _exchange(p, frame, factor, i, j)
        fits2 = p.fits(y)
        r2 = p.dev(fits2)
        converged = all(f.converged for f in fits2.values())
        if not converged or cp.penalty(r2) >= cp.penalty(r):
            _exchange(p, frame, factor, i, j)  # undo: the prediction did not hold
            break
        fits, r = fits2, r2
        done.append((factor, i, j))
    return frame, p.x, done


def _best_exchange(p, frame, y, fits, r):
    """The admissible exchange with the lowest predicted penalty, or None."""
    best = (float(cp.penalty(r)), None)
    col = frame["column"].to_numpy()
    for factor in FACTORS:
        idx = [k for k, t in enumerate(TERMS) if t.startswith(factor + ":")]
        level = frame[factor].astype(str).to_numpy()
        for c in np.unique(col):
            for outcome in (0, 1):
                rows = np.flatnonzero((col == c) & (y == outcome))
                ii, jj = np.triu_indices(len(rows), k=1)
                keep = level[rows[ii]] != level[rows[jj]]
                ii, jj = rows[ii[keep]], rows[jj[keep]]
                if len(ii) == 0:
                    continue
                pred = _predicted(p, fits, outcome, ii, jj, idx)
                val = cp.penalty(r[None, :] + pred)
                k = int(np.argmin(val))
                if val[k] < best[0] - 1e-12:
                    best = (float(val[k]), (factor, int(ii[k]), int(jj[k])))
    return best[1]


def _predicted(p, fits, outcome, ii, jj, idx) -> np.ndarray:
    """Predicted change of the 29 deviations (SE units) of exchanging rows ii <-> jj."""
    x = p.x
    delta = np.zeros((len(ii), x.shape[1]))
    delta[:, idx] = x[jj][:, idx] - x[ii][:, idx]
    out = np.zeros((len(ii), len(p.targets)))
    y_pair = np.full(len(ii), outcome)
    for s in cp.SAMPLES:
        if not p.masks[s][ii[0]]:
            continue  # both rows are in the same column, hence in the same fits
        cols = columns(s)
        f = fits[s]
        xi, xj, d = x[ii][:, cols], x[jj][:, cols], delta[:, cols]
        dscore = np.zeros_like(xi)
        dphi = np.zeros(len(ii))
        for xr, dr in ((xi, d), (xj, -d)):
            new, old = numerics.matmul(xr + dr, f.b), numerics.matmul(xr, f.b)
            dscore += cf.mills(y_pair, new)[:, None] * (xr + dr)
            dscore -= cf.mills(y_pair, old)[:, None] * xr
            dphi += cf.norm_pdf(new) - cf.norm_pdf(old)
        db = numerics.solve_spd(f.info, dscore.T).T
        dame = numerics.matmul(db, cf.probit_ame_jac(f, p.xs[s]).T)
        dame += (dphi / p.masks[s].sum())[:, None] * f.b[None, :]
        ks = [k for k, (smp, _) in enumerate(p.where) if smp == s]
        pos = [p.where[k][1] for k in ks]
        out[:, ks] += dame[:, pos] / p.tse[ks]
    return out


def _exchange(p, frame, factor, i, j) -> None:
    """Swap ``factor`` between rows i and j in the frame and the problem's arrays."""
    values = frame[factor].copy()
    vi, vj = values.iloc[i], values.iloc[j]
    values.iloc[i], values.iloc[j] = vj, vi
    frame[factor] = values
    idx = [k for k, t in enumerate(TERMS) if t.startswith(factor + ":")]
    x = p.x.copy()
    x[i, idx], x[j, idx] = p.x[j, idx], p.x[i, idx]
    p.x = x
    for s in cp.SAMPLES:
        p.xs[s] = x[p.masks[s]][:, columns(s)]
    if factor == "scope":
        p.cell[[i, j]] = p.cell[[j, i]]
        p.urban_scope[[i, j]] = p.urban_scope[[j, i]]
