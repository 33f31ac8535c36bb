"""Default ``dydx`` margins as block matrix operations (no per-scenario objects).

The generic path (:mod:`.margins` with :mod:`.lin`) builds one :class:`~.lin.Lin`
per counterfactual scenario and variable. For the default request (``dydx``, no
``at()``), every quantity it computes has a fixed shape, so here each block of
rows is handled as a few matrices:

* all levels of factor f: with idx_f the columns that involve f and C_k their
  values when every row has f = k, the indices of all levels are the columns of
  eta - X[:, idx_f] b[idx_f] + [C_0 b[idx_f], ..., C_{L-1} b[idx_f]] (rows x L),
  and h, h' are evaluated on that matrix once;
* all continuous variables: d eta / d v for every v as the columns of one matrix;
* gradients: with w_l and w_0 the per-row coefficients of the two scenarios of a
  contrast, d AME / d b = X'(w_l + w_0) with the rows idx_f replaced by
  C_l' w_l + C_0' w_0 (the scenario designs differ from X only in idx_f). Every
  margin's X'w is one column of a single X'W product per design and block;
  continuous variables add D_v'(om h') on their derivative columns.

Estimates and gradients add up over blocks exactly as in the generic path (the
means' denominators are the whole averaging sample's), and the formulas are the
generic path's (see :mod:`.margins`), so both agree to rounding.
``tests/test_twopart_margins_fast.py`` compares them.
"""

from __future__ import annotations

import numpy as np

from .design import level_label

#: Mean functions with h(e + c) = h(e) exp(c) and h' = h: a factor's levels
#: then need one exp per row, not one per level.
_EXP_MEANS = ("log", "ols_log")
_RSQ2PI = 1.0 / np.sqrt(2.0 * np.pi)
#: Columns of an X'W buffer (at least the widest single request): 32 columns of
#: a 32,768-row block are 8 MiB, so margins stay under the fit's peak memory
#: while each product still makes one pass over X for many margins.
SINK_COLUMNS = 32


def _d1(mean, e: np.ndarray) -> np.ndarray:
    """h'(e); the normal density in place (half the temporaries of ``links``)."""
    if mean.name != "probit":
        return mean.d1(e)
    t = np.multiply(e, e)
    t *= -0.5
    np.exp(t, out=t)
    t *= _RSQ2PI
    return t


class _Fac:
    """All levels of one factor in one part: scenario predictions and columns.

    Scenario columns are ordered base first, then the non-base levels in
    level order, so ``H[:, :1]`` is the base and ``H[:, 1:]`` the contrasts.

    Attributes
    ----------
    idx : ndarray of int
        Columns of the design that involve the factor.
    cv : ndarray (L, |idx|) or None
        Values of those columns under each scenario when they do not vary by row
        (the factor's own indicators, no interaction with other regressors).
    C : list of ndarray (rows x |idx|) or None
        Those columns under each scenario otherwise.
    H, Hd : ndarray (rows x L)
        h and h' of each scenario's index (``Hd is H`` for exp-type means).
    """

    def __init__(self, design, X, eta, b, mean, f, codes, base):
        n, L = eta.size, len(codes)
        if f not in design.variables.codes:  # not in this part: every level is eta
            self.idx, self.cv, self.C = np.empty(0, np.int64), None, None
            self.H = np.asfortranarray(np.repeat(base[0][:, None], L, axis=1))
            self.Hd = self.H
            if base[1] is not base[0]:
                self.Hd = np.asfortranarray(np.repeat(base[1][:, None], L, axis=1))
            return
        self.idx = idx = design.touching({f})
        cols = [design.columns[j] for j in idx]
        bi = b[idx]
        rest = eta - X[:, idx] @ bi
        # column-major scenario matrices: later reductions run down contiguous
        # columns
        out = np.empty((n, L), order="F")
        if all(not c.conts and [v for v, _ in c.levels] == [f] for c in cols):
            self.C = None
            self.cv = np.asarray(
                [[float(c.levels[0][1] == k) for c in cols] for k in codes]
            )
            shift = self.cv @ bi
            if mean.name in _EXP_MEANS and mean.d1 is mean.h:
                self.H = np.multiply(mean.h(rest)[:, None], np.exp(shift), out=out)
                self.Hd = self.H
                return
            E = np.add(rest[:, None], shift, out=out)
        else:
            self.cv = None
            self.C = [design.evaluate({f: k})[1] for k in codes]
            E = out
            for m, Ck in enumerate(self.C):
                E[:, m] = rest + Ck @ bi
        self.H = mean.h(E)
        self.Hd = self.H if mean.d1 is mean.h else _d1(mean, E)

    def corrections(self, wl: list, w0: list) -> np.ndarray:
        """C_l' wl + C_0' w0 for every contrast and component (|idx| x T P).

        For factors whose columns vary by row (``C``); see :func:`_replace`.

        ``wl``, ``w0``: per component, (rows x P) coefficients of the level and
        base scenarios of the P contrasts.
        """
        P = wl[0].shape[1]
        vals = self.C[0].T @ np.hstack(w0)
        for i in range(P):
            vals[:, i::P] += self.C[1 + i].T @ np.column_stack([a[:, i] for a in wl])
        return vals


