"""The 199,772 respondents outside the analytic sample, and the selection funnel.

Purpose
    Draw plausible raw codes for every respondent slot not taken by an analytic member
    (vectorised numpy, no loop over rows) such that **none** of them passes all the
    selection rules of ``docs/architecture.md``, and each rule removes a fixed, visible
    number of them (:data:`FUNNEL`, :data:`RULE5_DROPS`).
Inputs
    The non-member slots of :class:`analysis.synth.design.Design`, a Generator, the
    cities' effects (:mod:`analysis.synth.geography`) and the analytic members.
Outputs
    ``{concept: numpy array}`` of raw codes (skip patterns applied later).

Funnel (population only; add the members to get the file's counts)
    4,956 hospitalised (with the 1,165 members: 6,121, the inpatient users of S6) and
    240 "don't know"; of the hospitalised 715 in the current city (with the members:
    1,880), 3,610 in the hometown, 580 elsewhere, 51 don't know; of the 715, 330 have no
    social insurance (rule 4) and 385 are insured but hold exactly one missing code in
    one rule-5 covariate (so the per-covariate counts do not depend on the order in
    which the cleaning checks them).

Who looks like whom
    The hospitalised respondents borrow the profiles of analytic members
    (:func:`borrow_profiles`), so the members cannot be told from the comparable
    respondents (hospitalised, insured, outside the sample) by their answers
    (``analysis.synth.realism`` measures it). The others are synthetic guesses at a
    2014 migrant population (ages 15-59, ~85% rural hukou, ~13% uninsured, incomes
    heaped at round hundreds and thousands, ...), with scope, hukou type and
    reimbursement shifted by their city (:mod:`analysis.synth.geography`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.synth import geography, numerics
from analysis.synth.calibration.covariates import (
    arrival_dates,
    birth_dates,
    heap_income,
)
from analysis.synth.encode import (
    DONT_KNOW,
    LEVEL_CODES,
    REFUSED,
    SCHEME_CODES,
    SCOPE_CODES,
    draw_origin,
    employment_identity_codes,
    ethnicity_codes,
    expenditure_codes,
    hukou_codes,
    insurance_codes,
    marital_codes,
    profile_codes,
    source_codes,
    sprinkle,
)
from analysis.synth.geography import CityEffects

FUNNEL = {
    "hospitalised": 4_956,
    "hosp_dont_know": 240,
    "place_current_city": 715,
    "place_hometown": 3_610,
    "place_dont_know": 51,
    "uninsured_local": 330,
}  # place "elsewhere" = the rest of the hospitalised (580)

# Rule 5: (covariate as in analysis.cleaning.flow, concepts set missing, code,
# respondents).
RULE5_DROPS = (
    ("education", ("education",), REFUSED, 6),
    ("income_quintile", ("household_income",), DONT_KNOW, 45),
    ("income_quintile", ("household_income",), REFUSED, 35),
    ("income_quintile", ("household_size",), REFUSED, 5),
    ("reason", ("migration_reason",), DONT_KNOW, 6),
    ("reason", ("migration_reason",), REFUSED, 4),
    ("duration", ("arrival_month",), DONT_KNOW, 14),
    ("duration", ("arrival_year", "arrival_month"), DONT_KNOW, 8),
    ("facility_level", ("hosp_level",), DONT_KNOW, 25),
    ("age", ("birth_month",), DONT_KNOW, 6),
    ("age", ("birth_year", "birth_month"), REFUSED, 4),
    ("married", ("marital_status",), REFUSED, 8),
    ("has_job", ("employed",), REFUSED, 6),
    ("rural_hukou", ("hukou_type",), REFUSED, 6),
    ("total_expenditure", ("hosp_cost",), DONT_KNOW, 110),
    ("total_expenditure", ("hosp_cost",), REFUSED, 40),
    ("reimbursed", ("reimb_any",), DONT_KNOW, 57),
)

# Education latent-normal cut points: cumulative shares 2.5/16/66/85/93.5/99.5%.
EDUCATION_CUTS = np.array([-1.960, -0.994, 0.412, 1.036, 1.514, 2.576])
REASON_P = {  # codes 1..11 of migration_reason (9 "birth" never drawn)
    "male": [0.80, 0.13, 0.03, 0.005, 0.005, 0.01, 0.008, 0.002, 0.0, 0.005, 0.005],
    "female": [0.62, 0.12, 0.16, 0.04, 0.005, 0.015, 0.008, 0.0, 0.0, 0.02, 0.012],
}


# A borrowed age, log income or log cost keeps this correlation with the member's
# (about 3.0 years of noise on an age SD of 9.75), with the members' mean and SD.
BORROWED_CORRELATION = 0.95


def simulate_population(
    slots: pd.DataFrame,
    rng: np.random.Generator,
    effects: CityEffects,
    members: pd.DataFrame,
    loglik: np.ndarray,
) -> dict:
    """Return raw codes for the non-member ``slots`` (see the module docstring).

    ``effects`` are the cities' (:mod:`analysis.synth.geography`); ``members`` the
    analytic frame, whose profiles the hospitalised respondents borrow, and ``loglik``
    their :func:`geography.member_loglik` (members x cities).
    """
    city = slots["stratum"].to_numpy() - 1
    c = demographics(len(slots), city, effects, rng)
    c.update(migration(city, c, effects, rng))
    c.update(economics(c, rng))
    c.update(insurance(c, city, effects, rng))
    hospitalised = admissions(c, rng)
    borrow_profiles(c, hospitalised, city, effects, members, loglik, rng)
    protected = hospital_funnel(c, hospitalised, city, effects, rng)
    sprinkle_covariates(c, ~protected, rng)
    impose_rule5(c, protected, rng)
    return c


def demographics(
    n: int, city: np.ndarray, effects: CityEffects, rng: np.random.Generator
) -> dict:
    """Return sex, birth date, ethnicity, education, hukou type and marital status."""
    age = 15 + np.floor(45 * rng.beta(2.2, 3.0, size=n)).astype(np.int64)
    birth_month = rng.integers(1, 13, size=n)
    female = rng.random(n) < 0.47
    z = rng.standard_normal(n) * 0.95 + 0.025 * (34 - age)
    education = 1 + np.searchsorted(EDUCATION_CUTS, z)
    # Cities where urban schemes are common are cities of urban-hukou migrants.
    p_rural = geography.sigmoid(
        2.3 - 0.6 * (education - 3) - effects.urban_scheme[city]
    )
    married = rng.random(n) < 0.95 / (1 + np.exp(-(age - 25) / 2.5))
    return {
        "age": age,
        "sex": np.where(female, 2, 1),
        "birth_year": 2014 - age - (birth_month > 5),
        "birth_month": birth_month,
        "ethnicity": ethnicity_codes(n, rng),
        "education": education,
        "hukou_type": hukou_codes(rng.random(n) < p_rural, rng),
        "marital_status": marital_codes(married, age, rng),
    }


def migration(
    city: np.ndarray, c: dict, effects: CityEffects, rng: np.random.Generator
) -> dict:
    """Return scope (from the city's shares), hukou province, arrival, reason, job."""
    n = len(city)
    province = effects.province[city]
    p = effects.scope_p[city]
    p_across = p[:, geography.ACROSS]
    p_within = p[:, geography.WITHIN_PROVINCE]
    u = rng.random(n)
    scope = np.select([u < p_across, u < p_across + p_within], [1, 2], 3)
    origin = draw_origin(province, rng)
    cap = 12 * (c["age"] - 12)
    months = np.minimum(1 + np.floor(rng.exponential(62.0, size=n)), cap)
    t = 2014 * 12 + 4 - months.astype(np.int64)  # 0-based month index; May 2014 = +4
    female = c["sex"] == 2
    reason = np.where(
        female, draw_categorical(REASON_P["female"], rng, n), 0
    ) + np.where(~female, draw_categorical(REASON_P["male"], rng, n), 0)
    p_job = np.where(female, np.where(reason == 3, 0.45, 0.8), 0.94)
    p_job = np.where(reason == 7, 0.3, p_job)
    employed = np.where(rng.random(n) < p_job, 1, 2)
    return {
        "scope": scope,
        "hukou_province": np.where(scope == 1, origin, province),
        "arrival_year": t // 12,
        "arrival_month": t % 12 + 1,
        "migration_reason": reason,
        "employed": employed,
        "employment_identity": employment_identity_codes(n, rng),
    }


def draw_categorical(p: list[float], rng: np.random.Generator, n: int) -> np.ndarray:
    """Return codes 1..len(p) drawn with probabilities ``p`` (normalised)."""
    cdf = np.cumsum(p) / np.sum(p)
    return 1 + np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(p) - 1)


