"""Step 1, covariates: the 1,165 members' covariates, exact to Table 1 by column.

Method: a Gaussian copula gives every person a vector of correlated latent scores;
inside each Table 1 column (NCMS 777, URBMI+UEBMI 388) every categorical is assigned
by ranking its latent score against the published counts, so counts are exact and the
dependence between columns is the copula's. Age (a two-hump shape) and income are
continuous functions of their latent scores, rounded to integers (household income
mostly to round hundreds or thousands, as reported) and nudged until the column means
and SDs (and the total column's) round to the published values.

Rows 0..776 are the NCMS column, rows 777..1164 the urban column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special

from analysis import config
from analysis.cleaning import schema
from analysis.synth import targets
from analysis.synth.moments import MomentTarget, nudge

LATENTS = (
    "age", "married", "female", "education", "income", "has_job", "urban_area",
    "scope", "reason", "duration", "facility", "private", "hh_size", "uebmi",
    "rural_hukou",
)  # fmt: skip

# Latent-scale correlations (the rest are 0). Signs follow the paper's descriptions:
# UEBMI enrollees are employed and better educated, across-province migrants richer
# and less often in urban areas, family-following migrants more often women without a
# job.
CORRELATIONS = {
    ("age", "married"): 0.55, ("age", "duration"): 0.45, ("age", "education"): -0.30,
    ("age", "hh_size"): 0.20, ("age", "has_job"): -0.10, ("female", "reason"): 0.30,
    ("female", "has_job"): -0.35, ("female", "married"): 0.10,
    ("education", "income"): 0.45, ("education", "uebmi"): 0.50,
    ("education", "rural_hukou"): -0.45, ("education", "has_job"): 0.15,
    ("education", "facility"): 0.10, ("education", "private"): -0.10,
    ("income", "has_job"): 0.20, ("income", "uebmi"): 0.30, ("income", "scope"): 0.15,
    ("income", "rural_hukou"): -0.20, ("income", "hh_size"): -0.25,
    ("income", "facility"): 0.15, ("income", "urban_area"): 0.10,
    ("has_job", "reason"): -0.45, ("has_job", "uebmi"): 0.60,
    ("urban_area", "scope"): -0.15, ("urban_area", "facility"): 0.15,
    ("married", "hh_size"): 0.50, ("married", "reason"): 0.15,
    ("scope", "duration"): -0.05, ("uebmi", "rural_hukou"): -0.35,
}  # fmt: skip

# Household members living in the city (not published): shares for sizes 1..6.
HH_SIZE_SHARES = (0.12, 0.22, 0.36, 0.20, 0.07, 0.03)
# Reported household income heaps at round figures, as in every income question
# answered from memory (the survey's other respondents report by the same rule,
# population.reported_income).
# HEAP_SHARE of the members report a round hundred; of those with at least
# THOUSAND_FROM yuan a month, THOUSAND_SHARE report a round thousand, so round
# thousands are more frequent than the other round hundreds; the rest report whole
# yuan. Which member heaps is a fixed uniform draw of the covariate stream. 0.85-0.88
# are equally plausible; 0.86 was chosen on the master seed's probit verdict
# (docs/calibration_history.md, 2026-12-06).
HEAP_SHARE = 0.86
THOUSAND_SHARE = 0.6
THOUSAND_FROM = 2000
# Household-income moves of the nudge (yuan): a heaped report moves by whole hundreds
# only, a whole-yuan report by any of them.
INCOME_STEPS = (1, -1, 5, -5, 100, -100)
AGE_MIN, AGE_MAX = 15, 59
# Shape of the age distribution inside each column: the age latent's normal scores are
# mapped through the quantile function of a two-hump normal mixture truncated to
# AGE_MIN-AGE_MAX, then scaled to the column's Table 1 mean and SD. Hospitalised
# migrants of working age come in two waves: young adults (childbirth, injuries at
# work) around their late 20s and the middle-aged (chronic disease) in their late 40s.
# The probit's age cell is identified only by the part of age that age_sq does not
# explain, which a low-kurtosis shape enlarges: normal ages give an age SE ratio
# (ours/published) of about 0.68, a flat shape (kurtosis 1.8) 0.92 and a two-hump one
# (kurtosis 1.72) 1.01 (docs/se_gap.md). The humps below give kurtosis about 1.71, a
# slightly larger and wider young hump (migrants are young; a left tail of teenage
# mothers and young workers: about 2% under 21) and a trough near 36 at about a third
# of the humps' height. Weight 0.52 and 0.5 are equally plausible; 0.52 is the value
# the provided survey was generated with (with 0.5, one counterfactual bootstrap
# replicate hit a reference-level separation that Newton resolved differently under
# other BLAS / SIMD paths; the bootstrap now refuses such a replicate by exact counts,
# analysis.twopart.arrays.check_resample, so the choice no longer matters for that).
AGE_YOUNG_WEIGHT = 0.52
AGE_YOUNG_MEAN, AGE_YOUNG_SD = 28.5, 5.0
AGE_OLD_MEAN, AGE_OLD_SD = 46.5, 4.2

# Months between arrival and the May 2014 interview that define each duration class
# (the classes in the vocabulary's order: under 1, 1-5, 5-10 and 10+ years).
DURATION_MONTHS = dict(
    zip(
        schema.FACTORS["duration"],
        ((1, 11), (12, 59), (60, 119), (120, 420)),
        strict=True,
    )
)
NCMS, *URBAN_SCHEMES = schema.FACTORS["scheme"]
*PUBLIC_LEVELS, PRIVATE = schema.FACTORS["facility_level"]


def synthesize_covariates(rng: np.random.Generator) -> pd.DataFrame:
    """Return the covariate columns of the analytic frame (1,165 rows)."""
    sizes = {c: targets.column_size(c) for c in targets.COLUMNS}
    column = np.repeat(np.array(targets.COLUMNS), [sizes[c] for c in targets.COLUMNS])
    latent = pd.DataFrame(draw_latents(rng, len(column)), columns=LATENTS)
    uniforms = rng.random((len(column), 2))
    heap_u = rng.random(len(column))  # drawn last: the earlier draws stay as they were
    frame = pd.DataFrame({"column": column})
    for col in targets.COLUMNS:
        rows = np.flatnonzero(column == col)
        _assign_categoricals(frame, latent, rows, col)
    for var in ("female", "married", "has_job", "urban_area", "rural_hukou"):
        frame[var] = frame[var].astype(np.int8)
    frame["age"] = synthesize_age(latent["age"].to_numpy(), column)
    frame["birth_year"], frame["birth_month"] = birth_dates(
        frame["age"], uniforms[:, 0]
    )
    frame["arrival_year"], frame["arrival_month"] = arrival_dates(
        frame["duration"], frame["age"], uniforms[:, 1]
    )
    hh, famincom = synthesize_income(latent, column, heap_u)
    frame["hh_size"], frame["famincom_m"] = hh, famincom
    frame["income_pc_month"] = famincom / hh
    frame["income_quintile"] = income_quintiles(frame["income_pc_month"])
    return frame


def latent_correlation() -> np.ndarray:
    """The copula's correlation matrix, made positive definite by eigenvalue clipping.

    Returns
    -------
    ndarray
        ``(len(LATENTS), len(LATENTS))`` correlation matrix, unit diagonal.
    """
    k = len(LATENTS)
    r = np.eye(k)
    for (a, b), rho in CORRELATIONS.items():
        i, j = LATENTS.index(a), LATENTS.index(b)
        r[i, j] = r[j, i] = rho
    w, v = np.linalg.eigh(r)
    r = v @ np.diag(np.maximum(w, 0.05)) @ v.T
    d = np.sqrt(np.diag(r))
    return r / np.outer(d, d)


def draw_latents(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw the copula's latent scores.

    Returns
    -------
    ndarray
        ``(n, len(LATENTS))`` draws of N(0, R), R from :func:`latent_correlation`.
    """
    chol = np.linalg.cholesky(latent_correlation())
    return rng.standard_normal((n, len(LATENTS))) @ chol.T