class _Side:
    """One part's predictions and derivatives on a set of rows of a block.

    Parameters
    ----------
    design : Design
        The part's design restricted to the rows (its ``X`` is used as is).
    b : ndarray
        The part's coefficients.
    mean : MeanFunction
        h, h', h'' of the part.
    om : ndarray or float
        Row weights divided by the averaging sample's weight total.
    cont : list of str
        Continuous variables whose derivatives are needed.
    facs : dict
        factor -> (labels, non-base level codes, base code).
    """

    def __init__(self, design, b, mean, om, cont, facs):
        X = design.X
        self.X, self.om, self.n, self.cont = X, om, X.shape[0], cont
        eta = X @ b
        self.h = mean.h(eta)
        self.h1 = self.h if mean.d1 is mean.h else _d1(mean, eta)
        self.h2 = self.h if mean.d2 is mean.h else mean.d2(eta)
        have = set(design.continuous_variables())
        self.deta = np.zeros((self.n, len(cont)), order="F")
        coef, target, blocks = [], [], []
        for t, v in enumerate(cont):
            if v not in have:
                continue
            idx, blk = design.derivative(v, {})
            self.deta[:, t] = blk @ b[idx]
            coef += list(idx)
            target += [t] * idx.size
            blocks.append(blk)
        # stacked derivative columns, their coefficient and variable
        self.D = np.hstack(blocks) if blocks else np.empty((self.n, 0))
        self.dcoef = np.asarray(coef, dtype=np.int64)
        self.dtarget = np.asarray(target, dtype=np.int64)
        self._design, self._b, self._mean, self._facs = design, b, mean, facs
        self._eta = eta
        self._fac: dict = {}

    def forget(self, f: str) -> None:
        """Drop factor ``f``'s scenario matrices."""
        self._fac.pop(f, None)

    def fac(self, f: str) -> _Fac:
        """Scenario predictions of factor ``f`` (built on first use)."""
        if f not in self._fac:
            d = self._design
            labels, lv, base = self._facs[f]
            codes = [
                d.variables.level_code(f, labels[k]) if f in d.variables.codes else k
                for k in [base, *lv]
            ]
            self._fac[f] = _Fac(
                d, self.X, self._eta, self._b, self._mean, f, codes, (self.h, self.h1)
            )
        return self._fac[f]


