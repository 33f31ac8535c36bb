"""Variance estimators with Stata's conventions.

Notes
-----
Write A for the information at unit dispersion (observed, i.e. OIM: sum_i w_i a_i
x_i x_i') and s_i = w_i u_i x_i for the scores (see :mod:`.fit`). Then

* ``oim``: V = phi A^{-1}; phi = 1 for probit/logit/binomial/Poisson, Pearson
  chi2/(n-k) for gamma/gaussian/inverse Gaussian (Stata ``glm`` scale(x2)), and
  s^2 (X'X)^{-1} for OLS on ln(y) (Stata ``regress``).
* ``robust``: V = q A^{-1} (sum_i s_i s_i') A^{-1}, q = n/(n-1) for ML commands
  (Stata's ``_robust`` default) and n/(n-k) for ``regress`` (HC1).
* ``cluster``: s_i replaced by cluster sums s_g; q = G/(G-1) for ML commands and
  G/(G-1) (n-1)/(n-k) for ``regress``. statsmodels' discrete models with
  ``cov_type="cluster"`` multiply by G/(G-1) (n-1)/(n-k) by default
  (``use_correction=True``), i.e. the ``regress`` factor, which is *not* what
  Stata's ``probit``/``glm`` report; this module applies the ML factor itself.
* ``survey``: Taylor linearisation, V = A^{-1} G A^{-1} with
  G = sum_h n_h/(n_h-1) sum_j (z_hj - zbar_h)(z_hj - zbar_h)', z_hj the PSU
  totals of s_i within stratum h (with replacement, no FPC), as Stata ``svy``
  and R ``survey``. Part 2 scores are zero outside its sample (subpopulation).
* ``eim`` (Stata ``glm, irls`` or ``vce(eim)``; R ``vcov`` of a ``glm``):
  V = phi A_e^{-1}, A_e = sum_i w_i x_i x_i' / (V(mu_i) g'(mu_i)^2) the expected
  information (probit: phi(eta)^2 / (Phi(eta)(1 - Phi(eta)))); equal to OIM
  for canonical links (logit, Poisson, Gaussian identity) and OLS.
* R ``sandwich`` types: ``hc0`` V = B^{-1} M B^{-1} (``vcovHC(type="HC0")``),
  ``hc1`` the same times n/(n-k) (``vcovHC(type="HC1")``), ``cl`` cluster sums
  with G/(G-1) for a GLM (``vcovCL`` defaults: type HC0, ``cadjust=TRUE``) and
  G/(G-1) (n-1)/(n-k) for OLS (type HC1 for ``lm``). The bread B is the
  expected information by default (what ``sandwich`` uses for a ``glm``) or
  the observed one (``bread="oim"``); every sandwich type takes either.
* Joint covariance of both parts: ``block`` (zero cross-covariance, as twopm) or
  ``stacked`` (the stacked-score sandwich of ``suest``: scores of both parts in
  one meat, q = N/(N-1) or G/(G-1) on the full sample).
"""

from __future__ import annotations

import numpy as np

from .errors import ClusterError


