"""What the margins engines share: row blocks, z/p/CI, at() checks, contrasts.

:mod:`.results` (average marginal effects) and :mod:`.predictive` (predictive
margins) both average over the estimation rows in blocks, check ``at()``
scenarios the same way, and turn estimates with gradients into delta-method
standard errors, z statistics and contrasts; those shared pieces live here so
neither module reaches into the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .design import level_label
from .margins import INFERENCE_COLUMNS

_Z975 = norm.ppf(0.975)
#: Rows per block of the margins computation: per-observation temporaries stay
#: in cache and memory stays bounded; estimates and X'v gradients add up over
#: blocks (the means' denominators are the whole averaging sample's).
MARGIN_BLOCK_ROWS = 32_768
#: Gradient vectors per X'V product (``lin.Reducer`` batch).
MARGIN_BATCH = 32
MARGIN_COLUMNS = [
    "part",
    "component",
    "term",
    "level",
    "contrast",
    "effect",
    *INFERENCE_COLUMNS,
]


def inference_columns(est: np.ndarray, se: np.ndarray) -> dict:
    """z, two-sided normal p and 95% CI of estimates with standard errors."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    return {
        "z": z,
        "p": 2.0 * norm.sf(np.abs(z)),
        "ci_low": est - _Z975 * se,
        "ci_high": est + _Z975 * se,
    }


def delta_se(G: np.ndarray, V: np.ndarray) -> np.ndarray:
    """sqrt(diag(G V G')), negative rounding clipped to 0."""
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0))


def row_blocks(n: int, rows2: np.ndarray):
    """(start, stop, part-2 rows before start) of each block of margin rows."""
    step = MARGIN_BLOCK_ROWS
    if n <= step:
        yield 0, n, 0
        return
    start2 = 0
    for start in range(0, n, step):
        stop = min(start + step, n)
        yield start, stop, start2
        start2 += int(np.count_nonzero(rows2[start:stop]))


def reference_group(groups: pd.Series, present: list):
    """Reference group of a contrast over groups: first in category or sorted order."""
    if isinstance(groups.dtype, pd.CategoricalDtype):
        return next(c for c in groups.cat.categories if c in present)
    try:
        return sorted(present)[0]
    except TypeError:  # mixed types: order of appearance
        return present[0]


def check_at(res, at) -> list[dict]:
    """``at`` as a list of scenarios, each checked against the model.

    Raises
    ------
    ValueError
        ``at`` neither a dict nor a list of dicts; an empty list; a variable
        that is a regressor of neither part (Stata: not found in the list of
        covariates); a non-numeric value of a continuous variable; a value
        that is not a level of a factor.
    """
    if at is None:
        return [{}]
    many = not isinstance(at, dict)
    if many and (
        isinstance(at, str)
        or not hasattr(at, "__iter__")
        or not all(isinstance(a, dict) for a in at)
    ):
        raise ValueError(f"at={at!r}: pass a dict or a list of dicts")
    ats = [dict(a) for a in at] if many else [dict(at)]
    if not ats:
        raise ValueError("at=[] gives no scenario; pass a dict or a list of dicts")
    for a in ats:
        for var, val in a.items():
            d = next(
                (
                    d
                    for d in res.designs
                    if var in d.variables.codes or var in d.variables.cont
                ),
                None,
            )
            if d is None:
                raise ValueError(
                    f"at: {var!r} is not a regressor of the model (regressors: "
                    f"{sorted(_regressors(res))})"
                )
            if var in d.variables.codes:
                d.variables.level_code(var, val)  # raises for an unknown level
                continue
            try:
                float(val)
            except (TypeError, ValueError):
                raise ValueError(
                    f"at: {var} is continuous; {val!r} is not a number"
                ) from None
    return ats


def _regressors(res) -> set[str]:
    return {v for d in res.designs for v in (*d.variables.codes, *d.variables.cont)}


def contrast_rows(
    frame: pd.DataFrame, G: np.ndarray, by: str, ref, keys: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Differences of margins from those of a reference group or scenario.

    Parameters
    ----------
    frame : pandas.DataFrame
        Margins with an ``estimate`` column and label columns.
    G : ndarray (rows, K)
        Each margin's gradient in theta = (b, g).
    by : str
        Column whose values are compared (``"over"`` or ``"at"``).
    ref : object
        Reference value of ``by``.
    keys : list of str
        Label columns matched between a row and its reference row (those of
        ``frame`` besides ``by`` and the statistics).

    Returns
    -------
    (pandas.DataFrame, ndarray)
        One row per margin whose ``by`` is not ``ref`` and whose reference
        row exists: ``estimate`` = M_a - M_ref, ``by`` = ``"a vs ref"``; and
        the gradients G_a - G_ref, so that Var = (G_a - G_ref) V (G_a - G_ref)'.
    """
    labels = list(frame[keys].itertuples(index=False, name=None))
    vals = frame[by].tolist()
    at_ref = {
        lab: i for i, (lab, v) in enumerate(zip(labels, vals, strict=True)) if v == ref
    }
    take, base = [], []
    for i, (lab, v) in enumerate(zip(labels, vals, strict=True)):
        if v != ref and lab in at_ref:
            take.append(i)
            base.append(at_ref[lab])
    out = frame.iloc[take].reset_index(drop=True)
    out["estimate"] = (
        frame["estimate"].to_numpy()[take] - frame["estimate"].to_numpy()[base]
    )
    out[by] = [f"{v} vs {ref}" for v in out[by]]
    return out, G[take] - G[base]


def at_text(at: dict) -> str:
    """``at()`` values as text: ``"x=30 f3=c"``."""
    return " ".join(f"{k}={level_label(v)}" for k, v in at.items())