class _Sink:
    """Columns w of X'w products for one design on one set of rows.

    Factor margins record replacement rows (C' w on idx_f), continuous ones
    additive corrections (D_v' w on their derivative columns).
    """

    def __init__(self, X, W, offset, G):
        self.X, self.offset, self.G = X, offset, G
        self.W = W[: X.shape[0]]
        self._reset()

    def _reset(self) -> None:
        self.outs: list[int] = []
        self.scale: list[float] = []  # per column: X'w = scale X'(stored column)
        self.replace: list = []  # (first column, idx, |idx| x ncols values)
        self.add: list = []  # (outputs, coefficient indices, values)

    def _room(self, m: int) -> None:
        # a full buffer is reduced into G first: W stays a few MiB
        if len(self.outs) + m > self.W.shape[1]:
            self.flush()

    def put(self, cols: np.ndarray, outs) -> int:
        """Store columns for outputs ``outs``; return the first column's position."""
        self._room(cols.shape[1])
        j = len(self.outs)
        self.W[:, j : j + cols.shape[1]] = cols
        self.outs += list(outs)
        self.scale += [1.0] * len(outs)
        return j

    def claim(self, m: int, outs, scale: float = 1.0) -> tuple[int, np.ndarray]:
        """Reserve ``m`` columns for outputs ``outs``: (position, writable view).

        The gradients are ``scale`` times X'(column), replacement rows included
        (a common row weight applied to K-vectors instead of N-vectors).
        """
        self._room(m)
        j = len(self.outs)
        self.outs += list(outs)
        self.scale += [scale] * m
        return j, self.W[:, j : j + m]

    def flush(self) -> None:
        """Add every stored margin's gradient to its row of ``G``; empty the sink."""
        G = self.G
        m = len(self.outs)
        if not m:
            return
        XtW = self.X.T @ self.W[:, :m]
        for j, idx, vals in self.replace:
            if idx.size:
                XtW[idx[:, None], np.arange(j, j + vals.shape[1])] = vals
        XtW *= np.asarray(self.scale)
        K = XtW.shape[0]
        G[np.asarray(self.outs), self.offset : self.offset + K] += XtW.T
        for outs, coef, vals in self.add:
            np.add.at(G, (outs, self.offset + coef), vals)
        self._reset()


def _wsum(om, Q: np.ndarray) -> np.ndarray:
    """Column sums of om * Q (om a row vector or a scalar)."""
    return om @ Q if isinstance(om, np.ndarray) else om * Q.sum(axis=0)


def _colw(om):
    """``om`` shaped to scale the columns of a (rows x m) matrix."""
    return om[:, None] if isinstance(om, np.ndarray) else om


_COMPS = {
    "part1": ("total",),
    "part2": ("total",),
    "combined": ("total", "extensive", "intensive"),
}


