"""Calibrate the ratio and cost indices so the fitted GLMs give back Tables 3-4.

EXPERIMENTAL, NOT WIRED INTO ``analytic.py``: measured on the master seed it does not
converge (docs/calibration.md, "The GLM calibration").

The money outcomes go through two steps: the DGP (Beta ratio with mean logistic(X a),
Gamma cost with mean exp(X c), amount = ratio x cost) and the moment step
(``calibrate_moments``: monotone per-cell transforms, rounding to yuan, nudging) that
puts every Table 1/2 moment in its rounding window. The moment step moves the fitted
regressions, so the calibration is an outer fixed point around the *whole* chain, on
fixed draws (deterministic):

    theta <- theta - G^-1 (fit(moment_step(DGP(theta))) - published)

with ``G`` the diagonal first-order gain: a ratio AME (Gamma-log, column-wise
derivative) moves by about mean(r)(1 - mean(r)) per unit of ``a_k``; an amount
coefficient (Gamma-log on the amount) by one per unit of ``c_k`` (exact for the DGP:
the Gamma-log fit is equivariant under amount -> amount exp(x'd)) and by (1 - mean r)
per unit of ``a_k``. The subsample (Table 4) scope effects get their own levers: the
DGP's scope effects are the NCMS ones and an urban x scope interaction carries the
difference. The best iterate (largest deviation in published SEs) is kept.
"""

from __future__ import annotations

import numpy as np

from analysis.synth import calibrate_fit as cf
from analysis.synth.calibrate_targets import SCOPE_TERMS, TERMS, columns, table_targets

SAMPLES = ("total", "ncms", "urban")
RATIO_GAIN = 0.22
N_ITER = 14
DEBUG = False
SECANT = False


class GlmProblem:
    def __init__(self, frame, x):
        col = frame["column"].to_numpy()
        scope = frame["scope"].astype(str).to_numpy()
        self.p2 = (frame["in_part2"] == 1).to_numpy()
        self.masks = {
            "total": self.p2,
            "ncms": self.p2 & (col == "ncms"),
            "urban": self.p2 & (col == "urban"),
        }
        self.xs = {s: x[self.masks[s]][:, columns(s)] for s in SAMPLES}
        self.urban_scope = np.column_stack(
            [(col == "urban") & (scope == s.split(":")[1]) for s in SCOPE_TERMS]
        ).astype(float)
        self.x_ext = np.column_stack([x, self.urban_scope])
        self.targets = {eq: table_targets(eq) for eq in ("amount", "ratio")}
        self.where = [
            (t.sample, int(np.flatnonzero(columns(t.sample) == TERMS.index(t.term))[0]))
            for t in self.targets["ratio"]
        ]
        self.start = {}

    def fit(self, amount, cost):
        """Fitted amount coefficients and ratio AMEs at the published cells."""
        out = {"amount": [], "ratio": []}
        fits = {}
        for s in SAMPLES:
            m = self.masks[s]
            a = amount[m]
            r = a / cost[m]
            fa = cf.gamma_log(self.xs[s], a, self.start.get((s, "a")))
            fr = cf.gamma_log(self.xs[s], r, self.start.get((s, "r")))
            self.start[(s, "a")], self.start[(s, "r")] = fa.b, fr.b
            fits[s] = (fa, fr)
        for s, k in self.where:
            fa, fr = fits[s]
            out["amount"].append(fa.b[k])
            out["ratio"].append(cf.gamma_ame(fr)[k])
        return {e: np.array(v) for e, v in out.items()}, fits

    def dev(self, est):
        return {
            e: (est[e] - np.array([t.value for t in self.targets[e]]))
            / np.array([t.se for t in self.targets[e]])
            for e in est
        }


def calibrate(problem: GlmProblem, a0, c0, money, n_iter: int = N_ITER):
    """Solve for (a, c) (DGP index coefficients, 29 each: 27 + urban x scope).

    ``money(a, c)`` returns the final (amount, cost) arrays over all rows (NaN outside
    part 2) after the moment step. Returns (a, c, amount, cost, report).
    """
    p = problem
    a = np.concatenate([a0, np.zeros(2)])
    c = np.concatenate([c0, np.zeros(2)])
    term = {t: k for k, t in enumerate(TERMS)}
    best = None
    history = []
    scale = {"ratio": 1.0, "amount": 1.0}  # secant correction of the first-order gains
    prev = None
    step_size = 0.5
    for it in range(n_iter):
        try:
            amount, cost = money(a, c)
        except RuntimeError:  # moment step infeasible at this iterate: back off
            a, c = best[1] + 0.5 * (a - best[1]), best[2] + 0.5 * (c - best[2])
            continue
        est, _ = p.fit(amount, cost)
        dev = p.dev(est)
        worst = max(float(np.max(np.abs(d))) for d in dev.values())
        history.append(worst)
        if DEBUG:
            for e in dev:
                big = [(t.sample, t.term, round(float(d), 2)) for t, d in zip(p.targets[e], dev[e]) if abs(d) > 0.5]
                print(it, e, round(float(np.max(np.abs(dev[e]))), 2), scale, big[:6])
        if best is None or worst < best[0]:
            best = (worst, a.copy(), c.copy(), amount, cost, dev)
        if worst < 0.05:
            break
        if prev is not None:
            for e in scale:
                pred, d_est = prev[1][e], est[e] - prev[0][e]
                ok = np.abs(pred) > 1e-9
                if ok.sum() > 3:
                    gain = float(np.dot(d_est[ok], pred[ok]) / np.dot(pred[ok], pred[ok]))
                    scale[e] = float(np.clip(scale[e] * gain, 0.2, 3.0)) if SECANT else scale[e]
        gaps = {
            e: {(t.sample, t.term): est[e][i] - t.value for i, t in enumerate(p.targets[e])}
            for e in est
        }
        rbar = np.nanmean((amount / cost)[p.p2])
        g_r = RATIO_GAIN * scale["ratio"]
        da = np.zeros_like(a)
        for k, t in enumerate(TERMS):
            if t in ("const", "age_sq") or t.startswith("scope:"):
                continue
            da[k] = -step_size * gaps["ratio"][("total", t)] / g_r
        for j, t in enumerate(SCOPE_TERMS):
            k = term[t]
            da[k] = -step_size * gaps["ratio"][("ncms", t)] / g_r
            da[len(TERMS) + j] = -step_size * gaps["ratio"][("urban", t)] / g_r - da[k]
        g_a = scale["amount"]
        dc = np.zeros_like(c)
        for k, t in enumerate(TERMS):
            if t in ("const", "age_sq") or t.startswith("scope:"):
                continue
            dc[k] = -step_size * gaps["amount"][("total", t)] / g_a - (1 - rbar) * da[k]
        for j, t in enumerate(SCOPE_TERMS):
            k = term[t]
            dc[k] = -step_size * gaps["amount"][("ncms", t)] / g_a - (1 - rbar) * da[k]
            du = -step_size * gaps["amount"][("urban", t)] / g_a - (1 - rbar) * (
                da[k] + da[len(TERMS) + j]
            )
            dc[len(TERMS) + j] = du - dc[k]
        # predicted change of each published cell (for the secant gain update)
        pred = {"ratio": np.array([-step_size * gaps["ratio"][(t.sample, t.term)] for t in p.targets["ratio"]]),
                "amount": np.array([-step_size * gaps["amount"][(t.sample, t.term)] for t in p.targets["amount"]])}
        prev = (est, pred)
        a, c = a + da, c + dc
    worst, a, c, amount, cost, dev = best
    return a, c, amount, cost, {"max_dev": worst, "dev": dev, "history": history}
