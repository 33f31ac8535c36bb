"""Univariate tests of Table 2 and checks of published p-values against summaries.

Table 2 of Wang et al. (2022) compares outcomes across the three migration scopes with a
chi-square test (the share reimbursed) and a one-way ANOVA (expenditure, amount, ratio).
This module wraps those tests so they return one tidy record each, and recomputes them
from *published summary statistics* (group means, SDs and sizes), so that a published
p-value can be checked without the microdata and the group sizes it implies can be
searched for (see ``docs/table2_pvalues.md``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class StatResult:
    """One hypothesis test, tidy.

    Attributes
    ----------
    test : str
        ``"chi2"``, ``"anova"`` or ``"t"`` (with ``"_welch"`` for unequal variances).
    statistic : float
        Chi-square, F or t statistic.
    df : tuple of float
        Degrees of freedom (one entry for chi2 / t, two for F).
    pvalue : float
        Two-sided p-value.
    n : int
        Number of observations the test used.
    """

    test: str
    statistic: float
    df: tuple[float, ...]
    pvalue: float
    n: int

    def as_dict(self) -> dict[str, object]:
        """Return the fields as a flat dict (``df`` joined as ``"d1,d2"``)."""
        record = asdict(self)
        record["df"] = ",".join(f"{d:g}" for d in self.df)
        return record


def chi2_independence(table: Sequence[Sequence[float]]) -> StatResult:
    """Pearson chi-square test of independence on an r x c contingency table.

    Parameters
    ----------
    table : array-like of shape (r, c)
        Observed counts.

    Returns
    -------
    StatResult

    Notes
    -----
    ``scipy.stats.chi2_contingency`` with ``correction=False``: no Yates continuity
    correction, as Stata's ``tabulate ..., chi2`` (the correction would only ever apply
    to a 2 x 2 table). The statistic is sum (O - E)^2 / E with E = row total x column
    total / N, on (r - 1)(c - 1) degrees of freedom.
    """
    observed = np.asarray(table, dtype=float)
    statistic, pvalue, dof, _ = stats.chi2_contingency(observed, correction=False)
    return StatResult(
        "chi2", float(statistic), (float(dof),), float(pvalue), int(observed.sum())
    )


def chi2_from_counts(successes: Sequence[int], totals: Sequence[int]) -> StatResult:
    """Chi-square test that a binary outcome's share is equal across k groups.

    Parameters
    ----------
    successes : sequence of int
        Number with the outcome in each group (e.g. reimbursed by scope).
    totals : sequence of int
        Group sizes.

    Returns
    -------
    StatResult
        The test on the 2 x k table [successes; totals - successes].
    """
    yes = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    if yes.shape != n.shape or np.any(yes > n) or np.any(yes < 0):
        raise ValueError("successes must be non-negative and <= totals, same length")
    return chi2_independence(np.vstack([yes, n - yes]))


def oneway_anova(groups: Sequence[Sequence[float]]) -> StatResult:
    """One-way ANOVA F test on raw observations (``scipy.stats.f_oneway``).

    Parameters
    ----------
    groups : sequence of array-like
        The observations of each group.

    Returns
    -------
    StatResult
    """
    arrays = [np.asarray(g, dtype=float) for g in groups]
    result = stats.f_oneway(*arrays)
    n = sum(len(a) for a in arrays)
    df = (float(len(arrays) - 1), float(n - len(arrays)))
    return StatResult("anova", float(result.statistic), df, float(result.pvalue), n)


def anova_from_summary(
    means: Sequence[float], sds: Sequence[float], ns: Sequence[int]
) -> StatResult:
    """One-way ANOVA computed from group means, SDs (ddof=1) and sizes.

    Parameters
    ----------
    means, sds, ns : sequence of float
        One entry per group.

    Returns
    -------
    StatResult
        Identical (to rounding) to :func:`oneway_anova` on any data with these
        summaries.

    Notes
    -----
    With grand mean m = sum n_j m_j / N, SSB = sum n_j (m_j - m)^2 on k - 1 df and
    SSW = sum (n_j - 1) s_j^2 on N - k df, F = (SSB / (k - 1)) / (SSW / (N - k)).
    With k = 2 this is the pooled-variance two-sample t test (F = t^2).
    """
    f_stat, pvalue = anova_arrays(means, sds, ns)
    n = int(np.sum(ns))
    df = (float(len(ns) - 1), float(n - len(ns)))
    return StatResult("anova", float(f_stat), df, float(pvalue), n)


def anova_arrays(means, sds, ns) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised F and p of a one-way ANOVA from summaries.

    Parameters
    ----------
    means, sds : array-like, broadcastable to ``ns``
        Group means and SDs along the last axis.
    ns : array-like of shape (..., k)
        Group sizes; leading axes index candidate designs.

    Returns
    -------
    f_stat, pvalue : numpy.ndarray of shape ``ns.shape[:-1]``
    """
    n = np.asarray(ns, dtype=float)
    m = np.broadcast_to(np.asarray(means, dtype=float), n.shape)
    s = np.broadcast_to(np.asarray(sds, dtype=float), n.shape)
    k = n.shape[-1]
    total = n.sum(axis=-1)
    grand = (n * m).sum(axis=-1) / total
    ssb = (n * (m - grand[..., None]) ** 2).sum(axis=-1)
    ssw = ((n - 1) * s**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = (ssb / (k - 1)) / (ssw / (total - k))
    return f_stat, stats.f.sf(f_stat, k - 1, total - k)


def ttest_from_summary(
    means: Sequence[float],
    sds: Sequence[float],
    ns: Sequence[int],
    equal_var: bool = True,
) -> StatResult:
    """Two-sample t test from two groups' means, SDs and sizes.

    Parameters
    ----------
    means : sequence of float, length 2
        Group means.
    sds : sequence of float, length 2
        Group SDs (ddof=1).
    ns : sequence of int, length 2
        Group sizes.
    equal_var : bool, default True
        Pooled-variance test (equal to the 2-group ANOVA); False gives Welch's test.

    Returns
    -------
    StatResult
    """
    result = stats.ttest_ind_from_stats(
        means[0], sds[0], ns[0], means[1], sds[1], ns[1], equal_var=equal_var
    )
    if equal_var:
        dof = float(ns[0] + ns[1] - 2)
    else:
        v0, v1 = sds[0] ** 2 / ns[0], sds[1] ** 2 / ns[1]
        dof = (v0 + v1) ** 2 / (v0**2 / (ns[0] - 1) + v1**2 / (ns[1] - 1))
    name = "t" if equal_var else "t_welch"
    n = int(ns[0] + ns[1])
    return StatResult(name, float(result.statistic), (dof,), float(result.pvalue), n)


def pooled_summary(means, sds, ns) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof=1) of the union of groups, from group summaries.

    Parameters
    ----------
    means : array-like, broadcastable to ``ns``
        Group means.
    sds : array-like, broadcastable to ``ns``
        Group SDs (ddof=1).
    ns : array-like of shape (..., k)
        Group sizes; leading axes index candidate designs.

    Returns
    -------
    mean, sd : numpy.ndarray of shape ``ns.shape[:-1]``

    Notes
    -----
    Total sum of squares = sum (n_j - 1) s_j^2 + sum n_j (m_j - m)^2, divided by N - 1.
    """
    n = np.asarray(ns, dtype=float)
    m = np.broadcast_to(np.asarray(means, dtype=float), n.shape)
    s = np.broadcast_to(np.asarray(sds, dtype=float), n.shape)
    total = n.sum(axis=-1)
    grand = (n * m).sum(axis=-1) / total
    tss = ((n - 1) * s**2).sum(axis=-1) + (n * (m - grand[..., None]) ** 2).sum(axis=-1)
    return grand, np.sqrt(tss / (total - 1))


def format_p(pvalue: float, decimals: int = 3) -> str:
    """Format a p-value as the paper does: 3 decimals, ``"<0.001"`` below 0.001.

    Rounds half up on the shortest decimal representation of ``pvalue`` (0.3535 ->
    ``"0.354"``), the convention :func:`published_interval` inverts.
    """
    threshold = Decimal(1).scaleb(-decimals)
    value = Decimal(repr(float(pvalue)))
    if value < threshold:
        return f"<{threshold}"
    return str(value.quantize(threshold, rounding=ROUND_HALF_UP))


def published_interval(published: str) -> tuple[float, float]:
    """The half-open interval [lo, hi) of true values that print as ``published``.

    Parameters
    ----------
    published : str
        A printed number (``"0.354"``) or bound (``"<0.001"``).

    Returns
    -------
    (float, float)
        ``"0.354"`` -> [0.3535, 0.3545); ``"<0.001"`` -> [0, 0.001).
    """
    text = published.strip()
    if text.startswith("<"):
        return 0.0, float(text[1:])
    value = Decimal(text)
    half = Decimal(1).scaleb(value.as_tuple().exponent) / 2
    return float(value - half), float(value + half)


def p_consistent(pvalue, published: str) -> np.ndarray:
    """Whether each ``pvalue`` prints as ``published`` (see ``published_interval``)."""
    lo, hi = published_interval(published)
    p = np.asarray(pvalue, dtype=float)
    return (p >= lo) & (p < hi)


def consistent_sample_sizes(
    means: Sequence[float],
    sds: Sequence[float],
    published_p: str,
    bounds: Sequence[tuple[int, int]],
    total: int | None = None,
    half_width: float = 0.005,
) -> pd.DataFrame:
    """Group sizes whose ANOVA on the published summaries prints ``published_p``.

    Parameters
    ----------
    means, sds : sequence of float
        Published group means and SDs (k groups).
    published_p : str
        The p-value as printed, e.g. ``"0.354"`` or ``"<0.001"``.
    bounds : sequence of (int, int)
        Inclusive range searched for each group's size.
    total : int, optional
        If given, only designs whose sizes sum to ``total`` (the last group's size is
        ``total`` minus the others').
    half_width : float, default 0.005
        Rounding half-width of the published means and SDs (0.005 for 2 decimals).
        A design is consistent if some summaries within +/- ``half_width`` of the
        published ones give a p-value that prints as ``published_p``; 0 uses the
        printed summaries exactly.

    Returns
    -------
    pandas.DataFrame
        Columns ``n_1 .. n_k``, ``N``, ``F``, ``p`` (at the printed summaries) and
        ``p_min``, ``p_max`` (over the rounding box): every consistent design, sorted.

    Notes
    -----
    With k = 2 the ANOVA is the pooled two-sample t test. The p range over the rounding
    box is taken over its corners (see :func:`p_range_over_rounding`).
    """
    grid = _size_grid(bounds, total)
    f_stat, pvalue = anova_arrays(means, sds, grid)
    p_min, p_max = p_range_over_rounding(means, sds, grid, half_width)
    lo, hi = published_interval(published_p)
    keep = (p_max >= lo) & (p_min < hi)
    columns = [f"n_{j + 1}" for j in range(grid.shape[1])]
    out = pd.DataFrame(grid[keep].astype(int), columns=columns)
    out["N"] = out[columns].sum(axis=1)
    out["F"] = f_stat[keep]
    out["p"] = pvalue[keep]
    out["p_min"] = p_min[keep]
    out["p_max"] = p_max[keep]
    return out.sort_values(columns, ignore_index=True)


def p_range_over_rounding(means, sds, ns, half_width: float):
    """Smallest and largest ANOVA p over summaries within the rounding of the printed.

    Parameters
    ----------
    means, sds : sequence of float
        Printed group means and SDs.
    ns : array-like of shape (..., k)
        Candidate group sizes.
    half_width : float
        Each mean and SD may lie anywhere in [printed - h, printed + h].

    Returns
    -------
    p_min, p_max : numpy.ndarray of shape ``ns.shape[:-1]``

    Notes
    -----
    Evaluated at the 2^(2k) corners of the box. The within sum of squares is monotone
    in each SD and the between sum of squares is convex in the means; the box is tiny
    against the spread of the means, so the corners bracket the range.
    """
    m0 = np.asarray(means, dtype=float)
    s0 = np.asarray(sds, dtype=float)
    _, p_min = anova_arrays(m0, s0, ns)
    p_max = p_min.copy()
    if half_width > 0:
        signs = itertools.product((-1.0, 1.0), repeat=2 * len(m0))
        for sign in signs:
            step = half_width * np.asarray(sign)
            _, p = anova_arrays(m0 + step[: len(m0)], s0 + step[len(m0) :], ns)
            p_min, p_max = np.minimum(p_min, p), np.maximum(p_max, p)
    return p_min, p_max


MAX_GRID = 20_000_000


def _size_grid(bounds: Sequence[tuple[int, int]], total: int | None) -> np.ndarray:
    """All size vectors within ``bounds`` (summing to ``total`` if given), (m, k)."""
    ranges = [np.arange(lo, hi + 1) for lo, hi in bounds]
    free = ranges[:-1] if total is not None else ranges
    size = int(np.prod([len(r) for r in free], dtype=float))
    if size > MAX_GRID:
        raise ValueError(f"search grid of {size} designs exceeds {MAX_GRID}; narrow it")
    mesh = np.meshgrid(*free, indexing="ij")
    grid = np.column_stack([axis.ravel() for axis in mesh]).astype(float)
    if total is None:
        return grid
    last = total - grid.sum(axis=1)
    lo, hi = bounds[-1]
    ok = (last >= lo) & (last <= hi)
    return np.column_stack([grid[ok], last[ok]])


def consistent_binary_sizes(
    mean_pct: str, sd_pct: str, n_range: tuple[int, int]
) -> pd.DataFrame:
    """Group sizes n (and counts k) whose 100*k/n and 100*SD(ddof=1) print as published.

    Parameters
    ----------
    mean_pct, sd_pct : str
        The printed mean and SD of a 0/1 variable in percent (``"81.76"``, ``"38.69"``).
    n_range : (int, int)
        Inclusive range of group sizes searched.

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``k``, ``mean_pct``, ``sd_pct`` for every consistent (n, k).

    Notes
    -----
    For a 0/1 variable with share p = k/n, SD (ddof=1) = sqrt(p (1 - p) n / (n - 1)).
    """
    n = np.arange(max(n_range[0], 2), n_range[1] + 1, dtype=float)
    k = np.arange(0, n_range[1] + 1, dtype=float)
    nn, kk = np.meshgrid(n, k, indexing="ij")
    share = np.minimum(kk / nn, 1.0)
    sd = 100 * np.sqrt(share * (1 - share) * nn / (nn - 1))
    keep = (kk <= nn) & p_consistent(100 * share, mean_pct) & p_consistent(sd, sd_pct)
    return pd.DataFrame(
        {
            "n": nn[keep].astype(int),
            "k": kk[keep].astype(int),
            "mean_pct": 100 * share[keep],
            "sd_pct": sd[keep],
        }
    )
