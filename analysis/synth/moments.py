"""Exact published moments on integer data: targets, rounding windows and a nudger.

A published mean or SD printed to two decimals is a *window*: any realised value that
rounds to the printed one reproduces the cell. Synthesis first hits each target with a
smooth transform (continuous values) and then rounds to integer yuan or years; the
rounding moves the moments by a few hundredths, so :func:`nudge` repairs them with
small integer moves, chosen greedily, until every constrained moment sits inside its
window. Moves are tiny (a yuan, a year), so ranks and the regression structure survive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Stat = Literal["mean", "sd"]

# Aim inside the rounding window, not at its edge: 0.5 * 0.005 for two-decimal cells.
WINDOW_SAFETY = 0.8
MAX_KICKS = 50


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


def _penalised(z: np.ndarray) -> np.ndarray:
    """Sum over targets (axis 0) of z^2 plus a steep penalty outside the safe window."""
    outside = np.maximum(np.abs(z) - WINDOW_SAFETY, 0.0)
    return np.sum(z**2 + 100.0 * outside**2, axis=0)


def _moves_z(x, j, step, derive, old, tables, movable, valid):
    """z-scores (targets x rows) after moving column ``j`` of each row by ``step``."""
    masks, var_index, n, s1, s2, is_mean, value, hw, names = tables
    x_new = x.copy()
    x_new[:, j] += step
    ok = movable & valid(x_new)
    x_new[~ok] = x[~ok]
    new = derive(x_new)
    d1 = np.stack([new[v] - old[v] for v in names])[var_index] * masks
    d2 = np.stack([new[v] ** 2 - old[v] ** 2 for v in names])[var_index] * masks
    m1 = (s1[:, None] + d1) / n[:, None]
    var = (s2[:, None] + d2 - n[:, None] * m1**2) / (n[:, None] - 1)
    stat = np.where(is_mean[:, None], m1, np.sqrt(np.maximum(var, 0.0)))
    z = (stat - value[:, None]) / hw[:, None]
    return z, ok & np.all(np.isfinite(z), axis=0)


def _tables(targets, derived):
    names = sorted({t.var for t in targets})
    masks = np.stack([t.mask for t in targets]).astype(float)
    var_index = np.array([names.index(t.var) for t in targets])
    vals = np.stack([derived[v] for v in names])[var_index]
    s1 = np.sum(vals * masks, axis=1)
    s2 = np.sum(vals**2 * masks, axis=1)
    n = masks.sum(axis=1)
    is_mean = np.array([t.stat == "mean" for t in targets])
    value = np.array([t.value for t in targets])
    hw = np.array([t.halfwidth for t in targets])
    return masks, var_index, n, s1, s2, is_mean, value, hw, names


def _best_pair(z, zs, current, n_first=12):
    """Two moves that together lower the score when no single move does.

    First moves: the ``n_first`` (move, row) pairs that most reduce the worst target;
    the second move is searched over all rows and moves, using the linearised change
    of the z-scores (exact for means, first order for SDs).
    """
    worst = int(np.argmax(np.abs(z)))
    sign = np.sign(z[worst])
    blocked = 1e6  # z-change of an infeasible move: its score is never the best
    deltas = np.stack([np.where(ok, zm - z[:, None], blocked) for zm, ok in zs])
    gain = sign * deltas[:, worst, :]  # (moves, rows); negative = improves the worst
    flat = np.argsort(gain, axis=None, kind="stable")[:n_first]
    best = (current - 1e-9, None)
    for m1, i1 in zip(*np.unravel_index(flat, gain.shape), strict=True):
        if gain[m1, i1] >= 0:
            break
        base = z + deltas[m1, :, i1]
        for m2 in range(len(deltas)):
            score = _penalised(base[:, None] + deltas[m2])
            score[i1] = np.inf
            i2 = int(np.argmin(score))
            if score[i2] < best[0]:
                best = (float(score[i2]), ((int(m1), int(i1)), (m2, i2)))
    return best[1]


def _kick(x, zs, rng, n_moves=3):
    """A few random feasible unit moves (seeded by the kick count: deterministic)."""
    out = []
    for _ in range(n_moves):
        m = int(rng.integers(len(zs)))
        feasible = np.flatnonzero(zs[m][1])
        if len(feasible):
            out.append((m, int(rng.choice(feasible))))
    return out or None


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
    x : integer array (n, d)
        The decision variables (e.g. amount and cost in yuan).
    derive : callable
        Maps ``x`` to the per-row variables the targets refer to.
    targets : list of MomentTarget
        The moments to hit, each within ``WINDOW_SAFETY`` of its half-width.
    movable : ndarray of bool
        Rows that may move; the others only enter the moments.
    valid : callable
        Row-wise feasibility of a candidate ``x`` (bounds, amount <= cost, ...).
    steps : tuple of int
        The integer moves tried on one cell.
    max_iter : int
        Moves before giving up.

    Returns
    -------
    The nudged copy of ``x``. Raises ``RuntimeError`` if a moment is still outside its
    window after ``max_iter`` moves (an infeasible, i.e. conflicting, target set).
    """
    x = x.astype(np.int64).copy()
    moves = [(j, step) for j in range(x.shape[1]) for step in steps]
    kicks = 0
    for _ in range(max_iter):
        derived = derive(x)
        z = z_scores(derived, targets)
        if np.all(np.abs(z) < WINDOW_SAFETY):
            return x
        tables = _tables(targets, derived)
        current = float(_penalised(z[:, None])[0])
        zs = [
            _moves_z(x, j, st, derive, derived, tables, movable, valid)
            for j, st in moves
        ]
        scores = [np.where(ok, _penalised(zm), np.inf) for zm, ok in zs]
        m = int(np.argmin([sc.min() for sc in scores]))
        i = int(np.argmin(scores[m]))
        if scores[m][i] < current - 1e-9:
            x[i, moves[m][0]] += moves[m][1]
            continue
        pair = _best_pair(z, zs, current)
        if pair is None and np.all(np.abs(z) < 1.0):
            return x  # stuck, but every moment already rounds to its published value
        if pair is None and kicks < MAX_KICKS:  # leave the local minimum, reproducibly
            pair = _kick(x, zs, np.random.default_rng(kicks))
            kicks += 1
        if pair is None:
            break
        for m, i in pair:
            x[i, moves[m][0]] += moves[m][1]
    z = z_scores(derive(x), targets)
    named = zip(targets, z, strict=True)  # one z per target
    bad = [f"{t.name} (z={zk:.2f})" for t, zk in named if abs(zk) >= 1.0]
    if bad:
        raise RuntimeError(f"moments outside their rounding window: {bad}")
    return x
