"""Average marginal effects as Stata ``margins, dydx()`` computes them.

Notes
-----
With m_i the prediction of an observation (part 1: F(x_i'b); part 2:
h(x_i'g); combined: F(x_i'b) h(z_i'g), twopm's default E[y|x]) and omega_i the
(sampling) weights of the averaging sample:

* continuous v: AME = sum_i omega_i dm_i/dv / sum_i omega_i, where
  d(x'b)/dv = sum_k b_k dX_ik/dv, so a product term c.age#c.age moves with age;
  a precomputed column age_sq is a variable of its own (Stata 12 semantics);
* factor level l of f: AME = mean_i [m_i(f=l) - m_i(f=base)], all observations
  set to each level in turn (``margins, dydx(i.f)``);
* eydx = mean(dm/dv / m), dyex = mean(dm/dv v), eyex = mean(dm/dv v / m),
  each computed observation by observation then averaged, as Stata does;
* combined effects split into extensive + intensive parts. For continuous v,
  dm/dv = F' (db) h + F h' (dg): the first term is extensive, the second
  intensive. For a discrete change, with F0, F1, h0, h1 the two counterfactual
  predictions, the symmetric (Shapley) split is
  (F1-F0)(h0+h1)/2 + (h1-h0)(F0+F1)/2, which adds up exactly.

Delta method: with G the gradient of the AME with respect to theta = (b, g),
Var = G V G'; G is a weighted mean of per-observation gradients and is formed
as X'(omega c)/sum(omega) (see :mod:`.lin`), i.e. in O(N K). The covariates are
held fixed (Stata's default ``vce(delta)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lin import Basis, Lin, Reducer, leaf, reduce_mean

#: The inference columns of every margins table, in order.
INFERENCE_COLUMNS = ["estimate", "se", "z", "p", "ci_low", "ci_high"]


@dataclass
class Context:
    """Everything margins needs over the N part-1 rows.

    Designs, parameters, mean functions, weights, the part-2 row mask and the
    part-2 design on those rows (``X2``, shared with the fit: no copy).
    """

    designs: tuple
    params: tuple
    means: tuple
    weights: np.ndarray | None
    rows2: np.ndarray  # bool, length N
    X2: np.ndarray | None = None
    etas: tuple = ()

    def __post_init__(self) -> None:
        self.etas = tuple(
            d.X @ b for d, b in zip(self.designs, self.params, strict=True)
        )

    def block(self, start: int, stop: int, start2: int) -> Context:
        """The same context on rows ``start:stop`` (views of the arrays).

        ``start2`` counts part-2 rows before ``start``: the block's part-2 rows
        are the next rows of ``X2`` (a view, no copy).
        """
        rows2 = self.rows2[start:stop]
        X2 = None
        if self.X2 is not None:
            X2 = self.X2[start2 : start2 + int(np.count_nonzero(rows2))]
        return Context(
            tuple(d.block(start, stop) for d in self.designs),
            self.params,
            self.means,
            None if self.weights is None else self.weights[start:stop],
            rows2,
            X2,
        )

    @property
    def sizes(self) -> tuple[int, int]:
        """Number of coefficients of part 1 and part 2."""
        return tuple(len(b) for b in self.params)


class Frame:
    """Margins over one averaging sample ``rows`` with overrides ``at``."""

    def __init__(self, ctx: Context, rows: np.ndarray, at: dict, total=None):
        self.ctx, self.rows, self.at = ctx, rows, at
        self.whole = bool(rows.all())  # no copies when averaging over all rows
        w = ctx.weights
        n = rows.size if self.whole else int(rows.sum())
        self.omega = np.ones(n) if w is None else (w if self.whole else w[rows])
        # denominator of the means: sum(omega), or the whole sample's when the
        # frame is one block of rows of it
        self.total = float(np.sum(self.omega)) if total is None else float(total)
        self._cache: dict = {}
        self._xr: dict = {}
        self._eta: dict = {}

    def Xr(self, p: int) -> np.ndarray:
        """Part ``p``'s design on the averaging rows (a view or the fit's X2)."""
        if p not in self._xr:
            X = self.ctx.designs[p].X
            if self.whole:
                self._xr[p] = X
            elif p == 1 and self.ctx.X2 is not None and _same(self.rows, self.ctx):
                self._xr[p] = self.ctx.X2
            else:
                self._xr[p] = X[self.rows]
        return self._xr[p]

    def design(self, p: int):
        """Part ``p``'s design on the averaging rows (built once per frame)."""
        key = ("design", p)
        if key not in self._xr:
            d = self.ctx.designs[p]
            self._xr[key] = d if self.whole else d.take(self.rows, self.Xr(p))
        return self._xr[key]

    def eta(self, p: int) -> np.ndarray:
        """Fitted index of part ``p`` on the averaging rows."""
        if p not in self._eta:
            e = self.ctx.etas[p]
            self._eta[p] = e if self.whole else e[self.rows]
        return self._eta[p]

    def forget(self, var: str) -> None:
        """Drop cached scenarios that override ``var`` (frees N-vectors)."""
        for key in [k for k in self._cache if any(v == var for v, _ in k[1])]:
            del self._cache[key]

    def sub(self, a: np.ndarray) -> np.ndarray:
        """Restrict an N-vector to the averaging rows."""
        return a if self.whole else a[self.rows]

    def codes(self, over: dict, p: int) -> dict:
        """Turn overrides' factor labels into the codes of part ``p``."""
        d = self.ctx.designs[p]
        out = {}
        for var, val in over.items():
            if var in d.variables.codes:
                out[var] = d.variables.level_code(var, val)
            elif var in d.variables.cont:
                out[var] = float(val)
        return out

    def mean(self, p: int, over: dict) -> Lin:
        """m_p under ``at`` + ``over`` (cached per scenario)."""
        key = (p, tuple(sorted(over.items())))
        if key not in self._cache:
            self._cache[key] = self._mean(p, over)
        return self._cache[key]

    def _mean(self, p: int, over: dict) -> Lin:
        ctx = self.ctx
        b = ctx.params[p]
        over = self.codes({**self.at, **over}, p)
        idx, block = self.design(p).evaluate(over)
        X = self.Xr(p)
        basis = Basis(p, X, idx, block)
        eta = self.eta(p) + basis.diff() @ b[idx] if idx.size else self.eta(p)
        h = ctx.means[p]
        val = h.h(eta)
        lin = leaf(val, basis, val if h.d1 is h.h else h.d1(eta))
        lin.eta, lin.basis = eta, basis  # reused by ``deriv``
        return lin

    def deriv(self, p: int, var: str) -> Lin:
        """dm_p/dvar for continuous ``var`` under ``at``."""
        ctx = self.ctx
        m = self.mean(p, {})
        design = ctx.designs[p]
        if var not in design.continuous_variables():
            return Lin(np.zeros(self.omega.size), {})
        idx, block = self.design(p).derivative(var, self.codes(self.at, p))
        deta = block @ ctx.params[p][idx]
        dbasis = Basis(p, self.Xr(p), idx, block, sparse=True)
        h = ctx.means[p]
        d1 = m.grad[id(m.basis)][1]  # h'(eta), computed with the mean
        d2 = m.val if h.d2 is h.h else h.d2(m.eta)
        g = {
            id(m.basis): (m.basis, d2 * deta),
            id(dbasis): (dbasis, d1),
        }
        return Lin(d1 * deta, g)

    def value(self, var: str) -> np.ndarray:
        """Observed (or ``at``) values of continuous ``var``."""
        if var in self.at:
            return np.full(self.omega.size, float(self.at[var]))
        for d in self.ctx.designs:
            if var in d.variables.cont:
                return self.sub(d.variables.cont[var])
        raise ValueError(f"{var!r} is not a continuous regressor")


