"""Perfect prediction in the participation equation, handled as Stata does.

Stata's ``probit`` and ``logit`` check each regressor before fitting:

* a 0/1 regressor (a factor level's indicator or a bare 0/1 variable) whose value
  1 (or 0) occurs with only one outcome: ``note: x != 0 predicts failure
  perfectly; x omitted and N obs not used``. The regressor and those N rows are
  dropped and the model is fitted on the rest;
* a continuous regressor that separates the outcomes: ``outcome = x > c predicts
  data perfectly``, an error (r(2000)); when the two outcomes meet at one value
  c (quasi-complete), Stata keeps only the ``x == c`` rows and drops x
  (``... except for x == c subsample``).

The checks are repeated until nothing changes (a drop can make another column
separate or constant); columns left without variation (e.g. the interactions of
a dropped level) are omitted with a note, as Stata's ``omitted because of
collinearity``. After the fit, rows whose fitted probability is 0 or 1 to
machine precision are only *counted* (Stata: ``note: N failures and M successes
completely determined``); they are not a reason to refuse a fit. A fit that does
not converge is tested for separation by a linear combination of regressors
with the linear program of Konis (2007): a direction b with s_i x_i'b >= 0 for
every row (s_i = +1 for participants, -1 otherwise) and > 0 for some exists iff
the likelihood keeps rising along b, and then no finite estimate exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from .errors import EmptySampleError, SeparationError

#: Fitted probabilities within this distance of 0 or 1 count as "completely
#: determined" in the post-fit note (a note only, never an error).
DETERMINED = 1e-10
#: Relative tolerance of the rank test on the columns left after a drop.
RANK_TOL = 1e-10


@dataclass(frozen=True)
class Omitted:
    """A part-1 regressor dropped by the separation checks.

    Attributes
    ----------
    term : str
        Design column, e.g. ``"scheme=NCMS"``, ``"female"`` or ``"x"``.
    variable : str or None
        Data variable behind the column (None for a product of several).
    level : object
        Factor level of the column (None for a variable's own 0/1 column).
    reason : str
        ``"predicts failure perfectly"``, ``"predicts success perfectly"``,
        ``"predicts data perfectly except for a subsample"`` or ``"collinear"``.
    nobs : int
        Observations not used because of this column.
    note : str
        Stata-style note.
    """

    term: str
    variable: str | None
    level: object
    reason: str
    nobs: int
    note: str


@dataclass
class Part1Sample:
    """Rows and columns of part 1 left by the separation checks."""

    rows: np.ndarray  # bool mask over the N part-1 rows
    cols: np.ndarray  # indices of the design columns kept
    omitted: list[Omitted] = field(default_factory=list)

    @property
    def reduced(self) -> bool:
        """True when a row or a column was dropped."""
        return bool(self.omitted) or not self.rows.all()


def part1_sample(design, d: np.ndarray) -> Part1Sample:
    """Apply Stata's perfect-prediction checks to part 1's design.

    Parameters
    ----------
    design : Design
        Part 1's design (``_cons`` last).
    d : ndarray (n,)
        Participation indicator (0/1).

    Returns
    -------
    Part1Sample
        Rows and columns to fit, with one :class:`Omitted` per dropped column.

    Raises
    ------
    SeparationError
        A continuous regressor separates the outcomes (Stata r(2000)).
    EmptySampleError
        No rows, or only one outcome, left after the drops.

    Notes
    -----
    For each 0/1 column j among the rows still used, with R1 = {i: x_ij = 1}
    and R0 its complement: if d is constant on R1 (or on R0), column j and the
    rows of that set are dropped. For a continuous column, with m0 = max over
    d = 0 and m1 = min over d = 1 (and the mirror image), m0 < m1 is complete
    separation (error) and m0 = m1 = c keeps only the rows with x = c.
    """
    X, names = design.X, design.names
    n, k = X.shape
    rows = np.ones(n, dtype=bool)
    cols = list(range(k - 1))  # _cons (last) is never dropped
    omitted: list[Omitted] = []
    while True:
        step = _one_drop(X, d, rows, cols, design)
        if step is None:
            break
        j, drop, reason, note = step
        cols.remove(j)
        rows &= ~drop
        var, level = _variable_level(design, j)
        omitted.append(Omitted(names[j], var, level, reason, int(drop.sum()), note))
        _check_outcomes(d, rows, names[j])
    if omitted:
        cols, more = _independent(X, rows, cols, design)
        omitted += more
    return Part1Sample(rows, np.asarray([*cols, k - 1], dtype=np.int64), omitted)


def _one_drop(X, d, rows, cols, design):
    """First column (in design order) that predicts the outcome, or None."""
    dr = d[rows]
    n_pos, n = float(dr.sum()), dr.size
    whole = bool(rows.all())
    for j in cols:
        x = X[:, j] if whole else X[rows, j]
        if np.all((x == 0.0) | (x == 1.0)):
            hit = _binary_drop(x, dr, n, n_pos)
            if hit is not None:
                side, outcome = hit
                mask = np.zeros(rows.size, dtype=bool)
                mask[np.flatnonzero(rows)[x == side]] = True
                name = design.names[j]
                op = "!=" if side == 1.0 else "=="
                note = (
                    f"note: {name} {op} 0 predicts {outcome} perfectly; "
                    f"{name} omitted and {int(mask.sum())} obs not used"
                )
                return j, mask, f"predicts {outcome} perfectly", note
            continue
        hit = _continuous_drop(x, dr, design.names[j])
        if hit is not None:
            keep_value, note = hit
            mask = np.zeros(rows.size, dtype=bool)
            mask[np.flatnonzero(rows)[x != keep_value]] = True
            reason = "predicts data perfectly except for a subsample"
            return j, mask, reason, note.format(n=int(mask.sum()))
    return None


def _binary_drop(x, dr, n, n_pos):
    """(value, outcome) when x == value fixes d; value 1 is checked first."""
    n1 = float(x.sum())
    if n1 == 0.0 or n1 == n:  # constant: a collinearity, not a separation
        return None
    p1 = float(x @ dr)
    for side, size, pos in ((1.0, n1, p1), (0.0, n - n1, n_pos - p1)):
        if pos == 0.0:
            return side, "failure"
        if pos == size:
            return side, "success"
    return None


def _continuous_drop(x, dr, name):
    """Complete separation raises; quasi-complete returns (c, note template)."""
    x0, x1 = x[dr == 0.0], x[dr == 1.0]
    if not x0.size or not x1.size:
        return None
    lo0, hi0, lo1, hi1 = x0.min(), x0.max(), x1.min(), x1.max()
    for top, bottom, op, c in ((hi0, lo1, ">", hi0), (hi1, lo0, "<", lo0)):
        if top < bottom:
            raise SeparationError(
                f"part 1: outcome = {name} {op} {c:.10g} predicts data "
                f"perfectly ({x.size} observations); Stata stops here too "
                "(r(2000)): drop or recode the regressor"
            )
        if top == bottom:
            note = (
                f"note: outcome = {name} {op} {c:.10g} predicts data perfectly "
                f"except for {name} == {c:.10g} subsample: {name} omitted "
                "and {n} obs not used"
            )
            return c, note
    return None


def _check_outcomes(d, rows, name) -> None:
    dr = d[rows]
    if dr.size == 0 or dr.min() == dr.max():
        raise EmptySampleError(
            f"part 1: after dropping {name} and the observations it predicts, "
            f"{dr.size} observations are left with "
            f"{'no' if dr.size == 0 else 'a single'} outcome"
        )


def _variable_level(design, j):
    col = design.columns[j]
    if len(col.levels) == 1 and not col.conts:
        var, code = col.levels[0]
        return var, design.variables.levels[var][code]
    if len(col.conts) == 1 and not col.levels:
        return col.conts[0], None
    return None, None


def _independent(X, rows, cols, design):
    """Drop columns that are zero or dependent on earlier ones (in order)."""
    keep = [X.shape[1] - 1]  # _cons first, so it is never the one omitted
    omitted = []
    Xr = X[rows]
    gram = Xr.T @ Xr
    for j in cols:
        trial = keep + [j]
        G = gram[np.ix_(trial, trial)]
        s = np.sqrt(np.maximum(np.diag(G), 0.0))
        if s[-1] == 0.0:
            ok = False
        else:
            s[s == 0.0] = 1.0
            ev = np.linalg.eigvalsh(G / np.outer(s, s))
            ok = ev[0] > RANK_TOL * ev[-1]
        if ok:
            keep.append(j)
            continue
        var, level = _variable_level(design, j)
        name = design.names[j]
        omitted.append(
            Omitted(
                name,
                var,
                level,
                "collinear",
                0,
                f"note: {name} omitted because of collinearity",
            )
        )
    return sorted(keep[1:]), omitted


def determined_counts(p: np.ndarray, d: np.ndarray) -> tuple[int, int]:
    """Failures and successes whose fitted probability is 0 or 1 (a note only)."""
    fail = int(np.sum((d == 0.0) & (p < DETERMINED)))
    succ = int(np.sum((d == 1.0) & (p > 1.0 - DETERMINED)))
    return fail, succ


def separating_direction(X: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """A direction along which the binary likelihood rises forever, or None.

    Parameters
    ----------
    X : ndarray (n, k)
        Design of the rows used (positive weight).
    d : ndarray (n,)
        Outcome (0/1).

    Returns
    -------
    ndarray (k,) or None
        b with s_i x_i'b >= 0 for all i and > 0 for some (s_i = 2 d_i - 1),
        in the units of X; None when no such b exists.

    Notes
    -----
    Linear program of Konis (2007, ``safeBinaryRegression``): maximise
    sum_i s_i x_i'b subject to s_i x_i'b >= 0 and |b_j| <= 1 on the columns
    scaled to max |x_ij| = 1. The optimum is 0 exactly when the data overlap.
    """
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0.0] = 1.0
    A = (2.0 * d - 1.0)[:, None] * (X / scale)
    res = scipy.optimize.linprog(
        -A.sum(axis=0),
        A_ub=-A,
        b_ub=np.zeros(A.shape[0]),
        bounds=(-1.0, 1.0),
        method="highs",
    )
    if res.status != 0 or -res.fun <= 1e-7 * max(1.0, np.sqrt(A.shape[0])):
        return None
    margin = A @ res.x
    if np.min(margin) < -1e-7:  # infeasible to solver precision: no separation
        return None
    return res.x / scale


def separation_message(
    label: str, names: list[str], X: np.ndarray, d: np.ndarray, b: np.ndarray
) -> str:
    """Explain a separating direction: rows it determines and its main terms."""
    s = 2.0 * d - 1.0
    m = s * (X @ b)
    tol = 1e-7 * np.max(np.abs(m))
    n_det = int(np.sum(m > tol))
    # the largest scaled weights first; weights equal to 6 digits (a direction's
    # weights are often all +-1) stay in column order, whatever the solver's last bits
    weight = np.round(np.abs(b * np.max(np.abs(X), axis=0)), 6)
    big = np.lexsort((np.arange(len(b)), -weight))[:4]
    terms = " + ".join(f"{b[j]:.3g}*{names[j]}" for j in big if weight[j] != 0.0)
    return (
        f"{label}: the outcome is separated by a combination of regressors "
        f"({terms}): {n_det} observations are predicted perfectly and the "
        "likelihood keeps rising along that direction, so no finite estimate "
        "exists; drop or merge the regressors involved"
    )
