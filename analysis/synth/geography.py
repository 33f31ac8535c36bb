"""City effects: where a respondent lives shifts scope, scheme, cost and reimbursement.

In a migrant survey the city matters: coastal magnets receive mostly migrants from
other provinces, cities differ in how many migrants hold an urban scheme, hospital
prices differ, and local insurance offices differ in how readily they pay. Every city
(stratum) gets one effect of each kind (:class:`CityEffects`). The other respondents
are drawn from them (``population``); the analytic members, whose values the
calibration fixed, are placed in cities in proportion to how likely each city makes
their own scope, scheme, cost and reimbursement (:func:`member_loglik`,
:func:`place_members`); and the hospitalised non-members borrow member profiles the
same way (``population.borrow_profiles``). So one structure runs through the whole
file, and city-clustered SEs and city fixed effects have something to find. The
intra-city correlations it produces are measured by ``analysis.synth.realism``.

Every quantity a discrete choice follows (a Gumbel key, an inverse-CDF draw) is
computed with :mod:`analysis.synth.numerics` and elementwise IEEE operations, so the
placement is the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import vocabulary
from analysis.synth import numerics

INFLOW_PROVINCES = (11, 12, 31, 32, 33, 35, 44)  # the coastal magnets (assumption)
FAR_WEST = 65  # Xinjiang and the Corps: many migrants from other provinces
# Log-odds of an across-province migrant by province group, and the city spread around
# it (SD 0.8 puts a city's across-province share between about 10% and 90%).
ACROSS_LOGIT = {"inflow": 1.1, "far_west": 0.4, "other": -0.6}
ACROSS_SD = 0.8
# Of the migrants from inside the province, the share from another city (provinces
# with more than one city; the rest are from another county of the same city).
WITHIN_PROVINCE_SHARE = 0.55
URBAN_SCHEME_SD = 0.9  # log-odds of an urban scheme (URBMI/UEBMI) against NCMS
PRICE_SD = 0.3  # log hospital price level
PRICE_INFLOW = 0.2  # coastal cities are dearer
GENEROSITY_SD = 1.0  # log-odds of any reimbursement

SCOPE_LEVELS = vocabulary.FACTORS["scope"]
# Column of each scope in ``CityEffects.scope_p``, found by the CMDS code of its meaning
# (1 across provinces, 2 across cities of the province, 3 across counties of the city).
ACROSS, WITHIN_PROVINCE, WITHIN_CITY = (
    SCOPE_LEVELS.index(vocabulary.code_map("scope")[code]) for code in (1, 2, 3)
)


@dataclass(frozen=True)
class CityEffects:
    """One value per city, indexed by ``stratum - 1``.

    Attributes
    ----------
    province : ndarray
        The city's province code.
    scope_p : ndarray (n_cities, 3)
        Probability of each scope level (columns in ``SCOPE_LEVELS`` order) among the
        city's migrants; the within-province level is 0 in single-city provinces.
    urban_scheme : ndarray
        Shift of the log-odds of an urban scheme (and of an urban hukou).
    price : ndarray
        Log hospital price level.
    generosity : ndarray
        Shift of the log-odds of any reimbursement for stays in the city.
    """

    province: np.ndarray
    scope_p: np.ndarray
    urban_scheme: np.ndarray
    price: np.ndarray
    generosity: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function through :func:`numerics.exp`."""
    return 1.0 / (1.0 + numerics.exp(-np.asarray(x, dtype=float)))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``log(sigmoid(x))`` through :mod:`numerics` (finite for |x| < 700)."""
    return -numerics.log(1.0 + numerics.exp(-np.asarray(x, dtype=float)))


def draw_city_effects(cities: pd.DataFrame, rng: np.random.Generator) -> CityEffects:
    """Draw the effects of every city of the design (``Design.cities``)."""
    n = len(cities)
    province = cities["province"].to_numpy()
    inflow = np.isin(province, INFLOW_PROVINCES)
    group = np.where(
        inflow,
        ACROSS_LOGIT["inflow"],
        np.where(province >= FAR_WEST, ACROSS_LOGIT["far_west"], ACROSS_LOGIT["other"]),
    )
    z = rng.standard_normal((n, 4))
    p_across = sigmoid(group + ACROSS_SD * z[:, 0])
    multi = cities.groupby("province")["stratum"].transform("size").to_numpy() > 1
    p_within = np.where(multi, (1.0 - p_across) * WITHIN_PROVINCE_SHARE, 0.0)
    scope_p = np.zeros((n, len(SCOPE_LEVELS)))
    scope_p[:, ACROSS] = p_across
    scope_p[:, WITHIN_PROVINCE] = p_within
    scope_p[:, WITHIN_CITY] = 1.0 - p_across - p_within
    return CityEffects(
        province=province,
        scope_p=scope_p,
        urban_scheme=URBAN_SCHEME_SD * z[:, 1],
        price=PRICE_INFLOW * inflow + PRICE_SD * z[:, 2],
        generosity=GENEROSITY_SD * z[:, 3],
    )


def member_loglik(members: pd.DataFrame, effects: CityEffects) -> np.ndarray:
    """Log-likelihood of each member's profile in each city (members x cities).

    The sum of four terms, each the city model of one trait evaluated at the member's
    value: scope (the city's scope shares), scheme (urban against NCMS around the
    members' own share), log cost (normal around the members' mean shifted by the
    city's price, with the within-city spread that leaves the members' total spread)
    and reimbursement (around the members' own rate).
    """
    with np.errstate(divide="ignore"):
        out = numerics.log(effects.scope_p[:, scope_index(members["scope"])].T)
    rural_scheme = vocabulary.FACTORS["scheme"][0]  # NCMS, the reference
    urban = (members["scheme"].to_numpy() != rural_scheme).astype(float)
    out = out + _binary_loglik(urban, effects.urban_scheme)
    cost = numerics.log(members["total_expenditure"].to_numpy(dtype=float))
    centre = np.sum(cost) / len(cost)
    spread = np.sum((cost - centre) ** 2) / len(cost)
    within = max(spread - PRICE_SD**2, 0.25 * spread)
    price = effects.price - np.sum(effects.price) / len(effects.price)
    gap = cost[:, None] - centre - price[None, :]
    out = out - gap * gap / (2.0 * within)
    reimbursed = (members["reimbursed"].to_numpy() == 1).astype(float)
    return out + _binary_loglik(reimbursed, effects.generosity)


def scope_index(scope: pd.Series) -> np.ndarray:
    """Column of each scope level in ``CityEffects.scope_p``."""
    return scope.map({s: k for k, s in enumerate(SCOPE_LEVELS)}).to_numpy()


def _binary_loglik(y: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Bernoulli log-likelihood of ``y`` (members) under base rate + city ``shift``."""
    # kept off 0 and 1 so a small or one-sided member frame still gives finite odds
    rate = min(max(np.sum(y) / len(y), 0.5 / len(y)), 1.0 - 0.5 / len(y))
    base = numerics.log(np.array([rate / (1.0 - rate)]))[0]
    sign = 2.0 * y[:, None] - 1.0
    return log_sigmoid(sign * (base + shift[None, :]))


def gumbel(rng: np.random.Generator, shape) -> np.ndarray:
    """Standard Gumbel draws, ``-log(-log(u))`` through :func:`numerics.log`."""
    u = rng.random(shape)
    u = np.where(u == 0.0, np.nextafter(0.0, 1.0), u)
    return -numerics.log(-numerics.log(u))


def place_members(
    loglik: np.ndarray,
    area: np.ndarray,
    slots: pd.DataFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the slot position of each member (rows of ``loglik``).

    A member's city is drawn with probability proportional to the city's free slots in
    the member's residence area (1 urban, 2 suburban) times its likelihood
    (Gumbel-max, members in a random order so no one is served first by design); the
    slot inside the city is the free slot of that area with the smallest random key.
    """
    n_members, n_cities = loglik.shape
    stratum = slots["stratum"].to_numpy() - 1
    slot_area = slots["residence_area"].to_numpy()
    key = rng.random(len(slots))
    free = np.zeros((3, n_cities), dtype=np.int64)
    queues: dict[tuple[int, int], np.ndarray] = {}
    for a in (1, 2):
        rows = np.flatnonzero(slot_area == a)
        free[a] = np.bincount(stratum[rows], minlength=n_cities)
        order = rows[np.lexsort((key[rows], stratum[rows]))]
        bounds = np.searchsorted(stratum[order], np.arange(n_cities + 1))
        for c in range(n_cities):
            queues[(a, c)] = order[bounds[c] : bounds[c + 1]]
    noise = gumbel(rng, (n_members, n_cities))
    taken = np.zeros((3, n_cities), dtype=np.int64)
    position = np.full(n_members, -1, dtype=np.int64)
    for i in rng.permutation(n_members):
        a = int(area[i])
        room = free[a] - taken[a]
        with np.errstate(divide="ignore"):
            score = loglik[i] + numerics.log(room.astype(float)) + noise[i]
        ok = (room > 0) & np.isfinite(score)
        score = np.where(ok, numerics.snap(np.where(ok, score, 0.0)), -np.inf)
        c = int(np.argmax(score))
        if not np.isfinite(score[c]):
            raise ValueError("no city has a free slot for an analytic member")
        position[i] = queues[(a, c)][taken[a, c]]
        taken[a, c] += 1
    return position


def donor_weights(
    loglik: np.ndarray, slots_per_city: np.ndarray, sweeps: int = 500
) -> np.ndarray:
    """Probability of each member given a city (cities x members).

    P(member | city) is proportional to ``a(member) L(member, city)``: the city's
    likelihood of the member's profile, times a member weight ``a`` chosen (by matrix
    scaling, ``sweeps`` Sinkhorn sweeps) so that, with respondents spread over cities as
    the slots are, every member is borrowed equally often: the borrowers' profiles are
    then distributed over the file exactly as the members' are, and only their
    arrangement over cities follows the city effects.
    """
    with np.errstate(divide="ignore"):
        top = np.max(loglik, axis=1, keepdims=True)
        like = numerics.exp(loglik - top)  # members x cities, each row's max 1
    n_city = slots_per_city.astype(float)
    target = 1.0 / len(like)
    a = np.ones(len(like))
    for _ in range(sweeps):
        p = a[:, None] * like
        p = p / np.sum(p, axis=0, keepdims=True)
        share = np.sum(p * n_city[None, :], axis=1) / np.sum(n_city)
        a = a * (target / share)
    p = a[:, None] * like
    p = p / np.sum(p, axis=0, keepdims=True)
    return numerics.snap(p.T)


def draw_by_weight(
    weights: np.ndarray, groups: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw one column index of ``weights`` per entry of ``groups`` (its row).

    Inverse CDF of the row's weights (non-negative, snapped) with cumulative sums in
    a fixed order.
    """
    out = np.empty(len(groups), dtype=np.int64)
    u = rng.random(len(groups))
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        w = weights[g]
        if not np.any(w > 0):
            raise ValueError("a group has no admissible donor")
        cdf = np.cumsum(w)
        k = np.searchsorted(cdf, u[rows] * cdf[-1], side="right")
        out[rows] = np.minimum(k, len(w) - 1)
    return out
