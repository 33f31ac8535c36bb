"""Calibrate who is reimbursed so the fitted probit gives back Tables 3-4.

DGP: ``reimbursed`` = top-n of ``X b + urban * scope . g + e`` inside each cell of
(Table 1 column x migration scope), with ``e ~ N(0, 1)`` fixed. The six cell counts
have both published margins exact (Table 1: 470 / 308 by column; Table 2: 242 / 234 /
302 by scope); the two free interior counts come from the DGP itself (expected counts
``sum Phi(X b + ...)`` per cell, fitted to both margins by IPF, rounded), so the scope
effects of the NCMS and urban subsamples (Table 4) are set by ``b_scope`` and ``g``.

Solving, on the fixed draws (deterministic):

1. Fixed-point iteration: ``b_k <- b_k - (AME_k - target_k) / mean phi`` for every
   Table 3 row (column-wise derivative AMEs, ``analysis.specs``), the within-urban
   UEBMI - URBMI contrast, the NCMS scope effects (Table 4, NCMS fit) and the urban
   scope effects (Table 4, urban fit). The map is discrete (ranks), so iteration stops
   at the best point seen.
2. Pair-swap polish: inside a cell, one reimbursed and one non-reimbursed person near
   the cell's threshold exchange outcomes (counts unchanged). Each candidate's effect
   on all 29 published cells is predicted by the one-step (Newton) influence of the
   flip on the three probit fits; the best predicted swap is applied and verified by
   exact refits, until every cell is within tolerance or no swap improves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schema
from analysis.synth import resolutions, targets
from analysis.synth import calibrate_fit as cf
from analysis.synth.calibrate_targets import SCOPE_TERMS, TERMS, columns, table_targets

SAMPLES = ("total", "ncms", "urban")
TOL = 0.07  # aim: |fitted - published| / published SE (the target is 0.1)
BAND = 0.6  # share of each cell's ones/zeros nearest the threshold that may swap
DEBUG = False
MIN_LEFT = 3  # at least this many non-reimbursed (and reimbursed) per cell


class ProbitProblem:
    """Fixed design, draws and targets of the participation calibration."""

    def __init__(self, frame: pd.DataFrame, x: np.ndarray, e: np.ndarray):
        self.x, self.e = x, e
        self.n = len(x)
        col = frame["column"].to_numpy()
        scope = frame["scope"].astype(str).to_numpy()
        self.masks = {"total": np.ones(self.n, bool), "ncms": col == "ncms", "urban": col == "urban"}
        self.xs = {s: x[self.masks[s]][:, columns(s)] for s in SAMPLES}
        scopes = schema.FACTORS["scope"]
        self.cell = np.array([targets.COLUMNS.index(c) * 3 + scopes.index(s) for c, s in zip(col, scope)])
        self.sizes = np.bincount(self.cell, minlength=6).reshape(2, 3)
        self.rows = np.array([targets.t1_counts("reimbursed", c)["yes"] for c in targets.COLUMNS])
        pct = {s: m for s, (m, _) in targets.t2_moments("reimbursed_pct").items()}
        self.cols = np.array([round(pct[s] * self.sizes[:, j].sum() / 100) for j, s in enumerate(scopes)])
        self.urban_scope = np.column_stack(
            [(col == "urban") & (scope == s.split(":")[1]) for s in SCOPE_TERMS]
        ).astype(float)
        self.targets = table_targets("probit")
        self.tval = np.array([t.value for t in self.targets])
        self.tse = np.array([t.se for t in self.targets])
        # where each target sits: (sample, position within that sample's columns)
        self.where = []
        for t in self.targets:
            cols = columns(t.sample)
            self.where.append((t.sample, int(np.flatnonzero(cols == TERMS.index(t.term))[0])))
        self.b_start = {s: None for s in SAMPLES}

    # --- DGP ------------------------------------------------------------------------
    def index(self, b, g):
        return self.x @ b + self.urban_scope @ g

    def cell_counts(self, eta) -> np.ndarray:
        expected = np.bincount(self.cell, weights=cf.norm_cdf(eta), minlength=6).reshape(2, 3)
        table = resolutions.ipf_2x3(expected, self.rows, self.cols)
        lo, hi = MIN_LEFT, self.sizes - MIN_LEFT
        if np.any(table < lo) or np.any(table > hi):
            table = _feasible(table, self.sizes, self.rows, self.cols)
        return table

    def outcome(self, b, g) -> np.ndarray:
        eta = self.index(b, g)
        counts = self.cell_counts(eta).ravel()
        score = eta + self.e
        y = np.zeros(self.n, np.int8)
        for c in range(6):
            rows = np.flatnonzero(self.cell == c)
            y[rows[np.argsort(-score[rows], kind="stable")[: counts[c]]]] = 1
        return y

    # --- fits -----------------------------------------------------------------------
    def fits(self, y):
        out = {}
        for s in SAMPLES:
            out[s] = cf.probit(self.xs[s], y[self.masks[s]], self.b_start[s])
            self.b_start[s] = out[s].b
        return out

    def ames(self, fits):
        ame = {s: cf.probit_ame(fits[s]) for s in SAMPLES}
        return np.array([ame[s][k] for s, k in self.where])

    def dev(self, fits):
        return (self.ames(fits) - self.tval) / self.tse


def _feasible(table, sizes, rows, cols):
    """Move counts between cells (keeping margins) until every cell leaves MIN_LEFT."""
    t = table.copy()
    for _ in range(200):
        bad = np.argwhere((t > sizes - MIN_LEFT) | (t < MIN_LEFT))
        if len(bad) == 0:
            return t
        i, j = bad[0]
        sign = 1 if t[i, j] > sizes[i, j] - MIN_LEFT else -1
        k = 1 - i
        # move one unit from (i, j) to (i, j2) and back through (k, j2) -> (k, j)
        room = [j2 for j2 in range(3) if j2 != j and MIN_LEFT < t[i, j2] + sign < sizes[i, j2] - MIN_LEFT
                and MIN_LEFT < t[k, j2] - sign < sizes[k, j2] - MIN_LEFT]
        j2 = room[0]
        t[i, j] -= sign
        t[i, j2] += sign
        t[k, j2] -= sign
        t[k, j] += sign
    raise RuntimeError("no feasible reimbursed cell counts")


def calibrate(problem: ProbitProblem, b0: np.ndarray, n_fixed: int = 40, n_polish: int = 400):
    """Return (reimbursed, b, g, report) on the problem's fixed draws."""
    p = problem
    b, g = b0.copy(), np.zeros(2)
    term = {t: k for k, t in enumerate(TERMS)}
    iscope = [term[t] for t in SCOPE_TERMS]
    best = (np.inf, None, None, None)
    for it in range(n_fixed):
        y = p.outcome(b, g)
        fits = p.fits(y)
        dev = p.dev(fits)
        score = float(np.max(np.abs(dev)))
        if score < best[0]:
            best = (score, y, b.copy(), g.copy())
        gap = (p.ames(fits) - p.tval)
        step = 0.9 if it < 20 else 0.5
        phi = {s: cf.norm_pdf(fits[s].eta).mean() for s in SAMPLES}
        by = {(t.sample, t.term): gap[k] for k, t in enumerate(p.targets)}
        for k, t in enumerate(TERMS):
            if t in ("const", "age_sq") or t.startswith("scope:") or t.startswith("scheme:"):
                continue
            b[k] -= step * by[("total", t)] / phi["total"]
        d = by[("total", "scheme:UEBMI")] - by[("total", "scheme:URBMI")]
        b[term["scheme:UEBMI"]] -= step * d / phi["total"]
        for j, t in enumerate(SCOPE_TERMS):
            b[iscope[j]] -= step * by[("ncms", t)] / phi["ncms"]
            h = b[iscope[j]] + g[j] - step * by[("urban", t)] / phi["urban"]
            g[j] = h - b[iscope[j]]
    _, y, b, g = best
    y, report = polish(p, y.copy(), b, g, n_polish)
    return y, b, g, report


