"""Array-level hooks for refitting a two-part model many times (bootstrap, simulation).

Three public pieces, all pure numpy once built, with no formula parsing and no
pandas:

* :func:`fit_binary` and :func:`fit_glm`: one part fitted from (y, X, weights) by the
  Newton steps of :mod:`.newton` from a given start (e.g. the full-sample
  estimates), raising the package's errors on failure;
* :func:`check_resample`: the cheap checks a resample can fail (a factor level lost,
  a 0/1 regressor that predicts participation perfectly, no zeros or no positives);
  fitted probabilities of 0 or 1 are not a failure (Stata fits such models), only
  a refit that does not converge is, reported as separation when the outcomes
  are separated by a combination of columns (:mod:`.separation`);
  :func:`refit_binary` and :func:`refit_glm` are one resample's checks and refit;
* :class:`MarginPlan`: every ``dydx`` average marginal effect of
  :meth:`TwoPartResults.margins` (part 1, part 2 on its positives, combined with the
  extensive/intensive split) as a function of the coefficients and row weights,
  with the counterfactual and derivative columns precomputed once.

Notes
-----
Weights are frequency weights (bootstrap counts or rescaled survey-bootstrap
weights): a row with weight 0 is absent and a row with weight 2 counts twice, so
``fit_*(y, X, w)`` equals the fit on the resampled rows and the margins are
weighted means over them. With M the margin-relevant columns (a derivative
block d x_ij / d v per continuous variable, counterfactual minus observed columns
per factor level), one evaluation costs a few N x M products: for continuous v,
AME = omega'(h'(eta) * D) B_v / sum(omega) with D the stacked derivative blocks and
B_v their coefficients; for a factor level, eta_l = eta + C_l b[idx_l] and
AME = omega'(h(eta_l) - h(eta_base)) / sum(omega). The combined split follows
:mod:`.margins` exactly (derivative: F' db h + F h' dg; discrete: symmetric
Shapley split). ``tests/test_bootstrap.py`` checks the plan against
``TwoPartResults.margins`` to 1e-10.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dposv as _dposv
from scipy.special import expit, log_ndtr

from .design import level_label
from .errors import (
    CollinearityError,
    ConvergenceError,
    OutcomeError,
    PerfectPredictionError,
    SeparationError,
)
from .fit import MAXITER, glm_family, probit_lambda
from .links import MEANS
from .newton import glm_newton, glm_start, newton
from .separation import separating_direction, separation_message

_FLOAT_EPS = np.finfo(float).eps  # statsmodels' clip of y/mu in the Gamma deviance

Arr = np.ndarray


def fit_binary(
    y: Arr,
    X: Arr,
    model: str = "probit",
    w: Arr | None = None,
    start=None,
    maxiter: int = MAXITER,
    names: Sequence[str] | None = None,
) -> Arr:
    """Probit/logit coefficients by Newton from ``start`` (zeros by default).

    Fitted probabilities of 0 or 1 are not a failure (Stata fits such models
    and only notes the rows "completely determined"); a refit fails only when
    Newton does not converge, and is then reported as separation when a
    direction exists along which the likelihood keeps rising.

    Raises
    ------
    SeparationError
        Non-convergence with the outcomes separated by a combination of the
        columns, among rows with positive weight
        (:func:`.separation.separating_direction`).
    ConvergenceError
        Non-convergence otherwise, or a singular information matrix.
    """
    b0 = np.zeros(X.shape[1]) if start is None else start
    with np.errstate(all="ignore"):
        b, iters, ok, X, y, w = _lean_newton(X, y, w, model, b0, maxiter)
    if not ok or not np.all(np.isfinite(b)):
        direction = separating_direction(X, y)
        if direction is not None:
            raise SeparationError(
                separation_message(
                    f"part 1 {model}", column_names(X, names), X, y, direction
                )
            )
        raise ConvergenceError(f"part 1 {model} did not converge ({iters} steps)")
    return b


def fit_glm(
    y: Arr,
    X: Arr,
    family: str = "gamma",
    link: str = "log",
    w: Arr | None = None,
    start=None,
    maxiter: int = MAXITER,
) -> Arr:
    """GLM coefficients (observed-information Newton) from ``start``.

    ``start`` defaults to the package's one-IRLS-step start. Raises
    :class:`ConvergenceError` on failure (as :func:`fit_binary`).
    """
    fam = glm_family(family, link)
    if start is None:
        with np.errstate(all="ignore"):
            start = glm_start(X, y, fam, w)
    if (family, link) == ("gamma", "log"):
        with np.errstate(all="ignore"):
            b, iters, ok, *_ = _lean_newton(X, y, w, "gamma_log", start, maxiter)
    else:
        b, iters, ok = glm_newton(X, y, fam, w, start, maxiter)
    if not ok or not np.all(np.isfinite(b)):
        raise ConvergenceError(
            f"part 2 glm {family}/{link} did not converge ({iters} steps)"
        )
    return b


def refit_binary(y, X, model, w, start, binary, names=None) -> Arr:
    """One resample's part 1: :func:`check_resample`, then :func:`fit_binary`."""
    check_resample(X, w, binary, y, names=names)
    return fit_binary(y, X, model, w, start=start, names=names)