class Layout:
    """Outputs of one ``margins()`` request, in the generic path's row order.

    Parameters
    ----------
    res : TwoPartResults
        The fitted model.
    parts : tuple of str
        Requested parts.
    variables : list of str or None
        Requested variables (None: all regressors).

    Attributes
    ----------
    labels : list of tuple
        (part, component, term, level, contrast, effect) of each returned row.
    gather : ndarray of int
        Unique output of each row (a variable listed twice is computed once).
    """

    def __init__(self, res, parts, variables):
        self.parts = parts
        wanted = {p: res.margin_variables(p, variables) for p in parts}
        self.wanted = {
            p: (
                list(dict.fromkeys(v for v, k in vs if k == "c")),
                list(dict.fromkeys(v for v, k in vs if k == "f")),
            )
            for p, vs in wanted.items()
        }
        self.cont = list(dict.fromkeys(v for c, _ in self.wanted.values() for v in c))
        self.levels = {}  # factor -> (labels, non-base level codes, base code)
        for _, facs in self.wanted.values():
            for f in facs:
                d = next(d for d in res.designs if f in d.variables.codes)
                labs, base = d.variables.levels[f], d.variables.base[f]
                lv = np.asarray([k for k in range(len(labs)) if k != base], np.int64)
                self.levels[f] = (labs, lv, base)
        self.index: dict = {}  # (part, comp, var, level code or -1) -> output
        self.labels: list = []
        gather = []
        for part in parts:
            for var, kind in wanted[part]:
                if kind == "c":
                    keys = [(part, c, var, -1) for c in _COMPS[part]]
                    labs = [(part, c, var, "", "dydx", "dydx") for c in _COMPS[part]]
                else:
                    labs_f, lv, base = self.levels[var]
                    keys = [(part, c, var, k) for k in lv for c in _COMPS[part]]
                    labs = [
                        (
                            part,
                            c,
                            var,
                            level_label(labs_f[k]),
                            f"{level_label(labs_f[k])} vs {level_label(labs_f[base])}",
                            "dydx",
                        )
                        for k in lv
                        for c in _COMPS[part]
                    ]
                for key, lab in zip(keys, labs, strict=True):
                    self.index.setdefault(key, len(self.index))
                    gather.append(self.index[key])
                    self.labels.append(lab)
        self.gather = np.asarray(gather, dtype=np.int64)
        # widest single X'W request: a factor's 2 (levels - 1) combined columns
        # or all continuous variables at once
        self.widest = max(
            [2 * lv.size for _, lv, _ in self.levels.values()] + [len(self.cont), 1]
        )
        # combined totals: gradient = extensive + intensive (as the generic path)
        self.totals = [
            (
                o,
                self.index[("combined", "extensive", *k[2:])],
                self.index[("combined", "intensive", *k[2:])],
            )
            for k, o in self.index.items()
            if k[0] == "combined" and k[1] == "total"
        ]

    def outs(self, part: str, comp: str, var: str, ks) -> list[int]:
        """Output positions of ``var`` at level codes ``ks`` (-1: continuous)."""
        return [self.index[part, comp, var, int(k)] for k in ks]

    def columns(self, p: int) -> int:
        """X'w columns one block stores for part ``p``'s design at most."""
        n = 0
        for part, (cont, facs) in self.wanted.items():
            if part == ("part2" if p == 0 else "part1"):
                continue
            npair = sum(self.levels[f][1].size for f in facs)
            n += (2 if part == "combined" else 1) * (npair + len(cont))
        return n


def fast_margins(res, lay: Layout, samples: dict, blocks) -> tuple:
    """Estimates and gradients of every unique output of ``lay``.

    Parameters
    ----------
    res : TwoPartResults
        The fitted model (its ``context``: designs, coefficients, weights).
    lay : Layout
        The requested outputs.
    samples : dict
        part -> (averaging row mask over the N part-1 rows, weight total > 0).
    blocks : iterable of (start, stop, start2)
        Row blocks (``inference.row_blocks``).

    Returns
    -------
    est : ndarray (n_out,)
    G : ndarray (n_out, K1 + K2)
        Gradients with respect to the (part 1, part 2) coefficients.
    """
    K1 = len(res.context.params[0])
    n_out = len(lay.index)
    est = np.zeros(n_out)
    G = np.zeros((n_out, K1 + len(res.context.params[1])))
    pool: dict = {}  # X'w buffers reused by every block (no page faults)
    for start, stop, start2 in blocks:
        blk = _Block(res.context, lay, samples, start, stop, start2, pool, G)
        for part in lay.parts:
            _one(blk, lay, part, est, lay.wanted[part][0], [])
        # factor by factor, each factor's scenario matrices dropped once used:
        # margins' working set stays below the fit's peak
        for f in lay.levels:
            for part in lay.parts:
                if f in lay.wanted[part][1]:
                    _one(blk, lay, part, est, [], [f])
            for S in blk.sides.values():
                S.forget(f)
        for sk in blk.sinks.values():
            sk.flush()
    for o, e, i in lay.totals:
        G[o] = G[e] + G[i]
    return est, G


