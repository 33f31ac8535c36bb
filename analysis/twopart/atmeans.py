"""Margins at the means of the covariates (Stata ``margins, atmeans``).

Notes
-----
With ``atmeans`` every covariate is fixed at its (weighted) mean over the
averaging rows of the margin, so each margin is evaluated on one design row:

* a continuous variable v takes its mean v_bar; a factor f's level
  indicators take their means, the shares p_fk of its levels (Stata's
  ``at((mean) _all)``: level indicators at their means, not a level);
* a design column is the product of its components' values: ``c.x#c.x`` is
  x_bar^2 (not the mean of x^2), ``i.f#c.x`` is p_fk x_bar;
* ``at()`` values override the means (a factor in ``at`` is one level: its
  indicators 0/1); the factor being differentiated is set to each level and
  to the base, overriding ``at()`` as in :mod:`.results`.

On that row xbar (part 1) and zbar (part 2), with m = h(xbar'b):

* continuous v: dm/dv = h'(xbar'b) d'b with d = d(xbar)/dv (power rule);
  its gradient in b is h''(xbar'b) (d'b) xbar + h'(xbar'b) d;
* factor level l: m(x_l) - m(x_0), gradient h'(x_l'b) x_l - h'(x_0'b) x_0;
* combined: F(xbar'b) h(zbar'g) with the extensive/intensive split of
  :mod:`.margins` (F' (d1'b) h and F h' (d2'g) for v; the symmetric split for
  a level);
* eydx divides by the margin's prediction, dyex multiplies by v's value,
  eyex both (quotient rule in the gradient).

The means are taken over each part's averaging rows (part 2's positives by
default), within each ``over`` group; they are held fixed in the delta method
(they do not depend on the coefficients), so Var = G V G' as elsewhere.
"""

from __future__ import annotations

import numpy as np

from .design import level_label


def mean_point(design, rows: np.ndarray, weights) -> tuple[dict, dict]:
    """Means of the continuous variables and level shares of the factors.

    Parameters
    ----------
    design : Design
        A part's design over the N rows.
    rows : ndarray of bool
        Averaging rows.
    weights : ndarray or None
        Sampling weights of the N rows.

    Returns
    -------
    (dict, dict)
        {variable: mean} and {factor: array of level shares}.
    """
    v = design.variables
    w = np.ones(int(rows.sum())) if weights is None else weights[rows]
    tot = float(np.sum(w))
    cont = {k: float(np.sum(w * a[rows]) / tot) for k, a in v.cont.items()}
    shares = {
        f: np.array(
            [float(np.sum(w * (c[rows] == k)) / tot) for k in range(len(v.levels[f]))]
        )
        for f, c in v.codes.items()
    }
    return cont, shares


def _values(design, point, over: dict, var: str | None = None) -> np.ndarray:
    """The design row at ``point`` with ``over`` (or its derivative in ``var``)."""
    cont, shares = point
    out = np.empty(len(design.columns))
    for j, col in enumerate(design.columns):
        vals = [float(over.get(c, cont[c])) for c in col.conts]
        if var is not None:
            power = col.conts.count(var)
            if power == 0:
                out[j] = 0.0
                continue
            x = float(over.get(var, cont[var]))
            vals = [c for c, name in zip(vals, col.conts, strict=True) if name != var]
            vals.append(power * x ** (power - 1))
        val = float(np.prod(vals)) if vals else 1.0
        for f, k in col.levels:
            val *= float(over[f] == k) if f in over else shares[f][k]
        out[j] = val
    return out


class MeanPart:
    """Prediction of one part on rows built from a mean point."""

    def __init__(self, res, p: int, point, at_codes: dict):
        self.design, self.point = res.designs[p], point
        self.b = np.asarray(res.params[f"part{p + 1}"], dtype=float)
        self.h = res.fits[p].mean
        self.at = at_codes

    def codes(self, over: dict) -> dict:
        """Overrides ``{var: value}`` as level codes (factors) or floats."""
        v = self.design.variables
        out = {}
        for var, val in over.items():
            if var in v.codes:
                out[var] = v.level_code(var, val)
            elif var in v.cont:
                out[var] = float(val)
        return out

    def mean(self, over: dict):
        """(m, dm/dtheta_p) at the point with ``at`` and ``over``."""
        x = _values(self.design, self.point, {**self.at, **self.codes(over)})
        eta = float(x @ self.b)
        return float(self.h.h(eta)), float(self.h.d1(eta)) * x

    def deriv(self, var: str):
        """(dm/dvar, its gradient, m, dm/dtheta_p) at the point with ``at``."""
        if var not in self.design.continuous_variables():
            x = _values(self.design, self.point, self.at)
            eta = float(x @ self.b)
            z = np.zeros_like(self.b)
            return 0.0, z, float(self.h.h(eta)), float(self.h.d1(eta)) * x
        x = _values(self.design, self.point, self.at)
        d = _values(self.design, self.point, self.at, var)
        eta, deta = float(x @ self.b), float(d @ self.b)
        d1, d2 = float(self.h.d1(eta)), float(self.h.d2(eta))
        return d1 * deta, d2 * deta * x + d1 * d, float(self.h.h(eta)), d1 * x