def refit_glm(y, X, family, link, w, start, binary, names=None) -> Arr:
    """One resample's part 2: :func:`check_resample`, then :func:`fit_glm`."""
    check_resample(X, w, binary, names=names)
    return fit_glm(y, X, family, link, w, start=start)


def _lean_newton(X, y, w, kind, start, maxiter):
    """Newton for probit / logit / Gamma-log with closed-form factors (small K).

    :func:`.newton.newton` on the rows with positive weight only (a zero-weight
    row adds nothing to any sum), with the score and observed-information factors
    written out (probit: lambda, lambda (lambda + eta); logit: y - p, p (1 - p);
    Gamma-log: y/mu - 1, y/mu) and one LAPACK ``dposv`` per step on the
    information scaled to unit diagonal. Returns (params, iterations, converged,
    X, y, w) with the arrays restricted to the rows used.
    """
    if w is not None:
        keep = w > 0.0
        if not keep.all():
            X, y, w = X[keep], y[keep], w[keep]
    ww = np.ones(y.size) if w is None else w
    if kind == "gamma_log":
        # deviance / 2 = sum w (r - 1 - log r), r = y/mu (statsmodels clips r)
        def objective(eta):
            r = y * np.exp(-eta)
            v = r - 1.0 - np.log(np.maximum(r, _FLOAT_EPS))
            return -2.0 * float(ww @ v)

        def factors(eta):
            r = y * np.exp(-eta)
            return ww * (r - 1.0), ww * r

    elif kind == "probit":
        q = 2.0 * y - 1.0

        def objective(eta):
            return float(ww @ log_ndtr(q * eta))

        def factors(eta):
            lam = probit_lambda(y, eta)
            return ww * lam, ww * (lam * (lam + eta))

    else:  # logit

        def objective(eta):
            return float(ww @ -np.logaddexp(0.0, -(2.0 * y - 1.0) * eta))

        def factors(eta):
            p = expit(eta)
            return ww * (y - p), ww * (p * (1.0 - p))

    XT = X.T

    def direction(weights, g):
        info = XT @ (X * weights[:, None])
        d = np.sqrt(np.abs(info.diagonal()))
        if not np.all(d > 0):
            return None
        s = 1.0 / d
        _, step, bad = _dposv(info * np.outer(s, s), (XT @ g) * s)
        return step * s if not bad and np.all(np.isfinite(step)) else None

    # Fisher scoring (expected information w) when the observed is not PD
    fallback = (lambda eta: ww) if kind == "gamma_log" else None
    b, it, ok = newton(X, objective, factors, start, maxiter, fallback, direction)
    return b, it, ok, X, y, w