def _one(blk, lay, part, est, cont, facs) -> None:
    """Queue ``part``'s margins of ``cont`` and ``facs`` for one block."""
    if not cont and not facs:
        return
    if part == "combined":
        S1, k1 = blk.side(0, part)
        if S1 is not None:
            S2, k2 = blk.side(1, part)
            sk1, sk2 = blk.sink(0, k1, S1), blk.sink(1, k2, S2)
            _combined(lay, S1, S2, sk1, sk2, est, cont, facs)
        return
    p = 0 if part == "part1" else 1
    S, key = blk.side(p, part)
    if S is not None:
        _part_total(lay, part, S, blk.sink(p, key, S), est, cont, facs)


class _Block:
    """Sides and sinks of one block of rows, shared by the parts averaging alike."""

    def __init__(self, ctx, lay, samples, start, stop, start2, pool, G):
        self.ctx, self.lay, self.samples, self.pool, self.G = ctx, lay, samples, pool, G
        self.sl, self.start2 = slice(start, stop), start2
        self.n2 = int(np.count_nonzero(ctx.rows2[self.sl]))
        self.sides: dict = {}
        self.sinks: dict = {}

    def side(self, p: int, part: str):
        """(:class:`_Side` of part ``p`` on ``part``'s averaging rows, key)."""
        mask, total = self.samples[part]
        r = mask[self.sl]
        if not r.any():
            return None, None
        key = (p, r.tobytes(), total)
        if key not in self.sides:
            ctx, sl = self.ctx, self.sl
            d = ctx.designs[p].block(sl.start, sl.stop)
            if r.all():
                design = d
            elif p == 1 and np.array_equal(r, ctx.rows2[sl]):
                # part 2's estimation rows: the fit's X2 (a view, no copy)
                design = d.take(r, ctx.X2[self.start2 : self.start2 + self.n2])
            else:
                design = d.take(r, d.X[r])
            w = ctx.weights
            om = 1.0 / total if w is None else w[sl][r] / total
            self.sides[key] = _Side(
                design, ctx.params[p], ctx.means[p], om, self.lay.cont, self.lay.levels
            )
        return self.sides[key], key

    def sink(self, p: int, key, S: _Side) -> _Sink:
        """The X'w collector of ``S``'s design (one per side)."""
        if key not in self.sinks:
            off = 0 if p == 0 else len(self.ctx.params[0])
            slot = (p, sum(k[0] == p for k in self.sinks))
            n = S.X.shape[0]
            if slot not in self.pool or self.pool[slot].shape[0] < n:
                cap = min(self.lay.columns(p), max(SINK_COLUMNS, self.lay.widest))
                self.pool[slot] = np.empty(
                    (self.sl.stop - self.sl.start, cap), order="F"
                )
            self.sinks[key] = _Sink(S.X, self.pool[slot], off, self.G)
        return self.sinks[key]