def _influence(p: ProbitProblem, fits, y):
    """Predicted change of the 29 deviations (SE units) from flipping each row (N x 29)."""
    out = np.zeros((p.n, len(p.targets)))
    for s in SAMPLES:
        f = fits[s]
        xs = p.xs[s]
        ys = y[p.masks[s]]
        g_now = cf._mills(ys, f.eta)
        g_flip = cf._mills(1 - ys, f.eta)
        dscore = xs * (g_flip - g_now)[:, None]
        db = np.linalg.solve(f.info, dscore.T).T  # rows x k
        dame = db @ cf.probit_ame_jac(f, xs).T
        idx = [k for k, (smp, _) in enumerate(p.where) if smp == s]
        pos = [p.where[k][1] for k in idx]
        out[np.ix_(np.flatnonzero(p.masks[s]), idx)] += dame[:, pos] / p.tse[idx]
    return out


def _penalty(r):
    return np.sum(r**2, axis=-1) + 5.0 * np.sum(np.maximum(np.abs(r) - TOL, 0.0) ** 2, axis=-1)


def polish(p: ProbitProblem, y, b, g, n_iter):
    """Greedy pair swaps inside cells (see module docstring)."""
    score = p.index(b, g) + p.e
    fits = p.fits(y)
    r = p.dev(fits)
    cur = float(_penalty(r))
    swaps = 0
    tabu: set[tuple[int, int]] = set()
    for _ in range(n_iter):
        if np.max(np.abs(r)) < TOL:
            break
        infl = _influence(p, fits, y)
        w = 1.0 + 5.0 * (np.abs(r) > TOL)
        cands = []
        for c in range(6):
            rows = np.flatnonzero(p.cell == c)
            ones = rows[y[rows] == 1]
            zeros = rows[y[rows] == 0]
            ones = ones[np.argsort(score[ones])][: max(1, int(BAND * len(ones)))]
            zeros = zeros[np.argsort(-score[zeros])][: max(1, int(BAND * len(zeros)))]
            a = r + infl[ones]
            bz = infl[zeros]
            val = (
                np.sum(w * a * a, axis=1)[:, None]
                + 2 * (a * w) @ bz.T
                + np.sum(w * bz * bz, axis=1)[None, :]
            )
            flat = np.argsort(val, axis=None)[:60]
            for f in flat:
                i, j = np.unravel_index(f, val.shape)
                cands.append((val[i, j], (int(ones[i]),), (int(zeros[j]),)))
        cands += _interior_moves(p, y, score, r, infl, w)
        cands.sort(key=lambda c: c[0])
        trials = [c for c in cands[:40]]
        trials += _combos(cands[:300], r, infl, w)
        moved = False
        for _, i, j in trials:
            if (i, j) in tabu:
                continue
            y2 = y.copy()
            y2[list(i)] = 0
            y2[list(j)] = 1
            fits2 = p.fits(y2)
            if not all(f.converged for f in fits2.values()):
                tabu.add((i, j))
                continue
            r2 = p.dev(fits2)
            new = float(_penalty(r2))
            if new < cur - 1e-9:
                if DEBUG:
                    print(swaps, len(i), round(new, 2), round(float(np.max(np.abs(r2))), 3))
                y, fits, r, cur = y2, fits2, r2, new
                swaps += 1
                moved = True
                break
            tabu.add((i, j))
        if not moved:
            break
    report = {"swaps": swaps, "max_dev": float(np.max(np.abs(r))), "dev": r}
    return y, report


