"""Calibrate who is reimbursed so the fitted probit gives back Tables 3-4.

DGP: ``reimbursed`` = top-n of ``X b + urban * scope . g + e`` inside each cell of
(Table 1 column x migration scope), with ``e ~ N(0, 1)`` fixed. The six cell counts
have both published margins exact (Table 1: 470 / 308 by column; Table 2: 242 / 234 /
302 by scope); the two free interior counts come from the DGP itself (expected counts
``sum Phi(X b + ...)`` per cell, fitted to both margins by IPF, rounded), so the scope
effects of the NCMS and urban subsamples (Table 4) are set by ``b_scope`` and ``g``.

Solving, on the fixed draws (deterministic):

1. Fixed-point iteration: ``b_k <- b_k - (AME_k - target_k) / mean phi`` for every
   Table 3 row (column-wise derivative AMEs, ``analysis.paper.models``), the
   within-urban
   UEBMI - URBMI contrast, the NCMS scope effects (Table 4, NCMS fit) and the urban
   scope effects (Table 4, urban fit). The map is discrete (ranks), so iteration stops
   at the best point seen.
2. Batch polish (``batch_polish``): flips of near-threshold rows, many per exact refit.
   Each flip's effect on all 29 published cells is predicted by its one-step (Newton)
   influence on the three probit fits (a linear model of the 29 deviations). Plans,
   tried in turn until one lowers the exact penalty: the LP relaxation of "which rows
   flip" (minimise the L1 excess of the predicted deviations over LP_AIM, every cell
   count kept) with seeded randomised rounding, full and half steps; an LP-guided
   dive (fix the pair the LP wants most, re-solve); greedy pair swaps and margin-
   keeping 4-cycles across cells (which move the two free interior counts); simulated
   annealing on the linear model. A plan is applied whole, then halved, ..., and kept
   only if exact refits confirm it. Single swaps with exact verification (``polish``)
   finish each round.
3. Rounds (``ROUNDS``): the polish is repeated from the best state with other candidate
   bands and aims (a different penalty landscape lets the local search escape), until
   every |deviation| < DONE. Deterministic (seeded rounding and annealing; HiGHS LPs).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from analysis.cleaning import schema
from analysis.synth import calibrate_fit as cf
from analysis.synth import numerics, resolutions, targets
from analysis.synth.calibrate_targets import (
    SCOPE_TERMS,
    TERMS,
    columns,
    position,
    table_targets,
)

SAMPLES = ("total", "ncms", "urban")
TOL = 0.07  # aim: |fitted - published| / published SE (the target is 0.1)
BAND = 0.6  # share of each cell's ones/zeros nearest the threshold that may swap
# polish rounds: (share of rows near the threshold that may flip, AIM of the batch
# polish). One round: further rounds (0.8, 0.03), (1.0, 0.05), (0.7, 0.03),
# (0.9, 0.04) took the shipped seed from 2 probit cells over 0.1 SE to 1, at 30 s more
# generation time (measured: 16 s vs 47 s for the raw file), which breaks
# `make reproduce` in a minute.
ROUNDS = ((0.6, 0.05),)
DONE = 0.095  # stop polishing once every |deviation| is below this (target 0.1)
AIM = 0.05  # the polish penalty is flat inside +-AIM (changed per round, ROUNDS)
# predicted |deviation| the LP plans aim under (slack for the linearisation)
LP_AIM = 0.04
# seeded randomised roundings of the LP relaxation, scored on the linear model
N_ROUNDINGS = 200
DEBUG = False
MIN_LEFT = 3  # at least this many non-reimbursed (and reimbursed) per cell


class ProbitProblem:
    """Fixed design, draws and targets of the participation calibration."""

    def __init__(self, frame: pd.DataFrame, x: np.ndarray, e: np.ndarray):
        self.x, self.e = x, e
        self.n = len(x)
        col = frame["column"].to_numpy()
        scope = frame["scope"].astype(str).to_numpy()
        self.masks = {
            "total": np.ones(self.n, bool),
            "ncms": col == "ncms",
            "urban": col == "urban",
        }
        self.xs = {s: x[self.masks[s]][:, columns(s)] for s in SAMPLES}
        scopes = schema.FACTORS["scope"]
        self.cell = np.array(
            [
                targets.COLUMNS.index(c) * 3 + scopes.index(s)
                for c, s in zip(col, scope, strict=True)
            ]
        )
        self.sizes = np.bincount(self.cell, minlength=6).reshape(2, 3)
        self.rows = np.array(
            [targets.t1_counts("reimbursed", c)["yes"] for c in targets.COLUMNS]
        )
        pct = {s: m for s, (m, _) in targets.t2_moments("reimbursed_pct").items()}
        self.cols = np.array(
            [round(pct[s] * self.sizes[:, j].sum() / 100) for j, s in enumerate(scopes)]
        )
        self.urban_scope = np.column_stack(
            [(col == "urban") & (scope == s.split(":")[1]) for s in SCOPE_TERMS]
        ).astype(float)
        self.targets = table_targets("probit")
        self.tval = np.array([t.value for t in self.targets])
        self.tse = np.array([t.se for t in self.targets])
        # where each target sits: (sample, position within that sample's columns)
        self.where = [(t.sample, position(t.sample, t.term)) for t in self.targets]
        self.b_start = {s: None for s in SAMPLES}

    # --- DGP ------------------------------------------------------------------------
    def index(self, b, g):
        """Latent index without the fixed noise, ``X b + urban_scope g``.

        Returns
        -------
        ndarray
            One value per row.
        """
        return numerics.matmul(self.x, b) + numerics.matmul(self.urban_scope, g)

    def cell_counts(self, eta) -> np.ndarray:
        """Reimbursed count of each (column x scope) cell, both margins exact.

        The interior is the IPF fit of the DGP's expected counts, so ``b`` and ``g``
        move the two free interior counts (and hence the Table 4 scope effects).

        Returns
        -------
        ndarray
            Integer ``(2, 3)`` table; every cell leaves at least MIN_LEFT on each side.
        """
        expected = np.bincount(
            self.cell, weights=cf.norm_cdf(eta), minlength=6
        ).reshape(2, 3)
        table = resolutions.ipf_2x3(expected, self.rows, self.cols)
        lo, hi = MIN_LEFT, self.sizes - MIN_LEFT
        if np.any(table < lo) or np.any(table > hi):
            table = _feasible(table, self.sizes, self.rows, self.cols)
        return table

    def outcome(self, b, g) -> np.ndarray:
        """The reimbursed indicator: top-n of ``index + e`` inside each cell.

        Returns
        -------
        ndarray
            int8 0/1 per row.
        """
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
        """Probit fits of ``y`` on the total and both Table 4 subsamples.

        Each fit starts from the previous one's coefficients (warm start), which is
        why this method updates ``b_start``.

        Returns
        -------
        dict
            ``{sample: ProbitFit}`` for every sample in SAMPLES.
        """
        out = {}
        for s in SAMPLES:
            out[s] = cf.probit(self.xs[s], y[self.masks[s]], self.b_start[s])
            self.b_start[s] = out[s].b
        return out

    def ames(self, fits):
        """Fitted AMEs at the published cells.

        Returns
        -------
        ndarray
            One AME per target, in ``self.targets`` order.
        """
        ame = {s: cf.probit_ame(fits[s]) for s in SAMPLES}
        return np.array([ame[s][k] for s, k in self.where])

    def dev(self, fits):
        """Standardised deviations from the published values.

        Returns
        -------
        ndarray
            ``(fitted AME - published) / published SE`` per target.
        """
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
        room = [
            j2
            for j2 in range(3)
            if j2 != j
            and MIN_LEFT < t[i, j2] + sign < sizes[i, j2] - MIN_LEFT
            and MIN_LEFT < t[k, j2] - sign < sizes[k, j2] - MIN_LEFT
        ]
        j2 = room[0]
        t[i, j] -= sign
        t[i, j2] += sign
        t[k, j2] -= sign
        t[k, j] += sign
    raise RuntimeError("no feasible reimbursed cell counts")


def calibrate(
    problem: ProbitProblem, b0: np.ndarray, n_fixed: int = 40, n_polish: int = 400
):
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
        gap = p.ames(fits) - p.tval
        step = 0.9 if it < 20 else 0.5
        phi = {s: cf.norm_pdf(fits[s].eta).mean() for s in SAMPLES}
        by = {(t.sample, t.term): gap[k] for k, t in enumerate(p.targets)}
        for k, t in enumerate(TERMS):
            if (
                t in ("const", "age_sq")
                or t.startswith("scope:")
                or t.startswith("scheme:")
            ):
                continue
            b[k] -= step * by[("total", t)] / phi["total"]
        d = by[("total", "scheme:UEBMI")] - by[("total", "scheme:URBMI")]
        b[term["scheme:UEBMI"]] -= step * d / phi["total"]
        for j, t in enumerate(SCOPE_TERMS):
            b[iscope[j]] -= step * by[("ncms", t)] / phi["ncms"]
            h = b[iscope[j]] + g[j] - step * by[("urban", t)] / phi["urban"]
            g[j] = h - b[iscope[j]]
    _, y, b, g = best
    score = p.index(b, g) + p.e
    global BAND, AIM, LP_AIM
    saved = BAND, AIM, LP_AIM
    result = None
    try:
        # chained rounds, each from the best state so far, with other candidate bands
        # and aims (a different landscape helps the local search escape; deterministic)
        for band, aim in ROUNDS:
            BAND, AIM, LP_AIM = band, aim, aim - 0.01
            y = batch_polish(p, y.copy(), score)
            y, report = polish(p, y, b, g, n_polish)
            if result is None or report["max_dev"] < result[1]["max_dev"]:
                result = (y.copy(), report)
            if result[1]["max_dev"] < DONE:
                break
            y = result[0].copy()
    finally:
        BAND, AIM, LP_AIM = saved
    y, report = result
    return y, b, g, report


def batch_polish(p: ProbitProblem, y, score, n_outer: int = 40, max_moves: int = 60):
    """Many swaps per exact refit, planned jointly on the linearised deviations.

    Each round computes the one-step influence of every flip on all 29 deviations,
    then greedily plans a sequence of moves (within-cell pair swaps and margin-keeping
    4-cycles across cells) on the linear model, each the best available for the
    penalty of all 29 cells at once. The plan is applied and checked by exact refits
    (whole plan, then its first half, quarter, ...); the first prefix that lowers the
    exact penalty is kept.
    """
    fits = p.fits(y)
    r = p.dev(fits)
    cur = float(_focus(r))
    for _ in range(n_outer):
        if np.max(np.abs(r)) < TOL:
            break
        infl = _influence(p, fits, y)
        accepted = False
        planners = [partial(_lp_plan, alpha=al) for al in (1.0, 0.5)] + [_dive_plan]
        for planner in planners + [_plan_moves, _anneal_plan]:
            plan = planner(p, y, score, r, infl, max_moves)
            y, fits, r, cur, accepted = _try_plan(p, y, fits, r, cur, plan)
            if accepted:
                break
        if not accepted:
            break
    return y


def _try_plan(p, y, fits, r, cur, plan):
    """Apply the longest prefix (full, half, quarter, ...) that lowers the penalty."""
    k = len(plan)
    if DEBUG:
        print("plan", k, "cur", round(cur, 3))
    while k >= 1:
        y2 = y.copy()
        for ones, zeros in plan[:k]:
            y2[list(ones)] = 0
            y2[list(zeros)] = 1
        fits2 = p.fits(y2)
        if all(f.converged for f in fits2.values()):
            r2 = p.dev(fits2)
            new = float(_focus(r2))
            if DEBUG:
                print("  try", k, round(new, 3))
            if new < cur - 1e-9:
                if DEBUG:
                    print(
                        "batch",
                        k,
                        round(new, 3),
                        round(float(np.max(np.abs(r2))), 3),
                    )
                return y2, fits2, r2, new, True
        k //= 2
    return y, fits, r, cur, False


def _plan_moves(p: ProbitProblem, y, score, r, infl, max_moves):
    """Greedy sequence of moves on the linear model (rows flip at most once)."""
    a = r.copy()
    yv = y.copy()
    used = np.zeros(p.n, bool)
    plan = []
    pools = [_cell_pool(p, y, score, c) for c in range(6)]
    big = np.full(infl.shape[1], 1e3)
    for _ in range(max_moves):
        w = 1.0 + 5.0 * (np.abs(a) > TOL)
        now = float(_focus(a))
        best = (now - 1e-6, None)
        for ones, zeros in pools:
            o = ones[~used[ones]]
            z = zeros[~used[zeros]]
            if len(o) == 0 or len(z) == 0:
                continue
            a1 = a + infl[o]
            d0 = infl[z]
            val = _focus(a1[:, None, :] + d0[None, :, :])
            i, j = np.unravel_index(int(np.argmin(val)), val.shape)
            new = float(val[i, j])
            if new < best[0]:
                best = (new, ((int(o[i]),), (int(z[j]),)))
        masked = np.where(used[:, None], big, infl)
        for _, ones, zeros in _interior_moves(p, yv, score, a, masked, w):
            if used[list(ones + zeros)].any():
                continue
            new = float(_focus(a + infl[list(ones)].sum(0) + infl[list(zeros)].sum(0)))
            if new < best[0]:
                best = (new, (ones, zeros))
        if best[1] is None:
            break
        ones, zeros = best[1]
        a = a + infl[list(ones)].sum(0) + infl[list(zeros)].sum(0)
        used[list(ones + zeros)] = True
        yv[list(ones)] = 0
        yv[list(zeros)] = 1
        plan.append((ones, zeros))
    return plan


def _influence(p: ProbitProblem, fits, y):
    """Predicted change of the 29 deviations (SE units) from flipping each row.

    Returns
    -------
    ndarray
        ``(N, 29)``: one-step (Newton) influence of each row's flip on every target.
    """
    out = np.zeros((p.n, len(p.targets)))
    for s in SAMPLES:
        f = fits[s]
        xs = p.xs[s]
        ys = y[p.masks[s]]
        g_now = cf._mills(ys, f.eta)
        g_flip = cf._mills(1 - ys, f.eta)
        dscore = xs * (g_flip - g_now)[:, None]
        db = numerics.solve_spd(f.info, dscore.T).T  # rows x k
        dame = numerics.matmul(db, cf.probit_ame_jac(f, xs).T)
        idx = [k for k, (smp, _) in enumerate(p.where) if smp == s]
        pos = [p.where[k][1] for k in idx]
        out[np.ix_(np.flatnonzero(p.masks[s]), idx)] += dame[:, pos] / p.tse[idx]
    return out


def _focus(r):
    """Penalty of the polish: the excess over AIM (steep), plus a little of the rest."""
    return 10.0 * np.sum(
        np.maximum(np.abs(r) - AIM, 0.0) ** 2, axis=-1
    ) + 0.02 * np.sum(r**2, axis=-1)


def polish(p: ProbitProblem, y, b, g, n_iter):
    """Greedy pair swaps inside cells (see module docstring)."""
    score = p.index(b, g) + p.e
    fits = p.fits(y)
    r = p.dev(fits)
    cur = float(_focus(r))
    swaps = 0
    tabu: set[tuple[int, int]] = set()
    for _ in range(n_iter):
        if np.max(np.abs(r)) < TOL:
            break
        infl = _influence(p, fits, y)
        w = 1.0 + 5.0 * (np.abs(r) > TOL)
        cands = []
        for c in range(6):
            ones, zeros = _cell_pool(p, y, score, c)
            a = r + infl[ones]
            bz = infl[zeros]
            val = (
                np.sum(w * a * a, axis=1)[:, None]
                + 2 * numerics.matmul(a * w, bz.T)
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
            new = float(_focus(r2))
            if new < cur - 1e-9:
                if DEBUG:
                    print(
                        swaps,
                        len(i),
                        round(new, 2),
                        round(float(np.max(np.abs(r2))), 3),
                    )
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
    d = np.array(
        [infl[list(i)].sum(axis=0) + infl[list(j)].sum(axis=0) for _, i, j in cands]
    )
    a = r + d
    val = (
        np.sum(w * a * a, axis=1)[:, None]
        + 2 * numerics.matmul(a * w, d.T)
        + np.sum(w * d * d, axis=1)[None, :]
    )
    val[np.tril_indices(len(cands))] = np.inf
    out = []
    for f in np.argsort(val, axis=None)[: 4 * n_best]:
        u, v = np.unravel_index(f, val.shape)
        ru = set(cands[u][1]) | set(cands[u][2])
        rv = set(cands[v][1]) | set(cands[v][2])
        if ru & rv:
            continue
        out.append(
            (float(val[u, v]), cands[u][1] + cands[v][1], cands[u][2] + cands[v][2])
        )
        if len(out) >= n_best:
            break
    return out


def _anneal_plan(p: ProbitProblem, y, score, r, infl, max_moves, steps=20000, seed=0):
    """Balanced within-cell flips chosen by simulated annealing on the linear model.

    State: a set of flips with, in every cell, as many 1 -> 0 as 0 -> 1 (counts kept).
    Moves: add a pair, drop a pair, or exchange one chosen row for an unchosen row of
    the same cell and direction. Objective: the penalty of the predicted deviations
    plus a small cost per flip. Unlike greedy swaps it can accept temporary losses, so
    it finds combinations whose side effects cancel.
    """
    rng = np.random.default_rng(seed)
    pools = [tuple(map(list, _cell_pool(p, y, score, c))) for c in range(6)]
    chosen = [([], []) for _ in range(6)]
    a = r.copy()
    cost = 0.003

    def objective(vec, nflip):
        return float(_focus(vec)) + cost * nflip

    nflip = 0
    cur = objective(a, 0)
    best = (cur, [([], []) for _ in range(6)])
    t0, t1 = 0.05, 0.0005
    for step in range(steps):
        temp = t0 * (t1 / t0) ** (step / steps)
        c = int(rng.integers(6))
        ones, zeros = pools[c]
        co, cz = chosen[c]
        kind = rng.random()
        if kind < 0.3 or not co:
            if nflip >= 2 * max_moves:
                continue
            free_o = len(ones) - len(co)
            free_z = len(zeros) - len(cz)
            if free_o == 0 or free_z == 0:
                continue
            i = ones[int(rng.integers(len(ones)))]
            j = zeros[int(rng.integers(len(zeros)))]
            if i in co or j in cz:
                continue
            delta = infl[i] + infl[j]
            new = objective(a + delta, nflip + 2)
            if new < cur or rng.random() < np.exp((cur - new) / temp):
                co.append(i)
                cz.append(j)
                a, cur, nflip = a + delta, new, nflip + 2
        elif kind < 0.45:
            k1 = int(rng.integers(len(co)))
            k2 = int(rng.integers(len(cz)))
            delta = -infl[co[k1]] - infl[cz[k2]]
            new = objective(a + delta, nflip - 2)
            if new < cur or rng.random() < np.exp((cur - new) / temp):
                co.pop(k1)
                cz.pop(k2)
                a, cur, nflip = a + delta, new, nflip - 2
        else:
            side = rng.random() < 0.5
            lst, pool = (co, ones) if side else (cz, zeros)
            k = int(rng.integers(len(lst)))
            j = pool[int(rng.integers(len(pool)))]
            if j in lst:
                continue
            delta = infl[j] - infl[lst[k]]
            new = objective(a + delta, nflip)
            if new < cur or rng.random() < np.exp((cur - new) / temp):
                lst[k] = j
                a, cur = a + delta, new
        if cur < best[0]:
            best = (cur, [(list(o), list(z)) for o, z in chosen])
    plan = []
    for co, cz in best[1]:
        # co and cz grow, shrink and swap entries together: always equal length
        plan += [((int(i),), (int(j),)) for i, j in zip(co, cz, strict=True)]
    return plan


def _lp_plan(p: ProbitProblem, y, score, r, infl, max_moves, alpha=1.0):
    """Pair swaps from the LP relaxation of the flip program (fast, deterministic).

    Continuous lam_i in [0, 1] for each near-threshold row; minimise the L1 excess of
    the predicted deviations over LP_AIM plus a small cost per flip, with every
    cell's count kept. Within each cell the rows are paired in order of lam and the
    pairs with lam_one + lam_zero > 1 (mostly chosen) form the plan, best first.
    """
    from scipy.optimize import linprog

    cand, sign, cells = _near_threshold(p, y, score)
    m, k = len(cand), len(r)
    d = infl[cand].T
    eye = np.eye(k)
    a_ub = np.vstack([np.hstack([d, -eye]), np.hstack([-d, -eye])])
    # aim at the deviations moved a share alpha of the way (damped steps flip fewer
    # rows)
    r = alpha * r
    b_ub = np.concatenate([LP_AIM - r, LP_AIM + r])
    net = np.zeros((6, m))
    net[cells, np.arange(m)] = sign
    a_eq = np.hstack([net, np.zeros((6, k))])
    cost = np.concatenate([np.full(m, 2e-3), np.ones(k)])
    bounds = [(0, 1)] * m + [(0, None)] * k
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=np.zeros(6),
        bounds=bounds,
        method="highs",
    )
    if res.x is None:
        return []
    lam = np.clip(res.x[:m], 0.0, 1.0)
    # randomised rounding (seeded), each draw balanced per cell, scored on the linear
    # model
    rng = np.random.default_rng(0)
    r0 = r / alpha
    best = (float(_focus(r0)), [])
    for draw in range(N_ROUNDINGS):
        u = np.full(m, 0.5) if draw == 0 else rng.random(m)
        pick = lam > u
        plan = []
        for c in range(6):
            o = np.flatnonzero((cells == c) & (sign < 0) & pick)
            z = np.flatnonzero((cells == c) & (sign > 0) & pick)
            o = o[np.argsort(-lam[o], kind="stable")]
            z = z[np.argsort(-lam[z], kind="stable")]
            n = min(len(o), len(z))
            plan += [
                (int(cand[i]), int(cand[j]), lam[i] + lam[j])
                for i, j in zip(o[:n], z[:n], strict=True)
            ]
        if not plan:
            continue
        plan.sort(key=lambda t: -t[2])
        plan = plan[:max_moves]
        rows = [i for i, j, _ in plan] + [j for i, j, _ in plan]
        val = float(_focus(r0 + infl[rows].sum(0)))
        if val < best[0]:
            best = (val, plan)
    if DEBUG:
        print(
            "lp excess",
            round(float(res.x[m:].sum()), 3),
            "pairs",
            len(best[1]),
            "pred",
            round(best[0], 3),
        )
    return [((i,), (j,)) for i, j, _ in best[1]]


def _dive_plan(p: ProbitProblem, y, score, r, infl, max_moves, max_dive=25):
    """LP-guided dive: fix the pair the relaxation wants most, re-solve, repeat.

    Each step solves the LP relaxation of ``_lp_plan`` on the predicted deviations
    so far (rows already fixed excluded), then fixes the within-cell pair with the
    largest lam_one + lam_zero. The prefix with the lowest predicted penalty is the
    plan. Deterministic; a dozen small LPs.
    """
    from scipy.optimize import linprog

    cand, sign, cells = _near_threshold(p, y, score)
    m, k = len(cand), len(r)
    d = infl[cand].T
    eye = np.eye(k)
    a_ub = np.vstack([np.hstack([d, -eye]), np.hstack([-d, -eye])])
    net = np.zeros((6, m))
    net[cells, np.arange(m)] = sign
    a_eq = np.hstack([net, np.zeros((6, k))])
    cost = np.concatenate([np.full(m, 2e-3), np.ones(k)])
    free = np.ones(m, bool)
    rv = r.copy()
    pairs = []
    best = (float(_focus(r)), 0)
    for _ in range(min(max_dive, max_moves)):
        bounds = [(0, 1 if f else 0) for f in free] + [(0, None)] * k
        res = linprog(
            cost,
            A_ub=a_ub,
            b_ub=np.concatenate([LP_AIM - rv, LP_AIM + rv]),
            A_eq=a_eq,
            b_eq=np.zeros(6),
            bounds=bounds,
            method="highs",
        )
        if res.x is None:
            break
        lam = res.x[:m] * free
        top = None
        for c in range(6):
            o = np.flatnonzero((cells == c) & (sign < 0) & free)
            z = np.flatnonzero((cells == c) & (sign > 0) & free)
            if len(o) == 0 or len(z) == 0:
                continue
            i, j = o[np.argmax(lam[o])], z[np.argmax(lam[z])]
            if top is None or lam[i] + lam[j] > top[0]:
                top = (lam[i] + lam[j], i, j)
        if top is None or top[0] < 0.2:
            break
        _, i, j = top
        free[i] = free[j] = False
        rv = rv + d[:, i] + d[:, j]
        pairs.append(((int(cand[i]),), (int(cand[j]),)))
        val = float(_focus(rv))
        if val < best[0]:
            best = (val, len(pairs))
    if DEBUG:
        print("dive", len(pairs), "best prefix", best[1], "pred", round(best[0], 3))
    return pairs[: best[1]]


def _near_threshold(p: ProbitProblem, y, score):
    """Return the rows allowed to flip, their flip sign and their cell.

    Per cell, the BAND share of its ones and of its zeros nearest the threshold; the
    sign is -1 for a 1 -> 0 flip and +1 for 0 -> 1.
    """
    cand, sign, cells = [], [], []
    for c in range(6):
        ones, zeros = _cell_pool(p, y, score, c)
        cand += [ones, zeros]
        sign += [np.full(len(ones), -1.0), np.full(len(zeros), 1.0)]
        cells += [np.full(len(ones) + len(zeros), c)]
    return np.concatenate(cand), np.concatenate(sign), np.concatenate(cells)


def _cell_pool(p: ProbitProblem, y, score, c: int):
    """Return cell ``c``'s ones and zeros nearest the threshold (BAND share of each)."""
    rows = np.flatnonzero(p.cell == c)
    ones = rows[y[rows] == 1]
    zeros = rows[y[rows] == 0]
    ones = ones[np.argsort(score[ones])][: max(1, int(BAND * len(ones)))]
    zeros = zeros[np.argsort(-score[zeros])][: max(1, int(BAND * len(zeros)))]
    return ones, zeros


