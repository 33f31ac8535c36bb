"""Exact published moments on integer data: targets, rounding windows and a nudger.

A published mean or SD printed to two decimals is a *window*: any realised value that
rounds to the printed one reproduces the cell. Synthesis first hits each target with a
smooth transform (continuous values) and then rounds to integer yuan or years; the
rounding moves the moments by a few hundredths, so :func:`nudge` repairs them with
small integer moves, chosen greedily, until every constrained moment sits inside its
window. Moves are tiny (a yuan, a year), so ranks and the regression structure survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

Stat = Literal["mean", "sd"]

# Aim inside the rounding window, not at its edge: 0.5 * 0.005 for two-decimal cells.
WINDOW_SAFETY = 0.8


@dataclass(frozen=True)
class MomentTarget:
    """One published moment: ``stat`` of ``var`` over the rows in ``mask``."""

    name: str
    var: str
    mask: np.ndarray
    stat: Stat
    value: float
    halfwidth: float = 0.005


def group_stat(values: np.ndarray, stat: Stat) -> float:
    """Mean or sample SD (ddof=1), the statistics the paper prints."""
    if stat == "mean":
        return float(np.mean(values))
    return float(np.std(values, ddof=1))


def z_scores(derived: dict[str, np.ndarray], targets: list[MomentTarget]) -> np.ndarray:
    """Distance of each moment from its target in units of the rounding half-width."""
    out = np.empty(len(targets))
    for k, t in enumerate(targets):
        out[k] = (group_stat(derived[t.var][t.mask], t.stat) - t.value) / t.halfwidth
    return out


def _moves_scores(x, j, step, derive, old, targets, sums, movable, valid):
    """Score (sum of squared z) after moving column ``j`` of every row by ``step``."""
    x_new = x.copy()
    x_new[:, j] += step
    new = derive(x_new)
    ok = movable & valid(x_new)
    score = np.zeros(x.shape[0])
    for k, t in enumerate(targets):
        n = t.mask.sum()
        s1, s2 = sums[k]
        d1 = np.where(t.mask, new[t.var] - old[t.var], 0.0)
        d2 = np.where(t.mask, new[t.var] ** 2 - old[t.var] ** 2, 0.0)
        m1 = (s1 + d1) / n
        if t.stat == "mean":
            stat = m1
        else:
            stat = np.sqrt(np.maximum((s2 + d2 - n * m1**2) / (n - 1), 0.0))
        z = (stat - t.value) / t.halfwidth
        score += z**2 + 100.0 * np.maximum(np.abs(z) - WINDOW_SAFETY, 0.0) ** 2
    return np.where(ok, score, np.inf)


def nudge(
    x: np.ndarray,
    derive: Callable[[np.ndarray], dict[str, np.ndarray]],
    targets: list[MomentTarget],
    movable: np.ndarray,
    valid: Callable[[np.ndarray], np.ndarray],
    steps: tuple[int, ...] = (1, -1, 5, -5, 50, -50),
    max_iter: int = 5000,
) -> np.ndarray:
    """Greedy integer moves on ``x`` (rows x decision columns) until all moments fit.

    Parameters
    ----------
    x : integer array (n, d), the decision variables (e.g. amount and cost in yuan).
    derive : maps ``x`` to the per-row variables the targets refer to.
    targets : the moments to hit, each within ``WINDOW_SAFETY`` of its half-width.
    movable : rows that may move; the others only enter the moments.
    valid : row-wise feasibility of a candidate ``x`` (bounds, amount <= cost, ...).

    Returns
    -------
    The nudged copy of ``x``. Raises ``RuntimeError`` if a moment is still outside its
    window after ``max_iter`` moves (an infeasible, i.e. conflicting, target set).
    """
    x = x.astype(np.int64).copy()
    for _ in range(max_iter):
        derived = derive(x)
        z = z_scores(derived, targets)
        if np.all(np.abs(z) < WINDOW_SAFETY):
            return x
        sums = [
            (derived[t.var][t.mask].sum(), (derived[t.var][t.mask] ** 2).sum())
            for t in targets
        ]
        penalty = np.maximum(np.abs(z) - WINDOW_SAFETY, 0.0)
        current = float(np.sum(z**2 + 100.0 * penalty**2))
        best = (current, None)
        for j in range(x.shape[1]):
            for step in steps:
                score = _moves_scores(
                    x, j, step, derive, derived, targets, sums, movable, valid
                )
                i = int(np.argmin(score))
                if score[i] < best[0] - 1e-12:
                    best = (float(score[i]), (i, j, step))
        if best[1] is None:
            break
        i, j, step = best[1]
        x[i, j] += step
    z = z_scores(derive(x), targets)
    bad = [t.name for t, zk in zip(targets, z) if abs(zk) >= 1.0]
    if bad:
        raise RuntimeError(f"moments outside their rounding window: {bad}")
    return x
