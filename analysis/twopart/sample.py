"""Estimation samples: missing values, outcome checks, collinearity checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from .design import parse_regressors, used_variables
from .errors import CollinearityError, MissingDataError, OutcomeError
from .spec import TwoPartSpec


@dataclass
class Sample:
    """Rows used by each part and the missing-value counts behind them."""

    data: pd.DataFrame  # the N part-1 rows (used columns only)
    d: np.ndarray  # participation indicator, 0/1 float
    y: np.ndarray  # outcome (NaN allowed only outside part 2)
    rows2: np.ndarray  # bool mask of part-2 rows within the N
    dropped: dict  # stage -> {column: count}
    rows1: np.ndarray | None = None  # part-1 fit rows (None: all N)
    positions: np.ndarray | None = None  # positions of the N rows in the data


def design_columns(spec: TwoPartSpec) -> tuple[list[str], list[str], list[str]]:
    """Columns used by part 1 (with design ids), by part 2, and the design ids."""
    v = spec.vce
    ids = [c for c in (v.cluster, v.strata, v.psu, v.weights) if c is not None]
    c1 = used_variables(parse_regressors(spec.part1.regressors))
    c2 = used_variables(parse_regressors(spec.part2.regressors))
    return c1, c2, ids


def build_sample(data: pd.DataFrame, spec: TwoPartSpec, participation: str | None):
    """Select the estimation rows, counting (or refusing) missing values.

    Part 1 uses every row with the participation indicator, both parts'
    regressors (needed for combined margins) and the design columns observed.
    Part 2 uses those of them with y > 0 and an observed outcome.

    Raises
    ------
    MissingDataError
        If used columns have missing values and ``spec.missing == "raise"``.
    OutcomeError
        Negative outcomes, no zeros, no positives, or an indicator that
        contradicts the outcome.
    """
    c1, c2, ids = design_columns(spec)
    check_columns(data, [spec.outcome, *c1, *c2, *ids, *([participation] or [])])
    part_col = participation if participation is not None else spec.outcome
    cols1 = list(dict.fromkeys([part_col, *c1, *c2, *ids]))
    miss1 = data[cols1].isna()
    dropped = {"part 1": _counts(miss1)}
    keep = ~miss1.any(axis=1).to_numpy()
    used = list(dict.fromkeys([spec.outcome, *cols1]))
    df = data[used] if keep.all() else data.loc[keep, used]  # no copy if none drop
    y = df[spec.outcome].to_numpy(dtype=float)
    d = _participation(df, spec.outcome, participation, y)
    miss2 = (d == 1) & np.isnan(y)
    dropped["part 2"] = {spec.outcome: int(miss2.sum())} if miss2.any() else {}
    if spec.missing == "raise" and (dropped["part 1"] or dropped["part 2"]):
        raise MissingDataError(missing_message(dropped))
    rows2 = (d == 1) & ~np.isnan(y)
    _check_outcome(d, y, rows2, spec.outcome)
    return Sample(df, d, y, rows2, dropped, None, np.flatnonzero(keep))


def check_columns(data: pd.DataFrame, cols: list) -> None:
    """Raise ``ValueError`` naming the columns of ``cols`` absent from ``data``."""
    absent = [c for c in cols if c is not None and c not in data.columns]
    if absent:
        raise ValueError(f"columns not in the data: {absent}")


def _counts(miss: pd.DataFrame) -> dict:
    return {c: int(n) for c, n in miss.sum().items() if n}


def missing_message(dropped: dict) -> str:
    """The ``MissingDataError`` text: stage, column and rows of each missing value."""
    parts = [
        f"{stage}: " + ", ".join(f"{c} ({n})" for c, n in cnt.items())
        for stage, cnt in dropped.items()
        if cnt
    ]
    return (
        "missing values in used columns (rows with a missing value): "
        + "; ".join(parts)
        + ". Pass missing='drop' to drop them and record "
        "the counts, or fill them first."
    )


def _participation(df, outcome, participation, y) -> np.ndarray:
    if participation is None:
        return (y > 0).astype(float)
    d = df[participation].to_numpy(dtype=float)
    if not np.isin(d, (0.0, 1.0)).all():
        raise OutcomeError(f"participation indicator {participation!r} is not 0/1")
    bad = ((d == 0) & (y > 0)) | ((d == 1) & (y <= 0))
    if bad.any():
        raise OutcomeError(
            f"{int(bad.sum())} rows where {participation!r} contradicts "
            f"{outcome!r} (indicator 0 with y > 0, or 1 with y <= 0)"
        )
    return d


def _check_outcome(d, y, rows2, outcome: str) -> None:
    neg = int(np.sum(y < 0))
    if neg:
        raise OutcomeError(f"outcome {outcome!r} has {neg} negative values")
    if not (d == 0).any():
        raise OutcomeError(f"outcome {outcome!r} has no zeros: nothing for part 1")
    if not rows2.any():
        raise OutcomeError(f"outcome {outcome!r} has no usable positive values")


def check_rank(X: np.ndarray, names: list[str], label: str) -> None:
    """Raise :class:`CollinearityError` naming zero or collinear columns of ``X``."""
    check_gram(X.T @ X, names, label)


def check_gram(A: np.ndarray, names: list[str], label: str) -> None:
    """Raise :class:`CollinearityError` naming zero or collinear columns.

    ``A`` is X'X or an information matrix X'WX (positive weights): columns whose
    diagonal is zero, or linear combinations of the others (pivoted QR of the
    scaled ``A``).
    """
    diag = np.diag(A)
    zero = [n for n, v in zip(names, diag, strict=True) if v == 0.0]
    if zero:
        raise CollinearityError(
            f"{label}: columns {zero} are zero in the estimation sample "
            "(a factor level with no observations?)"
        )
    s = 1.0 / np.sqrt(np.abs(diag))
    _, r, piv = scipy.linalg.qr(A * s[:, None] * s[None, :], pivoting=True)
    dr = np.abs(np.diag(r))
    rank = int(np.sum(dr > dr[0] * 1e-10))
    if rank < len(names):
        bad = [names[j] for j in piv[rank:]]
        raise CollinearityError(
            f"{label}: regressors are collinear; drop one of {bad} "
            f"(rank {rank} < {len(names)} columns)"
        )