def binary_columns(X: Arr) -> Arr:
    """Indices of the 0/1 columns of ``X`` (the constant excluded)."""
    return np.flatnonzero(
        [np.all((c == 0.0) | (c == 1.0)) and not np.all(c == 1.0) for c in X.T]
    )


def column_names(X: Arr, names: Sequence[str] | None) -> list[str]:
    """``names`` of the columns of X, or ``column j`` where none are given."""
    return list(names) if names else [f"column {j}" for j in range(X.shape[1])]


def check_resample(
    X: Arr,
    w: Arr,
    binary: Arr,
    d: Arr | None = None,
    names: Sequence[str] | None = None,
) -> None:
    """Raise if a resample lost a level or a 0/1 column predicts ``d`` perfectly.

    Parameters
    ----------
    X : ndarray (n, k)
        Design of the part.
    w : ndarray (n,)
        Frequency weights (0 = row not drawn).
    binary : ndarray of int
        Indices of 0/1 columns (:func:`binary_columns` on the full sample).
    d : ndarray (n,), optional
        Participation indicator (part 1 only).
    names : sequence of str, optional
        Column names for the messages (default ``column j``).

    Raises
    ------
    CollinearityError
        A 0/1 column constant among the drawn rows (a lost category), or a run
        of consecutive 0/1 columns no drawn row has two of (a factor's dummies)
        that leaves no drawn row with none of them (its reference level lost).
    PerfectPredictionError
        A 0/1 column whose value 1 or 0 fixes participation among the drawn
        rows, or the rows with none of such a run's columns (a factor's
        reference level) all participating or all not: the constant minus the
        run's columns is then a 0/1 column that predicts participation. Stata
        would drop the column and those rows; the replication's coefficient
        vector would then lack that element (and its margins would be of
        another model), so the replication is counted as failed. The checks are
        counts of drawn rows, exact on any machine; left to Newton, a reference
        level that predicts participation can converge to a large coefficient
        on one machine and fail on another.
    OutcomeError
        No zeros or no participants among the drawn rows.
    """
    tot = float(w.sum())
    n1 = w @ X[:, binary]
    lost = (n1 <= 0.0) | (n1 >= tot)
    labels = column_names(X, names)
    if lost.any():
        lost_names = [labels[j] for j in binary[lost]]
        raise CollinearityError(f"lost category: {', '.join(lost_names)}")
    runs = exclusive_runs(X, binary, w > 0)
    for run in runs:
        if n1[run].sum() >= tot:
            run_names = ", ".join(labels[j] for j in binary[run])
            raise CollinearityError(
                f"lost category: the reference level of {run_names} (no drawn row)"
            )
    if d is None:
        return
    npos = float(w @ d)
    if npos <= 0.0 or npos >= tot:
        raise OutcomeError("no zeros or no participants among the drawn rows")
    p1 = (w * d) @ X[:, binary]
    sep = (p1 <= 0.0) | (p1 >= n1) | (npos - p1 <= 0.0) | (npos - p1 >= tot - n1)
    if sep.any():
        sep_names = ", ".join(labels[j] for j in binary[sep])
        raise PerfectPredictionError(
            f"0/1 column(s) {sep_names} predict participation perfectly"
        )
    for run in runs:
        p_ref = npos - p1[run].sum()
        if p_ref <= 0.0 or p_ref >= tot - n1[run].sum():
            run_names = ", ".join(labels[j] for j in binary[run])
            raise PerfectPredictionError(
                f"the rows with none of {run_names} (a reference level) predict "
                "participation perfectly"
            )


