"""Predictions of a fitted two-part model on new data.

Notes
-----
With x and z the part-1 and part-2 regressors of a row: part 1 predicts
P(y > 0 | x) = F(x'b) (probit: Phi, logit: the logistic cdf); part 2 predicts
E[y | y > 0, z] = h(z'g) (the GLM's inverse link, or S exp(z'g) for OLS on
ln(y) with the smearing factor S of the fit); combined, twopm's default,
E[y | x, z] = F(x'b) h(z'g). Omitted part-1 regressors have b = 0. The
coefficients are read from ``res.params``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import design_for, parse_regressors, used_variables
from .spec import MarginPart, validate_choice


def predict(res, newdata, part: str, linear: bool, derivative: bool = False):
    """Predictions of ``part`` for the rows of ``newdata`` (module Notes).

    Parameters
    ----------
    res : TwoPartResults
        The fit.
    newdata : pandas.DataFrame or None
        Rows to predict; None predicts the N estimation rows.
    part : {"part1", "part2", "combined"}
        Which prediction.
    linear : bool
        The linear index instead of the mean (``part1``/``part2`` only).
    derivative : bool
        dm/d(eta) instead of the mean: F'(x'b) or h'(z'g) (parts only).

    Returns
    -------
    pandas.Series
        One prediction per row, NaN where a used column is missing.
    """
    validate_choice("part", part, MarginPart)
    if (linear or derivative) and part == "combined":
        raise ValueError("linear=True or derivative=True needs part='part1' or 'part2'")
    if linear and derivative:
        raise ValueError("linear=True and derivative=True exclude each other")
    data = res.sample.data if newdata is None else newdata
    cols = _used_columns(res, part)
    absent = [c for c in cols if c not in data.columns]
    if absent:
        raise ValueError(f"columns not in newdata: {absent}")
    ok = ~data[cols].isna().any(axis=1).to_numpy()
    rows = data if ok.all() else data.loc[ok]
    out = np.full(len(data), np.nan)
    out[ok] = _values(res, rows, part, linear, derivative)
    name = f"dmu_{part}" if derivative else _name(part, linear)
    return pd.Series(out, index=data.index, name=name)


def design_matrix(res, newdata, part: str) -> np.ndarray:
    """Design rows of ``part`` for ``newdata`` (None: the N estimation rows).

    Parameters and return value as :meth:`TwoPartResults.design_matrix`.
    """
    if part not in ("part1", "part2"):
        raise ValueError(f"part={part!r} not in ('part1', 'part2')")
    d = res.designs[0 if part == "part1" else 1]
    if newdata is None:
        return d.X
    cols = _used_columns(res, part)
    absent = [c for c in cols if c not in newdata.columns]
    if absent:
        raise ValueError(f"columns not in newdata: {absent}")
    missing = [c for c in cols if newdata[c].isna().any()]
    if missing:
        raise ValueError(f"newdata has missing values in {missing}")
    return design_for(d, newdata).X


def _used_columns(res, part: str) -> list[str]:
    specs = {
        "part1": [res.spec.part1.regressors],
        "part2": [res.spec.part2.regressors],
        "combined": [res.spec.part1.regressors, res.spec.part2.regressors],
    }[part]
    out: list[str] = []
    for s in specs:
        out += [c for c in used_variables(parse_regressors(s)) if c not in out]
    return out


def _values(res, rows, part: str, linear: bool, derivative: bool) -> np.ndarray:
    idx = {"part1": (0,), "part2": (1,), "combined": (0, 1)}[part]
    out = np.ones(len(rows))
    for p in idx:
        X = design_for(res.designs[p], rows).X
        b = np.ascontiguousarray(res.params[f"part{p + 1}"], dtype=float)
        eta = X @ b
        if linear:
            return eta
        if derivative:
            return res.fits[p].mean.d1(eta)
        out = out * res.fits[p].mean.h(eta)
    return out


def _name(part: str, linear: bool) -> str:
    if linear:
        return f"xb_{part}"
    return {"part1": "pr_pos", "part2": "mu_pos", "combined": "mu"}[part]
