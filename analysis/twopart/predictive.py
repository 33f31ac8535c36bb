"""Predictive margins: Stata ``margins`` without ``dydx()``.

Notes
-----
For a scenario s (values fixed by ``at`` and, with ``levels``, one level of a
factor; every other covariate as observed) and averaging rows i with weights
omega_i, the predictive margin of a part is

    M_s = sum_i omega_i m_i(s) / sum_i omega_i,

m_i = F(x_i'b) (part 1), h(z_i'g) (part 2, averaged over its positives by
default) or F(x_i'b) h(z_i'g) (combined E[y]). Its delta-method variance is
G V G' with G = dM_s/d(b, g) = sum_i omega_i dm_i/d(b, g) / sum_i omega_i,
formed as X'v products (:mod:`.lin`), covariates held fixed (``vce(delta)``).
A factor fixed by ``at`` (or stepped through by ``levels``) is set for every
row, including its interactions, as Stata does. ``contrast=True`` adds the
differences M_l - M_base between each level and the base (Stata ``margins
r.f``), whose gradient is G_l - G_base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import level_label
from .lin import Reducer, reduce_mean
from .margins import Frame
from .spec import MarginPart, validate_choice

COLUMNS = [
    "part",
    "term",
    "level",
    "at",
    "estimate",
    "se",
    "z",
    "p",
    "ci_low",
    "ci_high",
]


def predictive_margins(res, parts, at, levels, over, contrast, part2_sample):
    """Predictive margins of a fit (module Notes).

    Parameters
    ----------
    res : TwoPartResults
        The fit.
    parts : tuple of {"part1", "part2", "combined"}
        Predictions averaged.
    at : dict or list of dict, optional
        Scenarios ``{variable: value}`` (numbers for continuous variables,
        levels for factors); a list gives one set of margins per scenario, as
        ``at(x=(10 20))``.
    levels : list of str, optional
        Factors whose every level is a scenario (``margins i.f``).
    over : str or array-like, optional
        Groups (any column of the data); margins within each.
    contrast : bool
        Add level - base differences for ``levels`` (``margins r.f``).
    part2_sample : {"positives", "all"}
        Averaging rows of part-2 margins.

    Returns
    -------
    pandas.DataFrame
        ``COLUMNS`` (plus ``over``): one row per part, scenario and group;
        ``term``/``level`` name the factor level of the scenario ("" if none),
        ``at`` the fixed values as text.
    """
    for p in parts:
        validate_choice("part", p, MarginPart)
    if part2_sample not in ("positives", "all"):
        raise ValueError(f"part2_sample={part2_sample!r} not in ('positives', 'all')")
    scen = _scenarios(res, at, levels)
    if over is None:
        return _rows(res, parts, scen, None, contrast, part2_sample)
    groups = res.over_groups(over)
    frames = [
        _rows(
            res, parts, scen, (groups == g).to_numpy(), contrast, part2_sample
        ).assign(over=g)
        for g in pd.unique(groups.dropna())
    ]
    return pd.concat(frames, ignore_index=True)


def _scenarios(res, at, levels):
    """(term, level, at text, overrides) of every scenario."""
    ats = [{}] if at is None else ([at] if isinstance(at, dict) else list(at))
    out = []
    for a in ats:
        text = " ".join(f"{k}={level_label(v)}" for k, v in a.items())
        if not levels:
            out.append(("", "", text, False, dict(a)))
            continue
        for f in levels:
            d = next((d for d in res.designs if f in d.variables.codes), None)
            if d is None:
                raise ValueError(f"levels: {f!r} is not a factor of the model")
            base = d.variables.base[f]
            for j, lv in enumerate(d.variables.levels[f]):
                out.append((f, level_label(lv), text, j == base, {**a, f: lv}))
    return out


def _samples(res, parts, mask, p2s):
    n = len(res.sample.d)
    base = np.ones(n, bool) if mask is None else mask
    rows1 = res.sample.rows1
    out = {}
    for part in parts:
        r = base
        if part == "part2" and p2s == "positives":
            r = base & res.sample.rows2
        elif rows1 is not None and not rows1.all():
            r = base & rows1
        w = res.weights
        out[part] = (r, float(r.sum() if w is None else np.sum(w[r])))
    return out


def _rows(res, parts, scen, mask, contrast, p2s) -> pd.DataFrame:
    from .results import MARGIN_BATCH, _blocks

    samples = _samples(res, parts, mask, p2s)
    n = len(res.sample.d)
    acc: dict = {}
    for start, stop, start2 in _blocks(n, res.sample.rows2):
        whole = stop - start == n
        ctx = res.context if whole else res.context.block(start, stop, start2)
        red = Reducer(MARGIN_BATCH)
        pending = []
        for part, (rows, total) in samples.items():
            rb = rows[start:stop]
            if not rb.any() or total == 0.0:
                continue
            fr = Frame(ctx, rb, {}, total)
            for i, (*_, over) in enumerate(scen):
                q = _prediction(fr, part, over)
                pending.append(((part, i), reduce_mean(q, fr.omega, ctx.sizes, red)))
        red.finish()
        for key, (est, grad) in pending:
            g = np.concatenate(grad)
            if key in acc:
                acc[key][0] += est
                acc[key][1] += g
            else:
                acc[key] = [est, g]
    V = res.cov.to_numpy()
    k = V.shape[0]
    records = []
    for part in parts:
        for i, (term, level, text, _, _) in enumerate(scen):
            est, g = acc.get((part, i), [np.nan, np.full(k, np.nan)])
            records.append((part, term, level, text, est, g))
        if contrast:
            records += _contrasts(part, scen, acc, k)
    est = np.array([r[4] for r in records], dtype=float)
    G = np.array([r[5] for r in records], dtype=float).reshape(len(records), k)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0))
    from .results import _inference

    out = pd.DataFrame([r[:4] for r in records], columns=COLUMNS[:4])
    out["estimate"], out["se"] = est, se
    return out.assign(**_inference(est, se))


def _prediction(fr: Frame, part: str, over: dict):
    """Lin of the part's prediction under ``over`` (part 1, part 2 or E[y])."""
    if part == "part1":
        return fr.mean(0, over)
    if part == "part2":
        return fr.mean(1, over)
    return fr.mean(0, over) * fr.mean(1, over)


def _contrasts(part, scen, acc, k):
    """Level minus base-level rows of each factor stepped through."""
    nan = [np.nan, np.full(k, np.nan)]
    base = {
        (term, text): (level, *acc.get((part, i), nan))
        for i, (term, level, text, is_base, _) in enumerate(scen)
        if is_base
    }
    out = []
    for i, (term, level, text, is_base, _) in enumerate(scen):
        if not term or is_base:
            continue
        est, g = acc.get((part, i), nan)
        b_level, b_est, b_g = base[term, text]
        out.append((part, term, f"{level} vs {b_level}", text, est - b_est, g - b_g))
    return out