def economics(c: dict, rng: np.random.Generator) -> dict:
    """Return household size, monthly income and expenditure (yuan)."""
    n = len(c["age"])
    married = np.isin(c["marital_status"], (2, 3))
    u = rng.random(n)
    size_married = np.where(u < 0.15, 1, 2 + rng.binomial(3, 0.45, size=n))
    size_single = np.select(
        [u < 0.7, u < 0.9], [1, 2], 3 + rng.binomial(2, 0.3, size=n)
    )
    size = np.where(married, size_married, size_single)
    # About 2,600 yuan a month per head on average, the members' level (Table 1:
    # 2,256) a little above: the hospitalised are poorer, mostly NCMS enrollees.
    log_income = (
        7.85
        + 0.15 * (c["education"] - 3)
        + 0.45 * np.log(size)
        + 0.25 * (c["employed"] == 1)
        + rng.normal(0.0, 0.5, size=n)
    )
    income = reported_income(numerics.exp(log_income), rng)
    return {
        "household_size": size,
        "household_income": income,
        "household_expenditure": expenditure_codes(income, rng),
    }


def reported_income(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Monthly income as respondents report it, within 0-500,000 (the codebook).

    To the yuan, then heaped by the members' rule
    (:func:`~analysis.synth.calibration.covariates.heap_income`), so heaping cannot
    tell a member from anyone else.
    """
    whole = np.floor(numerics.snap(value) + 0.5)
    reported, _ = heap_income(whole, rng.random(len(value)))
    return np.clip(reported, 0, 500_000).astype(np.int64)


def insurance(
    c: dict, city: np.ndarray, effects: CityEffects, rng: np.random.Generator
) -> dict:
    """Return enrolment codes (1 yes, 2 no, -1 don't know) for the three schemes.

    Employee insurance is commoner where the city's urban-scheme effect is high.
    """
    n = len(c["age"])
    rural = np.isin(c["hukou_type"], (1, 3))
    employee = c["employed"] == 1
    p_uebmi = employee * geography.sigmoid(
        -1.9 + 0.7 * (c["education"] - 3) + 0.9 * ~rural + effects.urban_scheme[city]
    )
    uebmi = rng.random(n) < p_uebmi
    ncms = rural & (rng.random(n) < np.where(uebmi, 0.2, 0.8))
    urbmi = ~uebmi & (rng.random(n) < np.where(rural, 0.02, 0.3))
    out = {}
    for concept, flag in (
        ("ins_ncms", ncms),
        ("ins_urbmi", urbmi),
        ("ins_uebmi", uebmi),
    ):
        out[concept] = sprinkle(np.where(flag, 1, 2), rng, {DONT_KNOW: 0.004})
    u = rng.random(n)
    out["ins_commercial"] = np.select([u < 0.005, u < 0.065], [DONT_KNOW, 1], 2)
    return out


def top_k(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Return a boolean mask of ``k`` rows drawn without replacement by ``weights``.

    Gumbel top-k (equivalent to successive weighted draws); zero weight is never drawn.
    """
    keys = np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=len(weights))
    keys[weights <= 0] = -np.inf
    mask = np.zeros(len(weights), dtype=bool)
    mask[np.argpartition(-keys, k)[:k]] = True
    return mask


def admissions(c: dict, rng: np.random.Generator) -> np.ndarray:
    """Draw who was hospitalised (and who does not know); return the hospitalised."""
    age, female = c["age"], c["sex"] == 2
    propensity = np.exp(0.03 * (age - 35)) * np.where(
        female & (age >= 20) & (age <= 35), 2.5, 1.0
    )
    hosp = top_k(propensity, FUNNEL["hospitalised"], rng)
    dont_know = top_k(np.where(hosp, 0.0, 1.0), FUNNEL["hosp_dont_know"], rng)
    c["hosp_any"] = np.select([hosp, dont_know], [1, DONT_KNOW], 2)
    return hosp


def borrow_profiles(
    c: dict,
    hospitalised: np.ndarray,
    city: np.ndarray,
    effects: CityEffects,
    members: pd.DataFrame,
    loglik: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Give every hospitalised respondent the profile of a member, moved a little.

    The members are a sample of hospitalised migrants, so the other hospitalised
    respondents (in their hometown, elsewhere, uninsured, or with a missing answer)
    should look like them: each borrows the covariates, scope, scheme, facility level
    and cost of a member drawn with the probability that the member lives in the
    respondent's city (:func:`geography.donor_weights`), so the borrowed profiles
    carry the city structure and are, over the file, distributed as the members' are.
    Age, income and cost are moved (:func:`shrunk_jitter`) and birth and arrival dates
    and the hukou province drawn again, so no value is a copy; ethnicity and employment
    type stay the respondent's own.
    """
    rows = np.flatnonzero(hospitalised)
    slots_per_city = np.bincount(city, minlength=len(effects.price))
    weights = geography.donor_weights(loglik, slots_per_city)
    donor = members.iloc[geography.draw_by_weight(weights, city[rows], rng)]
    donor = donor.reset_index(drop=True)
    n = len(rows)
    age = np.clip(
        np.rint(
            numerics.snap(
                shrunk_jitter(donor["age"].to_numpy(float), members["age"], rng)
            )
        ),
        15,
        59,
    ).astype(np.int64)
    u = rng.random((n, 2))
    birth_year, birth_month = birth_dates(pd.Series(age), u[:, 0])
    arrival_year, arrival_month = arrival_dates(
        donor["duration"], pd.Series(age), u[:, 1]
    )
    scope = np.array([SCOPE_CODES[s] for s in donor["scope"]])
    province = effects.province[city[rows]]
    hukou_province = np.where(scope == 1, draw_origin(province, rng), province)
    rural = donor["rural_hukou"].to_numpy() == 1
    income = moved_like(donor["famincom_m"], members["famincom_m"], rng, low=0)
    scheme = np.array([SCHEME_CODES[s] for s in donor["scheme"]])
    values = {
        "age": age,
        "birth_year": birth_year,
        "birth_month": birth_month,
        **profile_codes(donor, age, rng),
        "arrival_year": arrival_year,
        "arrival_month": arrival_month,
        "household_income": income,
        "household_expenditure": expenditure_codes(income, rng),
        "hosp_level": np.array([LEVEL_CODES[v] for v in donor["facility_level"]]),
        "hosp_cost": moved_like(
            donor["total_expenditure"], members["total_expenditure"], rng, low=1
        ),
        "hukou_province": hukou_province,
    }
    values.update(insurance_codes(scheme, rural, rng))
    for concept, v in values.items():
        c.setdefault(concept, np.zeros(len(hospitalised), dtype=np.int64))
        c[concept][rows] = v


def shrunk_jitter(
    value: np.ndarray, population: pd.Series, rng: np.random.Generator
) -> np.ndarray:
    """``value`` moved by noise without widening the distribution it comes from.

    ``m + r (value - m) + sqrt(1 - r^2) s e`` with the ``population``'s mean ``m`` and
    SD ``s``, ``r = BORROWED_CORRELATION``: the moved values have the population's
    mean and SD, so a model cannot tell borrowers by a wider spread.
    """
    m = float(population.mean())
    s = float(population.std())
    r = BORROWED_CORRELATION
    noise = rng.standard_normal(len(value))
    return m + r * (np.asarray(value, float) - m) + np.sqrt(1.0 - r * r) * s * noise


def moved_like(
    template: pd.Series, population: pd.Series, rng: np.random.Generator, low: int
) -> np.ndarray:
    """A money answer moved on the log scale, rounded as coarsely as ``template`` is.

    A value reported as a round thousand stays a round thousand, a round hundred a
    round hundred, and so on, so the heaping of the members' answers carries over.
    """
    t = template.to_numpy(dtype=np.int64)
    unit = np.select([t % 1000 == 0, t % 100 == 0, t % 10 == 0], [1000, 100, 10], 1)
    unit = np.where(t == 0, 1, unit)
    logs = numerics.log(np.maximum(t, 1).astype(float))
    spread = pd.Series(numerics.log(population.clip(lower=1).to_numpy(dtype=float)))
    moved = numerics.snap(numerics.exp(shrunk_jitter(logs, spread, rng)) / unit)
    out = np.where(t == 0, 0, np.maximum(np.round(moved), 1) * unit)
    return np.clip(out, low, 2_000_000).astype(np.int64)


def hospital_funnel(
    c: dict,
    hosp: np.ndarray,
    city: np.ndarray,
    effects: CityEffects,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw where the hospitalised stayed; return the mask of the 385 rule-5 rows.

    Sets hosp_place, reimb_any, the sources, the amount and noreimb_reason (dense;
    :func:`encode.apply_skips` masks them later).
    """
    insured = (c["ins_ncms"] == 1) | (c["ins_urbmi"] == 1) | (c["ins_uebmi"] == 1)
    across = c["scope"] == 1
    local = top_k(hosp * np.where(insured, 1.0, 1.6) * np.where(across, 0.8, 1.0),
                  FUNNEL["place_current_city"], rng)  # fmt: skip
    home = top_k(
        (hosp & ~local) * np.where(across, 1.4, 1.0), FUNNEL["place_hometown"], rng
    )
    place_dk = top_k(
        (hosp & ~local & ~home).astype(float), FUNNEL["place_dont_know"], rng
    )
    c["hosp_place"] = np.select([local, home, place_dk], [1, 2, DONT_KNOW], 3)
    uninsured = top_k(
        local * np.where(insured, 0.05, 1.0), FUNNEL["uninsured_local"], rng
    )
    protected = local & ~uninsured
    force_insurance(c, uninsured, protected)
    hospital_items(c, hosp, local, effects.generosity[city], rng)
    return protected


def force_insurance(c: dict, uninsured: np.ndarray, protected: np.ndarray) -> None:
    """Make ``uninsured`` rows enrolled in nothing and ``protected`` rows enrolled.

    A protected row without a scheme gets NCMS (rural hukou), UEBMI (employed) or URBMI;
    its don't-know answers on enrolment become "no" so the scheme is unambiguous.
    """
    rural = np.isin(c["hukou_type"], (1, 3))
    employee = c["employed"] == 1
    enrolled = (c["ins_ncms"] == 1) | (c["ins_urbmi"] == 1) | (c["ins_uebmi"] == 1)
    fill = protected & ~enrolled
    targets = {
        "ins_ncms": fill & rural,
        "ins_uebmi": fill & ~rural & employee,
        "ins_urbmi": fill & ~rural & ~employee,
    }
    for concept, target in targets.items():
        codes = np.where(uninsured & (c[concept] == 1), 2, c[concept])
        codes = np.where(protected & (codes == DONT_KNOW), 2, codes)
        c[concept] = np.where(target, 1, codes)


def hospital_items(
    c: dict,
    hosp: np.ndarray,
    local: np.ndarray,
    generosity: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Draw reimbursement answers and reasons for every row (dense).

    Level and cost of the hospitalised are their borrowed ones; the other rows get
    placeholders that the skip pattern removes. A stay in the current city is
    reimbursed more or less readily as the city's ``generosity`` says.
    """
    n = len(c["age"])
    level = draw_categorical([0.12, 0.43, 0.37, 0.08], rng, n)
    c["hosp_level"] = np.where(hosp, c["hosp_level"], level)
    c["hosp_cost"] = np.where(hosp, c["hosp_cost"], 1).astype(np.int64)
    scheme = np.select(
        [c["ins_uebmi"] == 1, c["ins_urbmi"] == 1, c["ins_ncms"] == 1], [2, 1, 0], -1
    )
    insured = scheme >= 0
    home = c["hosp_place"] == 2
    p_here = geography.sigmoid(np.log(0.62 / 0.38) + generosity)
    p_yes = np.where(insured, np.where(local, p_here, np.where(home, 0.6, 0.45)), 0.06)
    u = rng.random(n)
    c["reimb_any"] = np.where(u < p_yes, 1, 2)
    social = insured & (rng.random(n) < 0.9)
    c.update(source_codes(social, scheme, c["sex"] == 2, rng))
    share = rng.beta(2.5, 2.8, size=n)
    amount = np.where(social, np.maximum(1, np.floor(share * c["hosp_cost"])), 0)
    c["reimb_amount"] = sprinkle(
        amount.astype(np.int64), rng, {DONT_KNOW: 0.05, REFUSED: 0.01}, social
    )
    p_local = [0.55, 0.22, 0.14, 0.09]
    p_away = [0.72, 0.12, 0.10, 0.06]
    reason = np.where(
        local, draw_categorical(p_local, rng, n), draw_categorical(p_away, rng, n)
    )
    c["noreimb_reason"] = sprinkle(reason, rng, {DONT_KNOW: 0.03, REFUSED: 0.01})


def sprinkle_covariates(c: dict, allowed: np.ndarray, rng: np.random.Generator) -> None:
    """Set realistic don't-know/refused codes outside the protected rows."""
    rates = (
        ("birth_month", {DONT_KNOW: 0.0015}),
        ("education", {REFUSED: 0.001}),
        ("hukou_type", {REFUSED: 0.001}),
        ("hukou_province", {REFUSED: 0.001}),
        ("marital_status", {REFUSED: 0.002}),
        ("migration_reason", {DONT_KNOW: 0.001, REFUSED: 0.001}),
        ("arrival_month", {DONT_KNOW: 0.003}),
        ("employed", {REFUSED: 0.001}),
        ("household_size", {REFUSED: 0.001}),
        ("household_income", {DONT_KNOW: 0.015, REFUSED: 0.01}),
        ("hosp_level", {DONT_KNOW: 0.02}),
        ("hosp_cost", {DONT_KNOW: 0.06, REFUSED: 0.015}),
        ("reimb_any", {DONT_KNOW: 0.02}),
    )
    for concept, rate in rates:
        c[concept] = sprinkle(c[concept], rng, rate, allowed)
    # A forgotten year goes with a forgotten month; a refused birth year with both.
    year_dk = sprinkle(
        np.zeros(len(allowed), np.int64), rng, {DONT_KNOW: 0.001}, allowed
    )
    c["arrival_year"] = np.where(year_dk < 0, DONT_KNOW, c["arrival_year"])
    c["arrival_month"] = np.where(year_dk < 0, DONT_KNOW, c["arrival_month"])
    birth = sprinkle(np.zeros(len(allowed), np.int64), rng, {REFUSED: 0.0005}, allowed)
    c["birth_year"] = np.where(birth < 0, REFUSED, c["birth_year"])
    c["birth_month"] = np.where(birth < 0, REFUSED, c["birth_month"])


def impose_rule5(c: dict, protected: np.ndarray, rng: np.random.Generator) -> None:
    """Give each protected respondent exactly one missing rule-5 covariate."""
    rows = rng.permutation(np.flatnonzero(protected))
    counts = [count for *_, count in RULE5_DROPS]
    if sum(counts) != len(rows):
        raise ValueError(f"{len(rows)} protected rows for {sum(counts)} rule-5 drops")
    start = 0
    for _, concepts, code, count in RULE5_DROPS:
        chosen = rows[start : start + count]
        for concept in concepts:
            c[concept][chosen] = code
        start += count


def expected_flow(n_members: int) -> pd.DataFrame:
    """Return the counts each selection rule should remove from the generated file."""
    hosp = FUNNEL["hospitalised"] + n_members
    local = FUNNEL["place_current_city"] + n_members
    insured = local - FUNNEL["uninsured_local"]
    rows = [
        ("1", "all respondents", 0),
        ("2", "hosp_any != 1", None),
        ("3", "hosp_place != 1", hosp - local),
        ("4", "no social insurance", FUNNEL["uninsured_local"]),
    ]
    out = pd.DataFrame(rows, columns=["step", "rule", "n_removed"])
    rule5 = (
        pd.DataFrame(
            [(cov, count) for cov, _, _, count in RULE5_DROPS],
            columns=["rule", "n_removed"],
        )
        .groupby("rule", sort=False, as_index=False)["n_removed"]
        .sum()
    )
    rule5.insert(0, "step", "5")
    out = pd.concat([out, rule5], ignore_index=True)
    out.attrs["n_final"] = insured - int(rule5["n_removed"].sum())
    out.attrs["n_hospitalised"] = hosp
    return out