# --- acceptance of a calibrated draw ----------------------------------------------
# What the probit column must give for the Tables 3-4 targets to hold
# (analysis.exhibits.report):
# SEs within SE_WINDOW of the published SE in at least 85% of the 90 cells (77) and
# identical stars in at least 95% (86). The 60 amount and ratio cells are met by
# calibrate_score on every draw measured, and the probit age_sq cell (published 0.000)
# always is, so the 29 probit targets here need 16 SEs and 25 stars.
SE_WINDOW = 0.15
NEED_SE_OK = 16
NEED_STARS_OK = 25
POINT_OK = 0.1  # |deviation| in published SEs
Z_STARS = (2.575829, 1.959964)  # "**" p < 0.01, "*" p < 0.05 (two-sided normal)
ROUND = 6  # decimals kept before a threshold decides (no last-bit dependence)


def verdict(p: ProbitProblem, y) -> dict:
    """Points, SEs and stars of the 29 probit targets as the report would judge them.

    Computed with the BLAS-free fits and delta-method SEs of ``calibrate_fit`` (the
    pipeline's estimator: OIM, column-wise derivative AMEs); every ratio and z is
    rounded to ROUND decimals before it meets a threshold.

    Returns
    -------
    dict
        ``points``, ``se_ok``, ``stars_ok`` (counts of the 29 targets), ``meets`` (all
        points within POINT_OK and at least NEED_SE_OK / NEED_STARS_OK) and
        ``shortfall`` (cells missing to the SE and star counts, 0 when met).
    """
    fits = p.fits(y)
    ame = p.ames(fits)
    se_by = {s: cf.probit_ame_se(fits[s], p.xs[s]) for s in SAMPLES}
    se = np.array([se_by[s][k] for s, k in p.where])
    dev = np.round(np.abs(ame - p.tval) / p.tse, ROUND)
    ratio = np.round(se / p.tse, ROUND)
    z = np.round(np.abs(ame) / se, ROUND)
    got = np.where(z > Z_STARS[0], "**", np.where(z > Z_STARS[1], "*", ""))
    published = np.array([t.stars for t in p.targets])
    points = int(np.sum(dev <= POINT_OK))
    se_ok = int(np.sum(np.abs(ratio - 1) <= SE_WINDOW))
    stars_ok = int(np.sum(got == published))
    converged = all(f.converged for f in fits.values())
    shortfall = max(NEED_SE_OK - se_ok, 0) + max(NEED_STARS_OK - stars_ok, 0)
    return {
        "points": points,
        "se_ok": se_ok,
        "stars_ok": stars_ok,
        "shortfall": shortfall,
        "meets": converged and points == len(p.targets) and shortfall == 0,
    }