def continuous_effects(fr: Frame, part: str, var: str, effect: str) -> dict:
    """Per-observation effect(s) of continuous ``var`` as Lin objects."""
    if part in ("part1", "part2"):
        p = 0 if part == "part1" else 1
        out = {"total": (fr.deriv(p, var), fr.mean(p, {}))}
    else:
        m1, m2 = fr.mean(0, {}), fr.mean(1, {})
        ext, inten = fr.deriv(0, var) * m2, m1 * fr.deriv(1, var)
        m = m1 * m2
        # the total's gradient is the sum of its parts' (see ``summarise``):
        # only its values are needed
        out = {
            "total": (Lin(ext.val + inten.val, {}), m),
            "extensive": (ext, m),
            "intensive": (inten, m),
        }
    res = {}
    for comp, (d, m) in out.items():
        if effect in ("dyex", "eyex"):
            d = d.scale(fr.value(var))
        if effect in ("eydx", "eyex"):
            d = d / m
        res[comp] = d
    return res


def discrete_effects(fr: Frame, part: str, var: str, level, base) -> dict:
    """Per-observation change from ``base`` to ``level`` of factor ``var``."""
    if part in ("part1", "part2"):
        p = 0 if part == "part1" else 1
        return {"total": fr.mean(p, {var: level}) - fr.mean(p, {var: base})}
    f1, f0 = fr.mean(0, {var: level}), fr.mean(0, {var: base})
    h1, h0 = fr.mean(1, {var: level}), fr.mean(1, {var: base})
    ext = (f1 - f0) * (h0 + h1).scale(0.5)
    inten = (h1 - h0) * (f0 + f1).scale(0.5)
    total = Lin(ext.val + inten.val, {})  # gradient: ext's + inten's (summarise)
    return {"total": total, "extensive": ext, "intensive": inten}


def _same(rows: np.ndarray, ctx: Context) -> bool:
    return rows is ctx.rows2 or bool(np.array_equal(rows, ctx.rows2))


def summarise(fr: Frame, effects: dict, red: Reducer) -> list[tuple]:
    """(component, estimate, gradient) rows from per-observation effects.

    Gradients are complete after ``red.finish()``; a combined total's is the
    sum of its extensive and intensive gradients (no extra pass over X).
    """
    out = {}
    for comp, q in effects.items():
        if comp == "total" and "extensive" in effects:
            continue
        out[comp] = reduce_mean(q, fr.omega, fr.ctx.sizes, red, fr.total)
    if "extensive" in effects:
        g1, g2 = out["extensive"][1], out["intensive"][1]
        est = float(np.sum(fr.omega * effects["total"].val) / fr.total)
        out = {"total": (est, _GradSum(g1, g2)), **out}
    return [(comp, est, g) for comp, (est, g) in out.items()]


class _GradSum:
    """Gradient equal to the sum of two others (resolved after ``finish``)."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def value(self) -> np.ndarray:
        return gradient(self.a) + gradient(self.b)


def gradient(g) -> np.ndarray:
    """Concatenated (part 1, part 2) gradient of a summarised margin."""
    return g.value() if isinstance(g, _GradSum) else np.concatenate(g)