def exclusive_runs(X: Arr, binary: Arr, drawn: Arr) -> list[Arr]:
    """Runs of 2+ consecutive 0/1 columns that no drawn row has two of.

    Such a run is the dummies of a factor, whose reference level is the rows with
    none of them. Returns positions in ``binary``; ``drawn`` masks the rows.
    """
    runs: list[list[int]] = []
    current: list[int] = []
    marked = np.zeros(int(drawn.sum()), dtype=bool)
    cols = X[drawn][:, binary] > 0.5
    for pos in range(len(binary)):
        col = cols[:, pos]
        adjacent = current and binary[pos] == binary[current[-1]] + 1
        if adjacent and not np.any(col & marked):
            current.append(pos)
            marked |= col
            continue
        if len(current) > 1:
            runs.append(current)
        current, marked = [pos], col.copy()
    if len(current) > 1:
        runs.append(current)
    return [np.array(r) for r in runs]


@dataclass
class _Blocks:
    """Stacked columns C (N x M) with coefficient index and target of each column."""

    C: Arr
    coef: Arr  # coefficient index per column
    target: Arr  # output slot (variable or scenario) per column
    n_targets: int

    def combine(self, b: Arr) -> Arr:
        """Return the M x T matrix B with B[m, target[m]] = b[coef[m]]."""
        B = np.zeros((self.coef.size, self.n_targets))
        B[np.arange(self.coef.size), self.target] = b[self.coef]
        return B


def _stack(pieces, n: int, n_targets: int) -> _Blocks:
    cols, coef, target = [np.empty((n, 0))], [], []
    for t, (idx, block) in enumerate(pieces):
        cols.append(block)
        coef += list(idx)
        target += [t] * len(idx)
    return _Blocks(
        np.asfortranarray(np.hstack(cols)),
        np.asarray(coef, dtype=np.int64),
        np.asarray(target, dtype=np.int64),
        n_targets,
    )


class MarginPlan:
    """All ``dydx`` margins of a fitted model as a function of (b1, b2, weights).

    Build with :meth:`from_results`; :attr:`labels` lists (part, component,
    term, level) in the row order of ``res.margins(parts=parts)``, and
    :meth:`evaluate` returns the estimates in that order. Part-2 margins average
    over part 2's estimation rows (``part2_sample="positives"``).
    """

    @classmethod
    def from_results(cls, res, parts=("part1", "part2", "combined")) -> MarginPlan:
        """Precompute derivative and counterfactual columns from a fitted model."""
        d1, d2 = res.designs
        self = cls()
        self.X1, self.X2 = d1.X, d2.X
        self.rows2 = res.sample.rows2.astype(float)
        self.means = (res.fits[0].mean.name, res.fits[1].mean.name)
        if self.means[1] not in MEANS:
            raise NotImplementedError("MarginPlan supports GLM part 2 only")
        n = d1.X.shape[0]
        cont = list(
            dict.fromkeys(d1.continuous_variables() + d2.continuous_variables())
        )
        facs = list(dict.fromkeys(d1.factor_variables() + d2.factor_variables()))
        self.D = [
            _stack(
                [
                    d.derivative(v, {})
                    if v in d.continuous_variables()
                    else (np.empty(0, np.int64), np.empty((n, 0)))
                    for v in cont
                ],
                n,
                len(cont),
            )
            for d in (d1, d2)
        ]
        scen = []  # (variable, level code)
        for f in facs:
            d = d1 if f in d1.variables.codes else d2
            scen += [(f, k) for k in range(len(d.variables.levels[f]))]
        self.S = [
            _stack([_counterfactual(d, f, k) for f, k in scen], n, len(scen))
            for d in (d1, d2)
        ]
        self.labels, self._gather, self._pairs = _layout(res, parts, cont, facs, scen)
        return self

    def evaluate(
        self, b1: Arr, b2: Arr, w: Arr | None = None, w2: Arr | None = None
    ) -> Arr:
        """Margin estimates (in :attr:`labels` order) at coefficients b1, b2.

        ``w`` weights the rows (default 1); ``w2`` the part-2 averaging (default
        ``w`` on part 2's rows; e.g. P(y>0|x) for a population part-2 AME).
        """
        h1, h2 = MEANS[self.means[0]], MEANS[self.means[1]]
        e1, e2 = self.X1 @ b1, self.X2 @ b2
        om = np.ones(e1.size) if w is None else w
        om2 = om * self.rows2 if w2 is None else w2
        s, s2 = om.sum(), om2.sum()
        f1, g1, f2, g2 = h1.h(e1), h1.d1(e1), h2.h(e2), h2.d1(e2)
        D1, D2 = self.D
        B1, B2 = D1.combine(b1), D2.combine(b2)
        v1 = (np.column_stack([om * g1, om * g1 * f2]).T @ D1.C) @ B1
        v2 = (np.column_stack([om2 * g2, om * f1 * g2]).T @ D2.C) @ B2
        cont = [v1[0] / s, v2[0] / s2, (v1[1] + v2[1]) / s, v1[1] / s, v2[1] / s]
        S1, S2 = self.S
        H1 = h1.h(e1[:, None] + S1.C @ S1.combine(b1))
        H2 = h2.h(e2[:, None] + S2.C @ S2.combine(b2))
        lv, bs = self._pairs
        dF, dH = H1[:, lv] - H1[:, bs], H2[:, lv] - H2[:, bs]
        ext = dF * (H2[:, lv] + H2[:, bs]) * 0.5
        inn = dH * (H1[:, lv] + H1[:, bs]) * 0.5
        fac = [
            om @ dF / s,
            om2 @ dH / s2,
            om @ (ext + inn) / s,
            om @ ext / s,
            om @ inn / s,
        ]
        return np.concatenate(cont + fac)[self._gather]


