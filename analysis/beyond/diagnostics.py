"""Specification checks for each equation, in the canon of Deb, Norton and Manning.

Deb, Norton & Manning (2017), *Health Econometrics Using Stata*, ch. 5-6, check a
two-part model equation by equation:

* part 1 (probit): Pregibon link test, Ramsey RESET, Hosmer-Lemeshow calibration;
* part 2 (GLM on the positives): modified Park test for the variance function
  (the family), Pregibon link test and RESET for the link, an AIC/BIC grid over
  families and links, and a Box-Cox check of the scale of the positive amounts.
  On the ratio (a proportion) these are the published Gamma GLM's own checks,
  kept for comparison; the Park test's verdict says that a proportion is modelled
  by beta regression or fractional logit/probit instead
  (:mod:`analysis.beyond.robustness`), not by choosing a GLM variance power.

Every check is a pure function of arrays: the outcome, the design matrix ``X``
(with its constant, as :mod:`analysis.twopart` builds it) and, where needed, the
fitted mean. GLM families, links, likelihoods and AIC/BIC are statsmodels'; the
Box-Cox likelihood is scipy's. :func:`equation_table` assembles one table per
equation with a one-line verdict per check.

Known answers (``tests/test_diagnostics.py``): Gamma-log data give a Park slope
near 2 and Poisson data near 1; the link test and RESET accept a correct link and
reject a wrong one in large N; the grid picks the simulating family and link;
Hosmer-Lemeshow accepts a correct probit; Box-Cox finds lambda near 0 for
lognormal data.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special, stats

ALPHA = 0.05
#: Smallest expected number of successes and of failures in a Hosmer-Lemeshow
#: group (smaller groups are pooled with their neighbours).
HL_MIN_EXPECTED = 5.0
#: Park-test slope lambda of each family: Var(y|x) proportional to E(y|x)^lambda.
PARK_FAMILIES = {"gaussian": 0.0, "poisson": 1.0, "gamma": 2.0, "inverse_gaussian": 3.0}
FAMILIES = {
    "gaussian": sm.families.Gaussian,
    "poisson": sm.families.Poisson,
    "gamma": sm.families.Gamma,
    "inverse_gaussian": sm.families.InverseGaussian,
}
LINKS = {
    "log": sm.families.links.Log,
    "identity": sm.families.links.Identity,
    "sqrt": lambda: sm.families.links.Power(0.5),
}
COLUMNS = [
    "check",
    "item",
    "estimate",
    "se",
    "statistic",
    "df",
    "p",
    "aic",
    "bic",
    "verdict",
]


def glm_family(family: str, link: str) -> sm.families.Family:
    """A statsmodels family object for ``family`` with ``link`` (names as above).

    statsmodels' list of admissible links per family omits the square root for
    most families; the grid needs it, so the check is switched off (the IRLS and
    the likelihood do not depend on it).
    """
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not one of {tuple(FAMILIES)}")
    if link not in LINKS:
        raise ValueError(f"link={link!r} is not one of {tuple(LINKS)}")
    return FAMILIES[family](LINKS[link](), check_link=False)


#: Transformation of y whose OLS fit gives IRLS its starting values, per link
#: (zeros and negatives are first raised to a tenth of the mean absolute y).
START = {"log": np.log, "identity": np.asarray, "sqrt": np.sqrt}


def fit_glm(y: np.ndarray, X: np.ndarray, family: str, link: str):
    """Fit a GLM by IRLS (statsmodels) from OLS starting values on the link scale.

    Starting from OLS of g(y) on X (instead of statsmodels' default, the link of
    the mean of y) lets the identity and square-root links converge; the
    non-canonical-link warnings are silenced.
    """
    y = np.asarray(y, float)
    floor = y if link == "identity" else np.maximum(y, 0.1 * np.mean(np.abs(y)))
    start, *_ = np.linalg.lstsq(X, START[link](floor), rcond=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.GLM(y, X, family=glm_family(family, link))
        return model.fit(start_params=start, maxiter=200)


def park_test(y: np.ndarray, mu: np.ndarray) -> dict:
    """Modified Park test: the power of the mean that the variance follows.

    Parameters
    ----------
    y, mu : ndarray
        Positive outcomes and their fitted means from a GLM with a log link (or
        any consistent estimate of E[y|x]).

    Returns
    -------
    dict
        ``slope`` lambda and its robust ``se``, ``p`` of H0: lambda = l for each
        family in :data:`PARK_FAMILIES`, and the nearest family.

    Notes
    -----
    Manning & Mullahy (2001); DNM section 6.4: a Gamma GLM with log link of the
    squared raw residual on ln(mu),
    E[(y - mu)^2 | x] = exp(a + lambda ln mu), fitted with robust (HC1) SEs.
    lambda = 0 Gaussian, 1 Poisson, 2 Gamma, 3 inverse Gaussian.
    """
    r2 = (np.asarray(y, float) - mu) ** 2
    Z = sm.add_constant(np.log(mu))
    fit = sm.GLM(r2, Z, family=sm.families.Gamma(sm.families.links.Log()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit.fit(cov_type="HC1")
    slope, se = float(res.params[1]), float(res.bse[1])
    p = {
        f: float(2 * stats.norm.sf(abs(slope - lam) / se))
        for f, lam in PARK_FAMILIES.items()
    }
    nearest = min(PARK_FAMILIES, key=lambda f: abs(PARK_FAMILIES[f] - slope))
    return {"slope": slope, "se": se, "p": p, "nearest": nearest}


def standardised_index(xb: np.ndarray) -> np.ndarray:
    """(xb - mean) / sd: powers of it span the same space as powers of xb.

    Both tests below add powers of the fitted index to a model with a constant;
    centring and scaling changes no test statistic but keeps the powers well
    conditioned (amounts in yuan put xb^3 near 1e3).
    """
    sd = xb.std()
    return (xb - xb.mean()) / (sd if sd > 0 else 1.0)


def link_test(y: np.ndarray, X: np.ndarray, family: str, link: str) -> dict:
    """Pregibon link test: refit on the fitted index and its square.

    Parameters
    ----------
    y, X : ndarray
        Outcome and design (with a constant).
    family, link : str
        ``family="probit"`` for a binary probit (``link`` ignored); otherwise a
        GLM family and link of :data:`FAMILIES` / :data:`LINKS`.

    Returns
    -------
    dict
        Coefficient ``estimate`` of the squared index, its ``se``, ``z`` and ``p``.

    Notes
    -----
    Pregibon (1980), Stata ``linktest``: with xb the fitted index, regress y on
    (1, xb, xb^2) with the same model. Under a correct link the squared term has no
    explanatory power; a significant one rejects the link (or the index).
    """
    xb = X @ _fit(y, X, family, link).params
    z = standardised_index(xb)
    res = _fit(y, np.column_stack([np.ones_like(z), z, z * z]), family, link)
    est, se = float(res.params[2]), float(res.bse[2])
    return {"estimate": est, "se": se, "z": est / se, "p": float(res.pvalues[2])}


def reset_test(
    y: np.ndarray, X: np.ndarray, family: str, link: str, powers: Sequence[int] = (2, 3)
) -> dict:
    """Ramsey RESET: add powers of the fitted index to X and test them jointly.

    Returns
    -------
    dict
        Wald ``statistic`` (chi-squared with ``df`` = len(powers)) and ``p``.

    Notes
    -----
    Ramsey (1969); DNM section 6.3 for GLMs and binary models: the same model on
    (X, xb^2, xb^3); the Wald test uses the model-based covariance (Pearson scale
    for the continuous families).
    """
    xb = X @ _fit(y, X, family, link).params
    z = standardised_index(xb)
    extra = np.column_stack([z**k for k in powers])
    res = _fit(y, np.column_stack([X, extra]), family, link)
    k = X.shape[1]
    b = np.asarray(res.params)[k:]
    V = np.asarray(res.cov_params())[k:, k:]
    stat = float(b @ np.linalg.solve(V, b))
    return {
        "statistic": stat,
        "df": len(powers),
        "p": float(stats.chi2.sf(stat, len(powers))),
    }


def _fit(y, X, family: str, link: str):
    if family == "probit":
        return sm.Probit(y, X).fit(disp=0, method="newton", maxiter=100)
    if family == "logit":
        return sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100)
    return fit_glm(y, X, family, link)


def aic_bic_grid(
    y: np.ndarray,
    X: np.ndarray,
    families: Sequence[str] = tuple(FAMILIES),
    links: Sequence[str] = tuple(LINKS),
) -> pd.DataFrame:
    """AIC and BIC of every family x link GLM of y on X (statsmodels).

    Returns
    -------
    pandas.DataFrame
        ``family, link, converged, comparable, llf, aic, bic, note``; a cell in
        ``LEFT_OUT`` is not fitted and says why in ``note``; a fit that fails
        (a mean outside the family's support under an identity or square-root link)
        has ``converged=False`` and missing criteria.

    Notes
    -----
    A fit counts as converged when one more Newton step would move no coefficient
    by more than ``OPTIMUM_TOL`` of its SE (:func:`at_optimum`), whatever IRLS's own
    flag says: that flag stops on a deviance change, so a slow fit stops one side of
    ``maxiter`` or the other depending on the last bits of the arithmetic.
    The Poisson "likelihood" of a non-integer outcome is not a density, so its AIC
    is not comparable with the continuous families'; such rows get
    ``comparable=False`` and are left out of :func:`grid_choice`.
    """
    integer = bool(np.all(np.asarray(y) == np.round(y)))
    rows = []
    for fam in families:
        for link in links:
            llf = aic = bic = np.nan
            ok = False
            if (fam, link) in LEFT_OUT:
                note = LEFT_OUT[fam, link]
                rows.append((fam, link, False, False, llf, aic, bic, note))
                continue
            try:
                res = fit_glm(y, X, fam, link)
                ok = at_optimum(res, y, X) and _in_support(res, fam)
                if ok:
                    llf, aic, bic = float(res.llf), float(res.aic), float(res.bic_llf)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError):
                ok = False
            comparable = ok and (fam != "poisson" or integer)
            rows.append((fam, link, ok, comparable, llf, aic, bic, ""))
    cols = ["family", "link", "converged", "comparable", "llf", "aic", "bic", "note"]
    return pd.DataFrame(rows, columns=cols)


OPTIMUM_TOL = 1e-3  # in SEs; fits in the grid land at 1e-5 or above 0.1
# Cells not fitted. The inverse Gaussian with a square-root link has spurious
# stationary points on positive, skewed outcomes (AIC 1e5-1e12 against about 1e2-1e4
# for the other families): IRLS ends at one or another depending on the machine's
# last bits (measured: AIC 9.4e5 against 8.5e4 on the same data under two BLAS
# kernels), so no number it gives is reproducible.
LEFT_OUT = {
    ("inverse_gaussian", "sqrt"): "left out: spurious stationary points, "
    "no reproducible fit"
}


def at_optimum(res, y: np.ndarray, X: np.ndarray) -> bool:
    """Whether a Newton step from ``res`` would move each coefficient < OPTIMUM_TOL SE.

    The step is ``V s / phi``, with ``s = X'[(y - mu) / (V(mu) g'(mu))]`` the
    quasi-score, ``V`` the fit's covariance and ``phi`` its scale.
    """
    mu = np.asarray(res.fittedvalues)
    family = res.model.family
    with np.errstate(all="ignore"):
        score = X.T @ ((y - mu) / (family.variance(mu) * family.link.deriv(mu)))
        cov = np.asarray(res.cov_params())
        se = np.sqrt(np.diag(cov))
        step = cov @ score / res.scale
        moves = np.abs(step) / se
    return bool(np.all(np.isfinite(moves)) and np.max(moves) < OPTIMUM_TOL)


def _in_support(res, family: str) -> bool:
    """Finite likelihood and, except for the Gaussian, positive fitted means."""
    mu = np.asarray(res.fittedvalues)
    positive = family == "gaussian" or bool(np.all(mu > 0))
    return positive and bool(np.all(np.isfinite(mu))) and bool(np.isfinite(res.llf))


def grid_choice(grid: pd.DataFrame, criterion: str = "aic") -> str:
    """``"family-link"`` with the smallest ``criterion`` among comparable fits."""
    ok = grid[grid["comparable"] & grid[criterion].notna()]
    if ok.empty:
        return "none"
    best = ok.loc[ok[criterion].idxmin()]
    return f"{best['family']}-{best['link']}"


def hosmer_lemeshow(
    d: np.ndarray, p: np.ndarray, groups: int = 10, min_expected: float | None = None
) -> dict:
    """Hosmer-Lemeshow goodness of fit of predicted probabilities.

    Parameters
    ----------
    d, p : ndarray
        0/1 outcomes and predicted probabilities.
    groups : int
        Groups of (nearly) equal size by p.
    min_expected : float, optional
        If given, adjacent groups are merged until each expects at least this
        many successes and failures (:func:`hl_partition`).

    Returns
    -------
    dict
        ``statistic``, ``df`` = (groups used) - 2, ``p`` and the per-group
        ``table`` (n, observed, expected).

    Raises
    ------
    ValueError
        If fewer than 3 groups remain after merging (no degrees of freedom).

    Notes
    -----
    Hosmer & Lemeshow (1980): sort by p, cut into ``groups`` groups of (nearly)
    equal size, and sum (O_g - E_g)^2 / (E_g (1 - E_g / n_g)) over groups;
    chi-squared with groups - 2 df under a calibrated model. Stata's
    ``estat gof, group(10)`` keeps tied predictions together; with continuous
    covariates ties do not occur.
    """
    parts = hl_partition(p, groups, min_expected)
    if len(parts) < 3:
        raise ValueError(
            f"{len(parts)} group(s) left after merging to >= {min_expected} expected "
            "successes and failures; the test needs 3"
        )
    rows = []
    for g, idx in enumerate(parts):
        rows.append((g + 1, idx.size, float(d[idx].sum()), float(p[idx].sum())))
    table = pd.DataFrame(rows, columns=["group", "n", "observed", "expected"])
    e, o, n = table["expected"], table["observed"], table["n"]
    stat = float(((o - e) ** 2 / (e * (1 - e / n))).sum())
    df = len(parts) - 2
    return {
        "statistic": stat,
        "df": df,
        "p": float(stats.chi2.sf(stat, df)),
        "table": table,
    }


def hl_partition(
    p: np.ndarray, groups: int = 10, min_expected: float | None = None
) -> list[np.ndarray]:
    """Row indices of the Hosmer-Lemeshow groups, merged where cells are small.

    Rows sorted by p are cut into ``groups`` groups of (nearly) equal size. With
    ``min_expected``, adjacent groups are then pooled from the lowest p up until
    a pool expects at least ``min_expected`` successes and failures; a last pool
    short of that joins the one before it.

    Notes
    -----
    The chi-squared approximation needs expected counts that are not too small
    (Hosmer, Lemeshow & Sturdivant 2013, sec. 5.2.2: about 5 or more). With a
    common outcome in a small sample the top deciles expect almost no failures:
    in the urban subsample (388 respondents, 80 not reimbursed) the top five
    deciles of the published probit expect a few failures down to almost none
    (docs/beyond_the_paper.md gives the shipped survey's counts), so they form
    one group and the test has 6 groups (4 df). Pooling adjacent
    groups, as for a sparse contingency table, keeps the ordering by p, which
    is what the test is about.
    """
    parts = np.array_split(np.argsort(p, kind="stable"), groups)
    if min_expected is None:
        return parts
    merged: list[np.ndarray] = []
    pool: list[np.ndarray] = []
    for idx in parts:
        pool.append(idx)
        rows = np.concatenate(pool)
        e = p[rows].sum()
        if min(e, rows.size - e) >= min_expected:
            merged.append(rows)
            pool = []
    if pool:
        rest = np.concatenate(pool)
        merged = (
            merged[:-1] + [np.concatenate([merged[-1], rest])] if merged else [rest]
        )
    return merged


# The profile likelihood is flat at its top, so a search on its values locates lambda
# to about 1e-7 (measured: 1.3e-7 between two BLAS kernels); five decimals are all
# the digits that do not depend on the machine.
LAMBDA_DECIMALS = 5


def boxcox_check(y: np.ndarray, X: np.ndarray | None = None) -> dict:
    """Box-Cox lambda of the positive outcome, with LR tests of log and linear.

    Parameters
    ----------
    y : ndarray
        Positive outcomes.
    X : ndarray, optional
        Regressors (with a constant). Without them the marginal Box-Cox model is
        scipy's (``stats.boxcox`` MLE and CI, ``stats.boxcox_llf``); with them the
        transformed outcome is regressed on X (DNM's ``boxcox y x``).

    Returns
    -------
    dict
        ``lambda``, its 95% profile-likelihood ``ci`` (both to ``LAMBDA_DECIMALS``),
        and LR ``p_log`` (H0: lambda = 0) and ``p_linear`` (H0: lambda = 1),
        chi-squared(1).

    Notes
    -----
    Conditional profile log likelihood (Box & Cox 1964):
    l(lambda) = -n/2 ln(RSS(lambda)/n) + (lambda - 1) sum ln y, with RSS the OLS
    residual sum of squares of the transformed y = (y^lambda - 1)/lambda on X.
    """
    y = np.asarray(y, float)
    if np.any(y <= 0):
        raise ValueError("Box-Cox needs a positive outcome")
    if X is None:
        _, lam, ci = stats.boxcox(y, alpha=ALPHA)

        def llf(lmb):
            return stats.boxcox_llf(lmb, y)
    else:
        slog = np.log(y).sum()
        n = y.size

        def llf(lmb):
            t = special.boxcox(y, lmb)
            beta, *_ = np.linalg.lstsq(X, t, rcond=None)
            rss = float(np.sum((t - X @ beta) ** 2))
            return -0.5 * n * np.log(rss / n) + (lmb - 1.0) * slog

        lam = optimize.minimize_scalar(
            lambda v: -llf(v), bounds=(-3, 3), method="bounded", options={"xatol": 1e-8}
        ).x
        ci = _profile_ci(llf, lam)
    top = llf(lam)
    lr = {k: 2.0 * (top - llf(v)) for k, v in (("log", 0.0), ("linear", 1.0))}
    return {
        "lambda": round(float(lam), LAMBDA_DECIMALS),
        "ci": tuple(round(float(c), LAMBDA_DECIMALS) for c in ci),
        "p_log": float(stats.chi2.sf(max(lr["log"], 0.0), 1)),
        "p_linear": float(stats.chi2.sf(max(lr["linear"], 0.0), 1)),
    }


def _profile_ci(llf, lam: float) -> tuple[float, float]:
    """Lambdas where the profile log likelihood drops by chi2(1, 0.95)/2."""
    cut = llf(lam) - 0.5 * stats.chi2.ppf(1 - ALPHA, 1)

    def gap(v):
        return llf(v) - cut

    lo = optimize.brentq(gap, lam - 5, lam) if gap(lam - 5) < 0 else -np.inf
    hi = optimize.brentq(gap, lam, lam + 5) if gap(lam + 5) < 0 else np.inf
    return lo, hi


def equation_table(
    y: np.ndarray,
    X: np.ndarray,
    family: str,
    link: str = "log",
    proportion: bool = False,
) -> pd.DataFrame:
    """All checks of one equation as a tidy table with a verdict per check.

    Parameters
    ----------
    y, X : ndarray
        Outcome and design of the equation as fitted (part 1: the 0/1 indicator
        on all rows; part 2: the positive outcome on its rows).
    family, link : str
        The published model: ``"probit"`` for part 1, or a GLM family and link
        (the paper: ``"gamma"``, ``"log"``) for part 2.
    proportion : bool
        The outcome is a proportion (the reimbursement ratio): the Park test's
        verdict then says that it is not the check for such an outcome
        (:data:`PROPORTION_NOTE`).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; key ``(check, item)``.
    """
    if family in ("probit", "logit"):
        rows = binary_rows(y, X, family)
    else:
        rows = glm_rows(y, X, family, link, proportion)
    return pd.DataFrame(rows)[COLUMNS]


#: Errors that make one check "not computed" instead of stopping the table
#: (perfect prediction or a singular fit in a small subsample, for example).
CHECK_ERRORS = (
    ValueError,
    np.linalg.LinAlgError,
    FloatingPointError,
    OverflowError,
    ZeroDivisionError,
)


def _guarded(check: str, item: str, build) -> list[dict]:
    """``build()``'s rows, or one row saying why the check could not be run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build()
    except CHECK_ERRORS as err:
        return [_row(check, item, verdict=f"not computed: {type(err).__name__}: {err}")]


def binary_rows(d: np.ndarray, X: np.ndarray, model: str) -> list[dict]:
    """Link test, RESET and Hosmer-Lemeshow of a probit/logit participation model.

    Hosmer-Lemeshow uses deciles of p, adjacent ones pooled where a group
    would expect fewer than :data:`HL_MIN_EXPECTED` successes or failures
    (:func:`hl_partition`).
    """

    def link():
        return [_link_row(link_test(d, X, model, ""), f"{model} link")]

    def reset():
        rt = reset_test(d, X, model, "")
        return [_row("RESET", "index^2, index^3", statistic=rt["statistic"],
                     df=rt["df"], p=rt["p"],
                     verdict=_accept(rt["p"], "functional form"))]  # fmt: skip

    def hl():
        p = np.asarray(_fit(d, X, model, "").predict(X))
        res = hosmer_lemeshow(d, p, groups=10, min_expected=HL_MIN_EXPECTED)
        g = res["df"] + 2
        note = "" if g == 10 else " (adjacent deciles pooled: expected count < 5)"
        verdict = _accept(res["p"], "calibration") + f", {g} groups{note}"
        return [_row("Hosmer-Lemeshow", "equal-size groups of p",
                     statistic=res["statistic"], df=res["df"], p=res["p"],
                     verdict=verdict)]  # fmt: skip

    return (
        _guarded("link test", "index squared", link)
        + _guarded("RESET", "index^2, index^3", reset)
        + _guarded("Hosmer-Lemeshow", "equal-size groups of p", hl)
    )


def glm_rows(
    y: np.ndarray, X: np.ndarray, family: str, link: str, proportion: bool = False
) -> list[dict]:
    """Park test, link test, RESET, AIC/BIC grid and Box-Cox of a part-2 GLM.

    A check that cannot be computed on these data gets one row saying why.
    """

    def park():
        mu = np.asarray(fit_glm(y, X, family, link).fittedvalues)
        res = park_test(y, mu)
        return [_row("modified Park test", "slope lambda", res["slope"], res["se"],
                     verdict=park_verdict(res, family, proportion))]  # fmt: skip

    def link_():
        return [_link_row(link_test(y, X, family, link), f"{link} link")]

    def reset():
        rt = reset_test(y, X, family, link)
        return [_row("RESET", "index^2, index^3", statistic=rt["statistic"],
                     df=rt["df"], p=rt["p"],
                     verdict=_accept(rt["p"], "functional form"))]  # fmt: skip

    def boxcox():
        bc = boxcox_check(y, X)
        return [_row("Box-Cox", "lambda (conditional on X)", bc["lambda"],
                     p=bc["p_log"], verdict=boxcox_verdict(bc))]  # fmt: skip

    rows = _guarded("modified Park test", "slope lambda", park)
    rows += _guarded("link test", "index squared", link_)
    rows += _guarded("RESET", "index^2, index^3", reset)
    rows += _guarded(
        "AIC/BIC grid", "choice",
        lambda: grid_rows(aic_bic_grid(y, X), f"{family}-{link}"),
    )  # fmt: skip
    rows += _guarded("Box-Cox", "lambda (conditional on X)", boxcox)
    return rows


def _link_row(lt: dict, what: str) -> dict:
    return _row("link test", "index squared", lt["estimate"], lt["se"], lt["z"],
                None, lt["p"], verdict=_accept(lt["p"], what))  # fmt: skip


#: Appended to the Park verdict of a proportion. Its variance is bounded by
#: mu (1 - mu), so the power-of-the-mean question of the Park test (which GLM
#: family for a positive, unbounded outcome) does not arise.
PROPORTION_NOTE = (
    " [a proportion: a Park test does not apply, beta regression and fractional "
    "logit/probit are the models for it (robustness table)]"
)


def park_verdict(park: dict, fitted: str, proportion: bool = False) -> str:
    """One line: lambda, the nearest family, and whether the fitted one is kept.

    ``proportion`` appends :data:`PROPORTION_NOTE`.
    """
    kept = [f for f, pv in park["p"].items() if pv >= ALPHA]
    text = (
        f"lambda = {park['slope']:.2f} (SE {park['se']:.2f}), nearest "
        f"{park['nearest']}; not rejected: {', '.join(kept) or 'none'}"
    )
    if fitted in PARK_FAMILIES:
        ok = park["p"][fitted] >= ALPHA
        text += f"; {fitted} {'kept' if ok else 'rejected'} at 5%"
    return text + (PROPORTION_NOTE if proportion else "")


def grid_rows(grid: pd.DataFrame, fitted: str) -> list[dict]:
    """One row per family-link cell, plus a summary row naming the winners."""
    rows = []
    for r in grid.itertuples():
        note = r.note or (
            "" if r.converged else "did not converge / mean outside support"
        )
        if r.converged and not r.comparable:
            note = "not comparable (Poisson likelihood of a non-count outcome)"
        rows.append(
            _row("AIC/BIC grid", f"{r.family}-{r.link}", aic=r.aic, bic=r.bic,
                 verdict=note)
        )  # fmt: skip
    by_aic, by_bic = grid_choice(grid, "aic"), grid_choice(grid, "bic")
    same = "agrees" if fitted in (by_aic, by_bic) else "disagrees"
    rows.append(
        _row("AIC/BIC grid", "choice",
             verdict=f"AIC picks {by_aic}, BIC picks {by_bic}; "
             f"the published {fitted} {same}")
    )  # fmt: skip
    return rows


def boxcox_verdict(bc: dict) -> str:
    """One line: lambda with CI, and whether the log or the linear scale is rejected."""
    lo, hi = bc["ci"]
    return (
        f"lambda = {bc['lambda']:.2f} [{lo:.2f}, {hi:.2f}]; log scale "
        f"{'rejected' if bc['p_log'] < ALPHA else 'not rejected'} "
        f"(p = {bc['p_log']:.3f}), linear scale "
        f"{'rejected' if bc['p_linear'] < ALPHA else 'not rejected'} "
        f"(p = {bc['p_linear']:.3g})"
    )


def _accept(p: float, what: str) -> str:
    return f"{what} {'rejected' if p < ALPHA else 'not rejected'} at 5% (p = {p:.3f})"


def _row(check, item, estimate=None, se=None, statistic=None, df=None, p=None,
         aic=None, bic=None, verdict="") -> dict:  # fmt: skip
    values = dict(estimate=estimate, se=se, statistic=statistic, df=df, p=p,
                  aic=aic, bic=bic)  # fmt: skip
    out = {k: (np.nan if v is None else float(v)) for k, v in values.items()}
    return {"check": check, "item": item, **out, "verdict": verdict}