def assign_by_rank(score: np.ndarray, counts: dict[str, int]) -> np.ndarray:
    """Give the lowest ``counts[level_1]`` scores level 1, the next level 2, etc."""
    order = np.argsort(score, kind="stable")
    out = np.empty(len(score), dtype=object)
    out[order] = np.repeat(list(counts), list(counts.values()))
    return out


def _assign_categoricals(frame, latent, rows, col):
    lat = latent.iloc[rows]
    if col == "urban":
        scheme = targets.table1().query("variable == 'scheme'").set_index("level")
        scheme_counts = {k: int(scheme.loc[k, "urban"]) for k in URBAN_SCHEMES}
        frame.loc[rows, "scheme"] = assign_by_rank(
            lat["uebmi"].to_numpy(), scheme_counts
        )
    for var in ("female", "married", "has_job", "urban_area"):
        yes = assign_by_rank(lat[var].to_numpy(), _binary(var, col)) == "yes"
        frame.loc[rows, var] = yes.astype(np.int8)
    for var in ("education", "scope", "reason", "duration"):
        counts = targets.t1_counts(var, col)
        frame.loc[rows, var] = assign_by_rank(lat[var].to_numpy(), counts)
    frame.loc[rows, "facility_level"] = _facility(lat, col)
    if col == "ncms":
        frame.loc[rows, "scheme"] = NCMS
        frame.loc[rows, "rural_hukou"] = 1
    else:
        rural = assign_by_rank(
            lat["rural_hukou"].to_numpy(), _binary("rural_hukou", col)
        )
        frame.loc[rows, "rural_hukou"] = (rural == "yes").astype(np.int8)