def _replace(sink: _Sink, j: int, fac: _Fac, s0: np.ndarray, wl, w0) -> None:
    """Queue the replacement rows C_l' wl + C_0' w0 of stored contrast columns.

    Columns ``j:j + s0.size`` of the sink hold wl + w0 (components of P
    contrasts side by side); ``s0`` are the column sums of w0. When the factor's
    columns are constant in each scenario, C' w only needs column sums, and
    those of wl are the stored columns' sums minus ``s0``. Otherwise ``wl()``
    and ``w0()`` build the per-component coefficient matrices.
    """
    if not fac.idx.size:
        return
    if fac.cv is None:
        sink.replace.append((j, fac.idx, fac.corrections(wl(), w0())))
        return
    m = s0.size
    P = fac.cv.shape[0] - 1
    sl = sink.W[:, j : j + m].sum(axis=0) - s0
    vals = np.tile(fac.cv[1:].T, m // P) * sl + fac.cv[0][:, None] * s0
    sink.replace.append((j, fac.idx, vals))


def _dcorr(sk: _Sink, S: _Side, v: np.ndarray, cont, outs) -> None:
    """Queue D_x' v on the derivative columns of the continuous ``cont``."""
    pos = {cont_t: o for cont_t, o in zip(cont, outs, strict=True)}
    sel = [m for m, t in enumerate(S.dtarget) if S.cont[t] in pos]
    if not sel:
        return
    sel = np.asarray(sel, np.int64)
    vals = v @ S.D[:, sel]
    o = np.asarray([pos[S.cont[t]] for t in S.dtarget[sel]], np.int64)
    sk.add.append((o, S.dcoef[sel], vals))


def _part_total(lay, part, S: _Side, sk: _Sink, est, cont, facs) -> None:
    om, omc = S.om, _colw(S.om)
    if cont:
        t = [S.cont.index(v) for v in cont]
        outs = [lay.index[part, "total", v, -1] for v in cont]
        deta = S.deta[:, t]
        est[outs] += _wsum(om, S.h1[:, None] * deta)
        sk.put(omc * S.h2[:, None] * deta, outs)
        _dcorr(sk, S, om * S.h1, cont, outs)
    # unit weights: the common 1/total scales K-vectors, not rows
    unit = not isinstance(om, np.ndarray)
    k, om_r = (om, 1.0) if unit else (1.0, om)
    for f in facs:
        lv = lay.levels[f][1]
        fac = S.fac(f)
        outs = lay.outs(part, "total", f, lv)
        Hl, H0, Hdl, Hd0 = fac.H[:, 1:], fac.H[:, :1], fac.Hd[:, 1:], fac.Hd[:, :1]
        j, W = sk.claim(lv.size, outs, k)
        if fac.Hd is fac.H:  # h' = h: one difference serves both
            np.subtract(Hl, H0, out=W)
            est[outs] += k * _wsum(om_r, W)
        else:
            est[outs] += k * _wsum(om_r, Hl - H0)
            np.subtract(Hdl, Hd0, out=W)
        if not unit:
            W *= omc
        s0 = np.repeat(-_wsum(om_r, Hd0), lv.size)
        _replace(
            sk,
            j,
            fac,
            s0,
            lambda: [_colw(om_r) * Hdl],  # noqa: B023  (called before the next level)
            lambda: [np.broadcast_to(-_colw(om_r) * Hd0, Hdl.shape)],  # noqa: B023
        )


def _combined(lay, S1: _Side, S2: _Side, sk1: _Sink, sk2: _Sink, est, cont, facs):
    om, omc = S1.om, _colw(S1.om)
    F, Fd1, Fd2 = S1.h, S1.h1, S1.h2
    H, Hd1, Hd2 = S2.h, S2.h1, S2.h2
    if cont:
        t = [S1.cont.index(v) for v in cont]
        de1, de2 = S1.deta[:, t], S2.deta[:, t]
        ext = (Fd1 * H)[:, None] * de1
        inn = (F * Hd1)[:, None] * de2
        o_t = [lay.index["combined", "total", v, -1] for v in cont]
        o_e = [lay.index["combined", "extensive", v, -1] for v in cont]
        o_i = [lay.index["combined", "intensive", v, -1] for v in cont]
        est[o_t] += _wsum(om, ext + inn)
        est[o_e] += _wsum(om, ext)
        est[o_i] += _wsum(om, inn)
        # extensive F'(eta1) (d eta1/dx) h(eta2): b1 through F' and D1, b2 through h
        sk1.put(omc * (Fd2 * H)[:, None] * de1, o_e)
        _dcorr(sk1, S1, om * (Fd1 * H), cont, o_e)
        sk2.put(omc * (Fd1 * Hd1)[:, None] * de1, o_e)
        # intensive F(eta1) h'(eta2) (d eta2/dx): b1 through F, b2 through h' and D2
        sk1.put(omc * (Fd1 * Hd1)[:, None] * de2, o_i)
        sk2.put(omc * (F * Hd2)[:, None] * de2, o_i)
        _dcorr(sk2, S2, om * (F * Hd1), cont, o_i)
    # the 1/2 of the symmetric split folded into the weights; unit weights:
    # the common 1/(2 total) scales K-vectors, not rows
    unit = not isinstance(om, np.ndarray)
    k, omh = (0.5 * om, 1.0) if unit else (1.0, 0.5 * om)
    omhc = _colw(omh)
    for f in facs:
        lv = lay.levels[f][1]
        P = lv.size
        f1, f2 = S1.fac(f), S2.fac(f)
        Fl, F0, Fdl, Fd0 = f1.H[:, 1:], f1.H[:, :1], f1.Hd[:, 1:], f1.Hd[:, :1]
        Hl, H0, Hdl, Hd0 = f2.H[:, 1:], f2.H[:, :1], f2.Hd[:, 1:], f2.Hd[:, :1]
        o_t = lay.outs("combined", "total", f, lv)
        o_e = lay.outs("combined", "extensive", f, lv)
        o_i = lay.outs("combined", "intensive", f, lv)
        j1, W1 = sk1.claim(2 * P, o_e + o_i, k)
        j2, W2 = sk2.claim(2 * P, o_e + o_i, k)
        dF, dH = Fl - F0, Hl - H0
        sHw = np.add(H0, Hl)  # om (h0 + h1) / 2, up to k
        sFw = np.add(F0, Fl)  # om (F0 + F1) / 2, up to k
        if not unit:
            sHw *= omhc
            sFw *= omhc
        # om x extensive (F1-F0)(h0+h1)/2 and om x intensive (h1-h0)(F0+F1)/2;
        # with h' = h they are also part 2's gradient columns
        exp2 = f2.Hd is f2.H
        ew = np.multiply(dF, sHw, out=W2[:, :P] if exp2 else None)
        iw = np.multiply(dH, sFw, out=W2[:, P:] if exp2 else None)
        se, si = ew.sum(axis=0), iw.sum(axis=0)
        est[o_t] += k * (se + si)
        est[o_e] += k * se
        est[o_i] += k * si
        # part 1 coefficients, through F'(eta1) of the level and base scenarios:
        # extensive wl = om sH/2 F'_l, w0 = -om sH/2 F'_0; intensive
        # wl = om dH/2 F'_l, w0 = om dH/2 F'_0
        np.subtract(Fdl, Fd0, out=W1[:, :P])
        np.add(Fdl, Fd0, out=W1[:, P:])
        W1[:, :P] *= sHw
        W1[:, P:] *= dH
        if not unit:
            W1[:, P:] *= omhc
        _replace(
            sk1,
            j1,
            f1,
            np.concatenate([-(Fd0[:, 0] @ sHw), (omh * Fd0[:, 0]) @ dH]),
            lambda: [sHw * Fdl, omhc * dH * Fdl],  # noqa: B023
            lambda: [-sHw * Fd0, omhc * dH * Fd0],  # noqa: B023
        )
        # part 2 coefficients, through h'(eta2): extensive wl = om dF/2 h'_l,
        # w0 = om dF/2 h'_0; intensive wl = om sF/2 h'_l, w0 = -om sF/2 h'_0
        if not exp2:
            np.add(Hdl, Hd0, out=W2[:, :P])
            np.subtract(Hdl, Hd0, out=W2[:, P:])
            W2[:, :P] *= dF
            W2[:, P:] *= sFw
            if not unit:
                W2[:, :P] *= omhc
        _replace(
            sk2,
            j2,
            f2,
            np.concatenate([(omh * Hd0[:, 0]) @ dF, -(Hd0[:, 0] @ sFw)]),
            lambda: [omhc * dF * Hdl, sFw * Hdl],  # noqa: B023
            lambda: [omhc * dF * Hd0, -sFw * Hd0],  # noqa: B023
        )
