"""Predictions of a fitted two-part model on new data.

Notes
-----
With x and z the part-1 and part-2 regressors of a row: part 1 predicts
P(y > 0 | x) = F(x'b) (probit: Phi, logit: the logistic cdf); part 2 predicts
E[y | y > 0, z] = h(z'g) (the GLM's inverse link, or S exp(z'g) for OLS on
ln(y) with the smearing factor S of the fit); combined, twopm's default,
E[y | x, z] = F(x'b) h(z'g). Omitted part-1 regressors have b = 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import design_for, parse_regressors, used_variables
from .spec import MarginPart, validate_choice


def predict(res, newdata, part: str, linear: bool) -> pd.Series:
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

    Returns
    -------
    pandas.Series
        One prediction per row, NaN where a used column is missing.
    """
    validate_choice("part", part, MarginPart)
    if linear and part == "combined":
        raise ValueError("linear=True needs part='part1' or 'part2'")
    data = res.sample.data if newdata is None else newdata
    cols = _used_columns(res, part)
    absent = [c for c in cols if c not in data.columns]
    if absent:
        raise ValueError(f"columns not in newdata: {absent}")
    ok = ~data[cols].isna().any(axis=1).to_numpy()
    rows = data if ok.all() else data.loc[ok]
    out = np.full(len(data), np.nan)
    out[ok] = _values(res, rows, part, linear)
    return pd.Series(out, index=data.index, name=_name(part, linear))


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


def _values(res, rows: pd.DataFrame, part: str, linear: bool) -> np.ndarray:
    idx = {"part1": (0,), "part2": (1,), "combined": (0, 1)}[part]
    out = np.ones(len(rows))
    for p in idx:
        X = design_for(res.designs[p], rows).X
        eta = X @ res.fits[p].params
        if linear:
            return eta
        out = out * res.fits[p].mean.h(eta)
    return out


def _name(part: str, linear: bool) -> str:
    if linear:
        return f"xb_{part}"
    return {"part1": "pr_pos", "part2": "mu_pos", "combined": "mu"}[part]
