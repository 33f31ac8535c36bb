"""Step 2, participation (continued): flip near-threshold rows to finish the probit.

After :func:`analysis.synth.calibration.participation.fixed_point`, one within-cell
swap of outcomes moves the 29 probit cells by 0.1-0.3 published SE in many directions
at once. The polish predicts each flip's effect on all 29 deviations by its one-step
(Newton) influence on the three probit fits (a linear model of the deviations) and
keeps a move only when exact refits lower :func:`participation.penalty`. Every move
keeps each (column x scope) cell's reimbursed count, so no published count moves.

1. Batch polish (:func:`_batch_polish`): many flips per exact refit. Planners, tried
   in turn until one lowers the exact penalty: the LP relaxation of "which rows flip"
   (minimise the L1 excess of the predicted deviations over LP_AIM, every cell count
   kept) with seeded randomised rounding, full and half steps; an LP-guided dive (fix
   the pair the LP wants most, re-solve); greedy pair swaps and margin-keeping
   4-cycles across cells (which move the two free interior counts); simulated
   annealing on the linear model. A plan is applied whole, then halved, ..., and kept
   only if exact refits confirm it.
2. Single swaps (:func:`_single_swaps`): the best predicted pair swaps, 4-cycles and
   pairs of those, each verified by exact refits, until every |deviation| < TOL.

Deterministic: seeded rounding and annealing, HiGHS LPs, ties to the first row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.optimize import linprog

from analysis.synth import numerics
from analysis.synth.calibration import fits as cf
from analysis.synth.calibration.participation import (
    AIM,
    MIN_LEFT,
    SAMPLES,
    TOL,
    ProbitProblem,
    penalty,
)

BAND = 0.6  # share of each cell's ones/zeros nearest the threshold that may flip
# predicted |deviation| the LP plans aim under (slack for the linearisation)
LP_AIM = AIM - 0.01
# seeded randomised roundings of the LP relaxation, scored on the linear model
N_ROUNDINGS = 200
FLIP_COST = 2e-3  # LP cost of one flip, against 1 per SE of excess deviation
SINGLE_SWAPS = 400


def polish(p: ProbitProblem, y, score, n_single: int = SINGLE_SWAPS):
    """Return the polished outcome and a report (swaps, largest |deviation|).

    Parameters
    ----------
    p : ProbitProblem
        The participation problem (its warm starts are updated).
    y : ndarray
        Reimbursed (0/1) from the fixed point; not changed.
    score : ndarray
        The latent score of the fixed point: which rows are near the threshold.
    n_single : int
        Rounds of single swaps at most.

    Returns
    -------
    y : ndarray
        The polished 0/1 outcome (cell counts as in the input).
    report : dict
        ``swaps`` (single swaps applied), ``max_dev`` and ``dev`` (deviations in
        published SEs).
    """
    y = _batch_polish(p, y.copy(), score)
    return _single_swaps(p, y, score, n_single)


def _batch_polish(p: ProbitProblem, y, score, n_outer: int = 40, max_moves: int = 60):
    """Many swaps per exact refit, planned jointly on the linearised deviations.

    Each round computes the one-step influence of every flip on all 29 deviations,
    then asks the PLANNERS in turn for a plan of moves (within-cell pair swaps, and
    margin-keeping 4-cycles across cells) on that linear model. A plan is applied and
    checked by exact refits (whole plan, then its first half, quarter, ...); the first
    prefix that lowers the exact penalty is kept and the next round starts. Stops when
    no planner's plan is confirmed, every |deviation| < TOL, or after ``n_outer``
    rounds.
    """
    fits = p.fits(y)
    r = p.dev(fits)
    cur = float(penalty(r))
    for _ in range(n_outer):
        if np.max(np.abs(r)) < TOL:
            break
        infl = _influence(p, fits, y)
        accepted = False
        for planner in PLANNERS:
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
    while k >= 1:
        y2 = y.copy()
        for ones, zeros in plan[:k]:
            y2[list(ones)] = 0
            y2[list(zeros)] = 1
        fits2 = p.fits(y2)
        if all(f.converged for f in fits2.values()):
            r2 = p.dev(fits2)
            new = float(penalty(r2))
            if new < cur - 1e-9:
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
        now = float(penalty(a))
        best = (now - 1e-6, None)
        for ones, zeros in pools:
            o = ones[~used[ones]]
            z = zeros[~used[zeros]]
            if len(o) == 0 or len(z) == 0:
                continue
            a1 = a + infl[o]
            d0 = infl[z]
            val = penalty(a1[:, None, :] + d0[None, :, :])
            i, j = np.unravel_index(int(np.argmin(val)), val.shape)
            new = float(val[i, j])
            if new < best[0]:
                best = (new, ((int(o[i]),), (int(z[j]),)))
        masked = np.where(used[:, None], big, infl)
        for _, ones, zeros in _interior_moves(p, yv, score, a, masked, w):
            if used[list(ones + zeros)].any():
                continue
            new = float(penalty(a + infl[list(ones)].sum(0) + infl[list(zeros)].sum(0)))
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
        g_now = cf.mills(ys, f.eta)
        g_flip = cf.mills(1 - ys, f.eta)
        dscore = xs * (g_flip - g_now)[:, None]
        db = numerics.solve_spd(f.info, dscore.T).T  # rows x k
        dame = numerics.matmul(db, cf.probit_ame_jac(f, xs).T)
        idx = [k for k, (smp, _) in enumerate(p.where) if smp == s]
        pos = [p.where[k][1] for k in idx]
        out[np.ix_(np.flatnonzero(p.masks[s]), idx)] += dame[:, pos] / p.tse[idx]
    return out


def _single_swaps(p: ProbitProblem, y, score, n_iter):
    """Greedy swaps, each verified by exact refits (see the module docstring)."""
    fits = p.fits(y)
    r = p.dev(fits)
    cur = float(penalty(r))
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
            new = float(penalty(r2))
            if new < cur - 1e-9:
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
        return float(penalty(vec)) + cost * nflip

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


@dataclass(frozen=True)
class _FlipLP:
    """LP relaxation of "which near-threshold rows flip", shared by the LP planners.

    Unknowns: ``lam`` in [0, 1] per candidate flip and the excess of each predicted
    deviation over LP_AIM; minimise FLIP_COST per flip plus the total excess, with
    every cell's count kept (as many 1 -> 0 as 0 -> 1 flips).
    """

    cand: np.ndarray  # candidate rows
    sign: np.ndarray  # -1 for a 1 -> 0 flip, +1 for 0 -> 1
    cells: np.ndarray  # cell of each candidate
    d: np.ndarray  # (targets x candidates) predicted deviation change of each flip
    a_ub: np.ndarray
    a_eq: np.ndarray
    cost: np.ndarray

    @classmethod
    def build(cls, p: ProbitProblem, y, score, infl) -> _FlipLP:
        """Set up the LP of the rows near the threshold (``_near_threshold``)."""
        cand, sign, cells = _near_threshold(p, y, score)
        m, k = len(cand), infl.shape[1]
        d = infl[cand].T
        eye = np.eye(k)
        a_ub = np.vstack([np.hstack([d, -eye]), np.hstack([-d, -eye])])
        net = np.zeros((6, m))
        net[cells, np.arange(m)] = sign
        a_eq = np.hstack([net, np.zeros((6, k))])
        cost = np.concatenate([np.full(m, FLIP_COST), np.ones(k)])
        return cls(cand, sign, cells, d, a_ub, a_eq, cost)

    def solve(self, r, free):
        """The LP's solution at deviations ``r``, only ``free`` candidates movable.

        Returns
        -------
        ndarray or None
            ``lam`` of every candidate (0 where not free), or None if HiGHS fails.
        """
        m, k = len(self.cand), len(r)
        bounds = [(0, 1 if f else 0) for f in free] + [(0, None)] * k
        res = linprog(
            self.cost,
            A_ub=self.a_ub,
            b_ub=np.concatenate([LP_AIM - r, LP_AIM + r]),
            A_eq=self.a_eq,
            b_eq=np.zeros(6),
            bounds=bounds,
            method="highs",
        )
        return None if res.x is None else res.x[:m]


def _lp_plan(p: ProbitProblem, y, score, r, infl, max_moves, alpha=1.0):
    """Pair swaps from the LP relaxation of the flip program (fast, deterministic).

    The LP (:class:`_FlipLP`) aims at the deviations moved a share ``alpha`` of the way
    (damped steps flip fewer rows). Its fractional ``lam`` is rounded by seeded
    randomised draws, each balanced per cell (the rows of a cell paired in order of
    ``lam``), and the draw with the lowest predicted penalty is the plan, best pairs
    first.
    """
    lp = _FlipLP.build(p, y, score, infl)
    cand, sign, cells = lp.cand, lp.sign, lp.cells
    m = len(cand)
    lam = lp.solve(alpha * r, np.ones(m, bool))
    if lam is None:
        return []
    lam = np.clip(lam, 0.0, 1.0)
    rng = np.random.default_rng(0)
    best = (float(penalty(r)), [])
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
        val = float(penalty(r + infl[rows].sum(0)))
        if val < best[0]:
            best = (val, plan)
    return [((i,), (j,)) for i, j, _ in best[1]]


def _dive_plan(p: ProbitProblem, y, score, r, infl, max_moves, max_dive=25):
    """LP-guided dive: fix the pair the relaxation wants most, re-solve, repeat.

    Each step solves the LP relaxation (:class:`_FlipLP`) on the predicted deviations
    so far (rows already fixed excluded), then fixes the within-cell pair with the
    largest lam_one + lam_zero. The prefix with the lowest predicted penalty is the
    plan. Deterministic; a dozen small LPs.
    """
    lp = _FlipLP.build(p, y, score, infl)
    cand, sign, cells, d = lp.cand, lp.sign, lp.cells, lp.d
    free = np.ones(len(cand), bool)
    rv = r.copy()
    pairs = []
    best = (float(penalty(r)), 0)
    for _ in range(min(max_dive, max_moves)):
        lam = lp.solve(rv, free)
        if lam is None:
            break
        lam = lam * free
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
        val = float(penalty(rv))
        if val < best[0]:
            best = (val, len(pairs))
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


# Planners of the batch polish, tried in this order each round.
PLANNERS = (
    partial(_lp_plan, alpha=1.0),
    partial(_lp_plan, alpha=0.5),
    _dive_plan,
    _plan_moves,
    _anneal_plan,
)