def _interior_moves(p: ProbitProblem, y, score, r, infl, w):
    """Shift one unit of the 2 x 3 reimbursed table around a 4-cycle (margins kept).

    Column 0 (NCMS) gains one in scope j1 and loses one in j2; the urban column does the
    opposite. Each of the four flips is the best near-threshold row of its cell, chosen
    greedily on the predicted deviations.
    """
    out = []
    for j1 in range(3):
        for j2 in range(3):
            if j1 == j2:
                continue
            plan = [(0 * 3 + j1, 1), (0 * 3 + j2, 0), (1 * 3 + j1, 0), (1 * 3 + j2, 1)]
            acc = r.copy()
            ones, zeros = [], []
            ok = True
            for c, to in plan:
                rows = np.flatnonzero(p.cell == c)
                pool = rows[y[rows] == (1 - to)]
                left = (y[rows] == 1).sum() + (1 if to == 1 else -1)
                if len(pool) == 0 or left < MIN_LEFT or left > len(rows) - MIN_LEFT:
                    ok = False
                    break
                order = np.argsort(-score[pool] if to == 1 else score[pool])
                pool = pool[order][: max(1, int(BAND * len(pool)))]
                val = np.sum(w * (acc + infl[pool]) ** 2, axis=1)
                k = int(pool[np.argmin(val)])
                acc = acc + infl[k]
                (zeros if to == 1 else ones).append(k)
            if ok:
                out.append((float(np.sum(w * acc * acc)), tuple(ones), tuple(zeros)))
    return out


def _combos(cands, r, infl, w, n_best=40):
    """Best predicted pairs of moves (disjoint rows): a larger neighbourhood."""
    if len(cands) < 2:
        return []
    d = np.array([infl[list(i)].sum(axis=0) + infl[list(j)].sum(axis=0) for _, i, j in cands])
    a = r + d
    val = np.sum(w * a * a, axis=1)[:, None] + 2 * (a * w) @ d.T + np.sum(w * d * d, axis=1)[None, :]
    val[np.tril_indices(len(cands))] = np.inf
    out = []
    for f in np.argsort(val, axis=None)[: 4 * n_best]:
        u, v = np.unravel_index(f, val.shape)
        ru = set(cands[u][1]) | set(cands[u][2])
        rv = set(cands[v][1]) | set(cands[v][2])
        if ru & rv:
            continue
        out.append((float(val[u, v]), cands[u][1] + cands[v][1], cands[u][2] + cands[v][2]))
        if len(out) >= n_best:
            break
    return out