def information(X: np.ndarray, a: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Return A = X' diag(w a) X (O(N K^2) time, O(N K) memory)."""
    aw = a if w is None else a * w
    return (X * aw[:, None]).T @ X


def scores(X: np.ndarray, u: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Score matrix S with rows s_i = w_i u_i x_i."""
    uw = u if w is None else u * w
    return X * uw[:, None]


def group_sums(S: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``S`` within groups coded 0..G-1 (K bincounts, O(N K))."""
    return np.column_stack(
        [
            np.bincount(codes, weights=S[:, j], minlength=n_groups)
            for j in range(S.shape[1])
        ]
    )


def meat(S: np.ndarray, vce: str, groups: dict) -> np.ndarray:
    """Sum of outer products of scores, cluster sums or centred PSU totals."""
    if vce in ("robust", "hc0", "hc1"):
        return S.T @ S
    if vce in ("cluster", "cl"):
        Z = group_sums(S, groups["cluster"], groups["n_cluster"])
        return Z.T @ Z
    Z = group_sums(S, groups["psu"], groups["n_psu"])
    strata = groups["psu_stratum"]
    n_h = np.bincount(strata)
    if np.any(n_h == 1):
        raise ClusterError(
            f"{int(np.sum(n_h == 1))} strata have a single PSU; the linearised "
            "variance is undefined (merge them with a neighbouring stratum)"
        )
    means = group_sums(Z, strata, n_h.size) / n_h[:, None]
    Zc = (Z - means[strata]) * np.sqrt(n_h / (n_h - 1.0))[strata, None]
    return Zc.T @ Zc


def small_sample_factor(kind: str, vce: str, n: int, k: int, n_groups: int) -> float:
    """Multiplier q of the sandwich (see module Notes); 1 for ``survey``.

    Parameters
    ----------
    kind : {"ml", "ols"}
        Estimator: ML (probit/logit/glm) or OLS.
    vce : str
        ``robust``/``cluster`` (Stata) or ``hc0``/``hc1``/``cl`` (R sandwich).
    n, k : int
        Observations and coefficients.
    n_groups : int
        Clusters (cluster types only).

    Returns
    -------
    float
        robust: n/(n-1) (ML), n/(n-k) (OLS); cluster and cl: G/(G-1) (ML),
        G/(G-1)(n-1)/(n-k) (OLS); hc0: 1; hc1: n/(n-k); survey: 1.
    """
    if vce == "robust":
        return n / (n - k) if kind == "ols" else n / (n - 1.0)
    if vce == "hc1":
        return n / (n - k)
    if vce in ("cluster", "cl"):
        if n_groups < 2:
            raise ClusterError(f"cluster variable has {n_groups} cluster; need >= 2")
        q = n_groups / (n_groups - 1.0)
        return q * (n - 1.0) / (n - k) if kind == "ols" else q
    return 1.0


def bread_inverse(fit, X: np.ndarray, w, bread: str) -> np.ndarray:
    """Inverse of the observed (``"oim"``) or expected (``"eim"``) information.

    A = sum_i w_i a_i x_i x_i' with a_i the observed-information factor
    (``fit.extra["info"]``, formed at the fit) or the expected one
    ``fit.extra["a_eim"]`` (1 / (V(mu) g'(mu)^2) at unit dispersion).
    """
    if bread == "oim" or "a_eim" not in fit.extra:
        return np.linalg.inv(fit.extra["info"])
    return np.linalg.inv(information(X, fit.extra["a_eim"], w))


def part_vcov(
    fit, X: np.ndarray, w, vce: str, groups: dict, bread: str = "oim"
) -> np.ndarray:
    """Covariance of one part's coefficients under ``vce``.

    Parameters
    ----------
    fit : PartFit
        With ``extra["info"]`` = A.
    X : ndarray
        The part's estimation design (``n`` rows).
    w : ndarray or None
        Sampling weights of those rows.
    vce : {"oim", "eim", "robust", "cluster", "survey", "hc0", "hc1", "cl"}
        Variance type (see module Notes).
    groups : dict
        Codes of clusters / PSUs / strata for these rows (see ``make_groups``).
    bread : {"oim", "eim"}
        Information matrix of a sandwich.

    Returns
    -------
    ndarray (k, k)
        ``oim``/``eim``: phi A^{-1}; sandwich types: q A^{-1} M A^{-1} with M
        the sum of score outer products (:func:`meat`) and q from
        :func:`small_sample_factor`.
    """
    if vce in ("oim", "eim"):
        return fit.scale * bread_inverse(fit, X, w, vce)
    Ainv = bread_inverse(fit, X, w, bread)
    S = scores(X, fit.u, w)
    n, k = X.shape
    q = small_sample_factor(fit.kind, vce, n, k, groups.get("n_cluster", 0))
    V = q * Ainv @ meat(S, vce, groups) @ Ainv
    return 0.5 * (V + V.T)


def stacked_vcov(
    fits, Xs, w, vce: str, groups: dict, rows2: np.ndarray, bread: str = "oim"
):
    """Joint sandwich of both parts from stacked scores (``suest``).

    ``rows2`` are the positions, within the N part-1 rows, of part 2's rows;
    its scores are zero elsewhere. ``vce="oim"``/``"eim"`` are treated as
    ``robust``; q is that of an ML command with k = k1 + k2 on the N rows.
    """
    f1, f2 = fits
    X1, X2 = Xs
    n = X1.shape[0]
    k1, k2 = X1.shape[1], X2.shape[1]
    S = np.zeros((n, k1 + k2))
    S[:, :k1] = scores(X1, f1.u, w)
    S[rows2, k1:] = scores(X2, f2.u, None if w is None else w[rows2])
    Ainv = np.zeros((k1 + k2, k1 + k2))
    Ainv[:k1, :k1] = bread_inverse(f1, X1, w, bread)
    Ainv[k1:, k1:] = bread_inverse(f2, X2, None if w is None else w[rows2], bread)
    kind_vce = "robust" if vce in ("oim", "eim") else vce
    q = small_sample_factor("ml", kind_vce, n, k1 + k2, groups.get("n_cluster", 0))
    V = q * Ainv @ meat(S, kind_vce, groups) @ Ainv
    return 0.5 * (V + V.T)


def make_groups(cluster=None, strata=None, psu=None) -> dict:
    """Integer codes for cluster ids, and for PSUs nested in strata."""
    out: dict = {}
    if cluster is not None:
        codes, uniq = _codes(cluster)
        out.update(cluster=codes, n_cluster=uniq)
    if psu is not None:
        st = np.zeros(len(psu), dtype=np.int64) if strata is None else _codes(strata)[0]
        pairs = np.column_stack([st, _codes(psu)[0]])
        uniq_pairs, pcodes = np.unique(pairs, axis=0, return_inverse=True)
        out.update(
            psu=pcodes.ravel(), n_psu=len(uniq_pairs), psu_stratum=uniq_pairs[:, 0]
        )
    return out


def _codes(x) -> tuple[np.ndarray, int]:
    uniq, codes = np.unique(np.asarray(x), return_inverse=True)
    return codes.ravel().astype(np.int64), len(uniq)


def subset_groups(groups: dict, rows: np.ndarray, survey: bool) -> dict:
    """Recode groups for a sub-sample.

    Clusters are recoded over ``rows``; survey designs
    keep all PSUs (subpopulation convention), handled by zero-padding scores.
    """
    if "cluster" not in groups or survey:
        return groups
    codes, n = _codes(groups["cluster"][rows])
    return {**groups, "cluster": codes, "n_cluster": n}