def atmeans_margins(res, labels: list, samples: dict, effect: str, at: dict):
    """Margins at means: (rows of labels + estimate, gradients) (module Notes).

    ``labels`` lists (part, var, kind) in output order; ``samples`` maps part
    -> (averaging rows, weight total) as in :meth:`TwoPartResults.margins`.
    """
    k1, k2 = (len(b) for b in res.context.params)
    rows, grads = [], []
    parts = {}
    for part, (mask, _) in samples.items():
        pts = [mean_point(d, mask, res.weights) for d in res.designs]
        parts[part] = [MeanPart(res, p, pts[p], {}) for p in (0, 1)]
        for pr in parts[part]:
            pr.at = pr.codes(at)

    def full(p: int, g: np.ndarray) -> np.ndarray:
        out = np.zeros(k1 + k2)
        out[(0 if p == 0 else k1) : (k1 if p == 0 else k1 + k2)] = g
        return out

    for part, var, kind in labels:
        p1, p2 = parts[part]
        if kind == "c":
            value = float(at[var]) if var in at else p1.point[0].get(var, np.nan)
            if not np.isfinite(value):
                value = p2.point[0][var]
            comps = _continuous(part, var, p1, p2, full)
            for comp, (est, g, m, gm) in comps.items():
                est, g = _transform(est, g, m, gm, value, effect)
                rows.append((part, comp, var, "", effect, effect, est))
                grads.append(g)
            continue
        d = next(d for d in res.designs if var in d.variables.codes)
        levels, base = d.variables.levels[var], d.variables.base[var]
        for k, lev in enumerate(levels):
            if k == base:
                continue
            comps = _discrete(part, var, lev, levels[base], p1, p2, full)
            label = f"{level_label(lev)} vs {level_label(levels[base])}"
            for comp, (est, g) in comps.items():
                rows.append((part, comp, var, level_label(lev), label, "dydx", est))
                grads.append(g)
    G = np.array(grads, dtype=float).reshape(len(grads), k1 + k2)
    return rows, G


def _continuous(part, var, p1, p2, full) -> dict:
    if part in ("part1", "part2"):
        p, pr = (0, p1) if part == "part1" else (1, p2)
        eff, g, m, gm = pr.deriv(var)
        return {"total": (eff, full(p, g), m, full(p, gm))}
    e1, g1, F, gF = p1.deriv(var)
    e2, g2, h, gh = p2.deriv(var)
    ext, g_ext = e1 * h, full(0, g1 * h) + full(1, e1 * gh)
    inten, g_int = F * e2, full(0, gF * e2) + full(1, F * g2)
    m, gm = F * h, full(0, gF * h) + full(1, F * gh)
    return {
        "total": (ext + inten, g_ext + g_int, m, gm),
        "extensive": (ext, g_ext, m, gm),
        "intensive": (inten, g_int, m, gm),
    }


def _transform(est, g, m, gm, value, effect):
    if effect in ("dyex", "eyex"):
        est, g = est * value, g * value
    if effect in ("eydx", "eyex"):
        est, g = est / m, (g * m - est * gm) / m**2
    return est, g


def _discrete(part, var, level, base, p1, p2, full) -> dict:
    if part in ("part1", "part2"):
        p, pr = (0, p1) if part == "part1" else (1, p2)
        (m1, g1), (m0, g0) = pr.mean({var: level}), pr.mean({var: base})
        return {"total": (m1 - m0, full(p, g1 - g0))}
    (F1, gF1), (F0, gF0) = p1.mean({var: level}), p1.mean({var: base})
    (h1, gh1), (h0, gh0) = p2.mean({var: level}), p2.mean({var: base})
    ext = (F1 - F0) * (h0 + h1) / 2
    g_ext = full(0, (gF1 - gF0) * (h0 + h1) / 2) + full(1, (F1 - F0) * (gh0 + gh1) / 2)
    inten = (h1 - h0) * (F0 + F1) / 2
    g_int = full(1, (gh1 - gh0) * (F0 + F1) / 2) + full(0, (h1 - h0) * (gF0 + gF1) / 2)
    return {
        "total": (ext + inten, g_ext + g_int),
        "extensive": (ext, g_ext),
        "intensive": (inten, g_int),
    }
