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
r.f``), whose gradient is G_l - G_base. ``contrast="over"`` returns instead
the differences M_s(g) - M_s(r) between each ``over`` group g and the reference
group r (first in category or sorted order), ``contrast="at"`` the
differences M_s(g) - M_1(g) between each ``at`` scenario and the first; the
gradient of a difference is the difference of gradients, so its variance
(G_a - G_r) V (G_a - G_r)' includes the covariance of the two margins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import inference
from .atmeans import MeanPart, mean_point
from .design import level_label
from .lin import Reducer, reduce_mean
from .margins import INFERENCE_COLUMNS, Frame
from .spec import MarginPart, validate_choice

COLUMNS = ["part", "term", "level", "at", *INFERENCE_COLUMNS]


def predictive_margins(
    res, parts, at, levels, over, contrast, part2_sample, atmeans=False
):
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
    contrast : bool or {"over", "at"}
        True: add level - base differences for ``levels`` (``margins r.f``).
        ``"over"``: return only the differences between each ``over`` group
        and the reference group (``margins, over(r.g)``); ``"at"``: only the
        differences between each ``at`` scenario and the first
        (``contrast(atcontrast(r))``), within each group.
    part2_sample : {"positives", "all"}
        Averaging rows of part-2 margins.
    atmeans : bool
        Predictions at the means of the covariates over the averaging rows
        instead of mean predictions (Stata ``atmeans``; see
        :mod:`analysis.twopart.atmeans`): F(xbar'b), h(zbar'g) and
        F(xbar'b) h(xbar'g), gradients f xbar, h' zbar and their products.

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
    inference.check_at(res, at)

    if contrast not in (False, True, "over", "at"):
        raise ValueError(f"contrast={contrast!r} not in (False, True, 'over', 'at')")
    if contrast == "over" and over is None:
        raise ValueError("contrast='over' needs over=")
    if contrast == "at" and (isinstance(at, dict) or len(at or []) < 2):
        raise ValueError("contrast='at' needs at= as a list of at least two scenarios")
    scen = _scenarios(res, at, levels)
    groups = None if over is None else res.over_groups(over)
    glist = [None] if groups is None else list(pd.unique(groups.dropna()))
    frames, grads = [], []
    for g in glist:
        mask = None if g is None else (groups == g).to_numpy()
        f, G = _rows(res, parts, scen, mask, contrast is True, part2_sample, atmeans)
        frames.append(f if g is None else f.assign(over=g))
        grads.append(G)
    out, G = pd.concat(frames, ignore_index=True), np.vstack(grads)
    if contrast in ("over", "at"):
        if contrast == "over" and len(glist) < 2:
            raise ValueError(
                f"contrast='over' needs two groups of over={over!r}; found {len(glist)}"
            )
        ref = (
            inference.reference_group(groups, glist)
            if contrast == "over"
            else scen[0][2]
        )
        keys = ["part", "term", "level", "at" if contrast == "over" else "over"]
        keys = [k for k in keys if k in out.columns]
        out, G = inference.contrast_rows(out, G, contrast, ref, keys)
    se = inference.delta_se(G, res.cov.to_numpy())
    out["se"] = se
    out = out.assign(**inference.inference_columns(out["estimate"].to_numpy(), se))
    return out[COLUMNS + (["over"] if "over" in out.columns else [])]


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


def _at_means(res, samples, scen) -> dict:
    """(part, scenario) -> [prediction at the means, its gradient] (atmeans)."""
    k1 = len(res.context.params[0])
    acc = {}
    for part, (rows, total) in samples.items():
        if total == 0.0:
            continue
        pts = [mean_point(d, rows, res.weights) for d in res.designs]
        p1, p2 = (MeanPart(res, p, pts[p], {}) for p in (0, 1))
        for i, (*_, over) in enumerate(scen):
            (F, gF), (h, gh) = p1.mean(over), p2.mean(over)
            if part == "part1":
                acc[part, i] = [F, np.r_[gF, np.zeros_like(gh)]]
            elif part == "part2":
                acc[part, i] = [h, np.r_[np.zeros(k1), gh]]
            else:
                acc[part, i] = [F * h, np.r_[gF * h, F * gh]]
    return acc


def _rows(res, parts, scen, mask, contrast, p2s, atmeans=False):
    """(labels and estimates, gradients in (b, g)) of the margins over ``mask``."""
    samples = _samples(res, parts, mask, p2s)
    n = len(res.sample.d)
    acc: dict = _at_means(res, samples, scen) if atmeans else {}
    for start, stop, start2 in (
        [] if atmeans else inference.row_blocks(n, res.sample.rows2)
    ):
        whole = stop - start == n
        ctx = res.context if whole else res.context.block(start, stop, start2)
        red = Reducer(inference.MARGIN_BATCH)
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
    k = res.cov.shape[0]
    records = []
    for part in parts:
        for i, (term, level, text, _, _) in enumerate(scen):
            est, g = acc.get((part, i), [np.nan, np.full(k, np.nan)])
            records.append((part, term, level, text, est, g))
        if contrast:
            records += _contrasts(part, scen, acc, k)
    est = np.array([r[4] for r in records], dtype=float)
    G = np.array([r[5] for r in records], dtype=float).reshape(len(records), k)
    out = pd.DataFrame([r[:4] for r in records], columns=COLUMNS[:4])
    out["estimate"] = est
    return out, G


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