def _binary(var: str, col: str) -> dict[str, int]:
    c = targets.t1_counts(var, col)
    return {"no": c["no"], "yes": c["yes"]}


def _facility(lat: pd.DataFrame, col: str) -> np.ndarray:
    """Private hospitals by their own latent; the public levels by an ordered latent."""
    counts = targets.t1_counts("facility_level", col)
    private = assign_by_rank(
        lat["private"].to_numpy(),
        {"no": len(lat) - counts[PRIVATE], "yes": counts[PRIVATE]},
    )
    out = np.full(len(lat), PRIVATE, dtype=object)
    public = private == "no"
    levels = {k: counts[k] for k in PUBLIC_LEVELS}
    out[public] = assign_by_rank(lat["facility"].to_numpy()[public], levels)
    return out


def synthesize_age(score: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Integer ages 15-59 whose column and total moments round to Table 1."""
    age = np.zeros(len(score))
    for col in targets.COLUMNS:
        rows = column == col
        mean, sd = targets.t1_moments("age", col)
        z = (score[rows] - score[rows].mean()) / score[rows].std()
        q = age_shape_quantile(special.ndtr(z))
        z = (q - q.mean()) / q.std()
        age[rows] = mean + sd * z
    x = np.clip(np.rint(age), AGE_MIN, AGE_MAX).astype(np.int64)[:, None]
    moment_targets = _column_targets("age", column, "age")
    x = nudge(
        x,
        lambda v: {"age": v[:, 0].astype(float)},
        moment_targets,
        movable=np.ones(len(x), bool),
        valid=lambda v: (v[:, 0] >= AGE_MIN) & (v[:, 0] <= AGE_MAX),
        steps=(1, -1),
    )
    return x[:, 0]


def age_shape_cdf(a: np.ndarray) -> np.ndarray:
    """CDF of the two-hump age mixture truncated to ``[AGE_MIN, AGE_MAX]``."""

    def mixture(v):
        young = special.ndtr((v - AGE_YOUNG_MEAN) / AGE_YOUNG_SD)
        old = special.ndtr((v - AGE_OLD_MEAN) / AGE_OLD_SD)
        return AGE_YOUNG_WEIGHT * young + (1.0 - AGE_YOUNG_WEIGHT) * old

    lo, hi = mixture(np.float64(AGE_MIN)), mixture(np.float64(AGE_MAX))
    return (mixture(np.asarray(a, float)) - lo) / (hi - lo)


def age_shape_quantile(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`age_shape_cdf` by bisection.

    Bisection uses only comparisons, halving and ``ndtr``, so the ages (which are
    rounded) are the same on every BLAS / SIMD path; 60 halvings of the 44-year
    range reach far below a year's rounding.
    """
    lo = np.full(np.shape(u), float(AGE_MIN))
    hi = np.full(np.shape(u), float(AGE_MAX))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = age_shape_cdf(mid) < u
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _column_targets(variable: str, column: np.ndarray, var: str) -> list[MomentTarget]:
    """Mean and SD targets of ``variable`` in the two columns and the total."""
    out = []
    for col in ("total",) + targets.COLUMNS:
        mask = np.ones(len(column), bool) if col == "total" else column == col
        mean, sd = targets.t1_moments(variable, col)
        out.append(MomentTarget(f"{variable}_{col}_mean", var, mask, "mean", mean))
        out.append(MomentTarget(f"{variable}_{col}_sd", var, mask, "sd", sd))
    return out


def birth_dates(age: pd.Series, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Birth year and month such that completed age at 2014-05 equals ``age``.

    Rule (for cleaning): age = 2014 - birth_year - (birth_month > 5); a May birthday
    counts as passed at the May interview.
    """
    month = 1 + np.floor(u * 12).astype(np.int64)
    year = config.SURVEY_YEAR - age.to_numpy() - (month > config.INTERVIEW_MONTH)
    return year.astype(np.int64), month


def arrival_dates(duration: pd.Series, age: pd.Series, u: np.ndarray):
    """Arrival year and month consistent with the duration class at 2014-05.

    Rule (for cleaning): months = (2014 - year) * 12 + (5 - month); class 0-1 if
    months < 12, 1-5 if < 60, 5-10 if < 120, else 10+. Arrival is at least one month
    before the interview and not before the respondent's first birthday.
    """
    lo = duration.map(lambda d: DURATION_MONTHS[d][0]).to_numpy()
    hi = duration.map(lambda d: DURATION_MONTHS[d][1]).to_numpy()
    hi = np.minimum(hi, (age.to_numpy() - 1) * 12)
    months = lo + np.floor(u * (hi - lo + 1)).astype(np.int64)
    index = config.SURVEY_YEAR * 12 + (config.INTERVIEW_MONTH - 1) - months
    return index // 12, index % 12 + 1


def synthesize_income(latent: pd.DataFrame, column: np.ndarray, heap_u: np.ndarray):
    """Household size and integer household income; per-capita moments exact.

    Household income is heaped (:func:`heap_income`); the nudge then moves heaped
    reports by whole hundreds and the others by whole yuan until every per-capita
    mean and SD rounds to Table 1, and ties across a quintile boundary are broken.
    """
    n = len(column)
    hh = np.zeros(n, np.int64)
    pc = np.zeros(n)
    for col in targets.COLUMNS:
        rows = column == col
        shares = np.array(HH_SIZE_SHARES)
        counts = _largest_remainder(shares * rows.sum())
        sizes = assign_by_rank(
            latent["hh_size"].to_numpy()[rows],
            {str(k + 1): c for k, c in enumerate(counts)},
        )
        hh[rows] = sizes.astype(np.int64)
        mean, sd = targets.t1_moments("income_pc_month", col)
        pc[rows] = _lognormal_exact(latent["income"].to_numpy()[rows], mean, sd)
    raw = np.maximum(np.rint(pc * hh), 1).astype(np.int64)
    famincom, heaped = heap_income(raw, heap_u)
    x = famincom[:, None]
    moment_targets = _column_targets("income_pc_month", column, "income")
    derive = lambda v: {"income": v[:, 0] / hh}  # noqa: E731
    step = np.where(heaped, 100, 1)

    def valid(v):
        return (v[:, 0] >= step) & (v[:, 0] % step == 0)

    # Rows moved to break a tie are frozen for the later nudges: the nudge would
    # otherwise move the same row back onto the boundary to repair the moment.
    frozen = np.zeros(n, bool)
    for _ in range(50):
        x = nudge(x, derive, moment_targets, ~frozen, valid, INCOME_STEPS)
        tie = _quintile_boundary_tie(x[:, 0] / hh)
        if tie is None:
            return hh, x[:, 0]
        above, below = tie
        lowered = x[below, 0] - step[below]
        if len(below) < len(above) and np.all(lowered >= step[below]):
            x[below, 0] = lowered
            frozen[below] = True
        else:
            x[above, 0] += step[above]
            frozen[above] = True
    raise RuntimeError("could not break ties at the income quintile boundaries")


def heap_income(raw: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Household income as reported: round thousands, round hundreds or whole yuan.

    Returns
    -------
    (ndarray, ndarray)
        The reported incomes (at least 100 when heaped) and the mask of heaped rows.
    """
    thousand = (u < HEAP_SHARE * THOUSAND_SHARE) & (raw >= THOUSAND_FROM)
    heaped = u < HEAP_SHARE
    unit = np.where(thousand, 1000, 100)
    rounded = np.maximum(np.floor(raw / unit + 0.5).astype(np.int64) * unit, 100)
    return np.where(heaped, rounded, raw), heaped


def _largest_remainder(quotas: np.ndarray) -> np.ndarray:
    base = np.floor(quotas).astype(int)
    extra = int(round(quotas.sum())) - base.sum()
    base[np.argsort(-(quotas - base), kind="stable")[:extra]] += 1
    return base


def _lognormal_exact(score: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Lognormal-shaped values with exactly the target mean and CV.

    Returns
    -------
    ndarray
        ``exp(sigma * z)`` with sigma solved so the realised CV is ``sd / mean``,
        then scaled so the mean is ``mean``.
    """
    z = (score - score.mean()) / score.std()
    cv = lambda s: np.std(np.exp(s * z), ddof=1) / np.mean(np.exp(s * z))  # noqa: E731
    sigma = optimize.brentq(lambda s: cv(s) - sd / mean, 0.01, 3.0)
    v = np.exp(sigma * z)
    return v * mean / v.mean()


def _quintile_boundary_tie(income: np.ndarray):
    """Find a tie across a quintile boundary (qcut would then split unevenly).

    Heaped reports make tie groups of many rows, so the caller moves one whole side
    of the group: the rows above the boundary up, or the rows below it down.

    Returns
    -------
    (ndarray, ndarray) or None
        The rows of the first tied boundary's group above and below it; None if no
        boundary is tied.
    """
    order = np.argsort(income, kind="stable")
    n = len(income)
    for k in range(1, 5):
        cut = k * n // 5
        value = income[order[cut]]
        if income[order[cut - 1]] == value:
            tied = income[order] == value
            return order[cut:][tied[cut:]], order[:cut][tied[:cut]]
    return None


def income_quintiles(income: pd.Series) -> np.ndarray:
    """Quintiles of per-capita income over the sample: ``pd.qcut(income, 5)``.

    The synthesis guarantees that no two rows tie across a quintile boundary, so
    qcut, rank-based and sort-based rules all give 233 rows per quintile.
    """
    levels = list(schema.FACTORS["income_quintile"])
    return pd.qcut(income, 5, labels=levels).astype(str).to_numpy()