def _counterfactual(design, var, k):
    """(idx, counterfactual - observed columns) when every row has ``var`` = k."""
    if var not in design.variables.codes:
        return np.empty(0, np.int64), np.empty((design.n, 0))
    idx, block = design.evaluate({var: k})
    return idx, block - design.X[:, idx]


def _layout(res, parts, cont, facs, scen):
    """Labels in ``res.margins()`` order, with positions and scenario pairs.

    Positions index the concatenation [continuous x 5 kinds, factor levels x 5
    kinds] of :meth:`MarginPlan.evaluate`; pairs are the (level, base) scenario
    columns of each factor level.
    """
    nc = len(cont)
    pairs = []
    for f in facs:
        d = next(d for d in res.designs if f in d.variables.codes)
        base = d.variables.base[f]
        for k, lev in enumerate(d.variables.levels[f]):
            if k != base:
                pairs.append(
                    (f, k, level_label(lev), scen.index((f, k)), scen.index((f, base)))
                )
    npair = len(pairs)
    kinds = {
        "part1": ["total"],
        "part2": ["total"],
        "combined": ["total", "extensive", "intensive"],
    }
    slot = {
        ("part1", "total"): 0,
        ("part2", "total"): 1,
        ("combined", "total"): 2,
        ("combined", "extensive"): 3,
        ("combined", "intensive"): 4,
    }
    labels, gather = [], []
    for part in parts:
        for var, kind in res.margin_variables(part, None):
            if kind == "c":
                for comp in kinds[part]:
                    labels.append((part, comp, var, ""))
                    gather.append(slot[(part, comp)] * nc + cont.index(var))
                continue
            for j, (f, _, lev, _, _) in enumerate(pairs):
                if f != var:
                    continue
                for comp in kinds[part]:
                    labels.append((part, comp, var, lev))
                    gather.append(5 * nc + slot[(part, comp)] * npair + j)
    levels = np.asarray([p[3] for p in pairs], dtype=np.int64)
    bases = np.asarray([p[4] for p in pairs], dtype=np.int64)
    return labels, np.asarray(gather, dtype=np.int64), (levels, bases)
