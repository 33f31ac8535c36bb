"""Bootstrap draws as row weights, from one child of the master seed per replication.

Replication r draws from ``default_rng(SeedSequence(seed, spawn_key=(r,)))``, the
r-th child of ``SeedSequence(seed).spawn(...)``: its draw depends on (seed, r) only,
so results do not depend on how replications are split among workers or the order
in which they finish.

A draw is a vector of frequency weights over the rows of the analytic sample
(0 = not drawn), so the designs are never copied or re-indexed:

* ``pairs``: n rows drawn with replacement; weight = times drawn.
* ``cluster``: PSUs resampled independently within strata (Rao and Wu 1988, the
  survey bootstrap of Stata ``bsweights`` and R ``survey``'s ``subbootstrap``):
  stratum h with n_h PSUs draws m_h = n_h - 1 PSUs with replacement and each row
  gets weight n_h / (n_h - 1) x (times its PSU was drawn), which makes the
  bootstrap variance of a linear statistic equal the with-replacement
  linearisation variance. ``method="naive"`` draws m_h = n_h with weight = count
  (biased down by (n_h - 1)/n_h). Strata with a single PSU cannot be resampled:
  by default (``singletons="pool"``) they are pooled into one pseudo-stratum;
  ``"fixed"`` keeps them at weight 1 (they then add no variance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Scheme = Literal["pairs", "cluster"]
SCHEMES = ("pairs", "cluster")


def child_rng(seed: int, r: int) -> np.random.Generator:
    """Generator of replication ``r``: the r-th SeedSequence child of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r,)))


@dataclass(frozen=True)
class Resampler:
    """How to draw one replication's row weights.

    Build with :func:`pairs` or :func:`cluster`; call :meth:`weights`.
    """

    scheme: Scheme
    n: int
    psu: np.ndarray | None = None  # PSU code of each row (cluster only)
    psu_stratum: np.ndarray | None = None  # stratum code of each PSU, sorted
    m: np.ndarray | None = None  # PSUs drawn per stratum
    scale: np.ndarray | None = None  # weight per draw, per stratum

    def weights(self, rng: np.random.Generator) -> np.ndarray:
        """Row weights of one replication (float, length n)."""
        if self.scheme == "pairs":
            return np.bincount(
                rng.integers(0, self.n, self.n), minlength=self.n
            ).astype(float)
        n_h = np.bincount(self.psu_stratum)
        start = np.concatenate([[0], np.cumsum(n_h)[:-1]])
        slots = np.repeat(np.arange(n_h.size), self.m)
        picks = start[slots] + np.floor(rng.random(slots.size) * n_h[slots]).astype(
            np.int64
        )
        w_psu = np.bincount(picks, minlength=n_h.sum()) * self.scale[self.psu_stratum]
        w_psu[self.m[self.psu_stratum] == 0] = 1.0  # unresampled singletons
        return w_psu[self.psu]


def pairs(n: int) -> Resampler:
    """Pairs (case) bootstrap over ``n`` rows."""
    return Resampler("pairs", n)


def cluster(
    strata: np.ndarray | None,
    psu: np.ndarray,
    method: Literal["rao_wu", "naive"] = "rao_wu",
    singletons: Literal["pool", "fixed"] = "pool",
) -> Resampler:
    """Cluster bootstrap: PSUs (``psu`` labels) resampled within ``strata``.

    With ``strata=None`` all PSUs form one stratum. See the module docstring for
    ``method`` and ``singletons``.
    """
    if method not in ("rao_wu", "naive"):
        raise ValueError(f"method={method!r} not in ('rao_wu', 'naive')")
    if singletons not in ("pool", "fixed"):
        raise ValueError(f"singletons={singletons!r} not in ('pool', 'fixed')")
    psu = np.asarray(psu)
    st = np.zeros(psu.size, np.int64) if strata is None else _codes(np.asarray(strata))
    pairs_ = np.unique(np.column_stack([st, _codes(psu)]), axis=0)
    psu_st = pairs_[:, 0]  # stratum of each PSU (sorted by stratum)
    n_h = np.bincount(psu_st)
    if singletons == "pool" and np.sum(n_h == 1) > 1:
        pooled = np.where(n_h == 1, n_h.size, np.arange(n_h.size))
        psu_st = _codes(pooled[psu_st])
        order = np.argsort(psu_st, kind="stable")
        pairs_, psu_st = pairs_[order], psu_st[order]
        n_h = np.bincount(psu_st)
    row_psu = _lookup(pairs_, np.column_stack([st, _codes(psu)]))
    if method == "rao_wu":
        m = np.where(n_h > 1, n_h - 1, 0)
        scale = np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0)
    else:
        m = np.where(n_h > 1, n_h, 0)
        scale = np.ones(n_h.size)
    return Resampler("cluster", psu.size, row_psu, psu_st, m, scale)


def _codes(x: np.ndarray) -> np.ndarray:
    return np.unique(x, return_inverse=True)[1].ravel().astype(np.int64)


def _lookup(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Position in ``table`` (unique rows) of each of ``rows``."""
    index = {tuple(t): i for i, t in enumerate(table.tolist())}
    return np.asarray([index[tuple(r)] for r in rows.tolist()], dtype=np.int64)
