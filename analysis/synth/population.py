"""The 199,772 respondents outside the analytic sample, and the selection funnel.

Purpose
    Draw plausible raw codes for every respondent slot not taken by an analytic member
    (vectorised numpy, no loop over rows) such that **none** of them passes all the
    selection rules of ``docs/architecture.md``, and each rule removes a fixed, visible
    number of them (:data:`FUNNEL`, :data:`RULE5_DROPS`).
Inputs
    The non-member slots of :class:`analysis.synth.design.Design` and a Generator.
Outputs
    ``{concept: numpy array}`` of raw codes (skip patterns applied later).

Funnel (population only; add the members to get the file's counts)
    4,956 hospitalised (with the 1,165 members: 6,121, the inpatient users of S6) and
    240 "don't know"; of the hospitalised 715 in the current city (with the members:
    1,880), 3,610 in the hometown, 580 elsewhere, 51 don't know; of the 715, 330 have no
    social insurance (rule 4) and 385 are insured but hold exactly one missing code in
    one rule-5 covariate (so the per-covariate counts do not depend on the order in
    which the cleaning checks them). All other marginal distributions are synthetic
    guesses at a 2014 migrant population (ages 15-59, ~85% rural hukou, ~half across
    provinces, ~13% uninsured, ...); see the functions below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.synth.encode import (
    DONT_KNOW,
    REFUSED,
    draw_origin,
    employment_identity_codes,
    ethnicity_codes,
    expenditure_codes,
    hukou_codes,
    marital_codes,
    source_codes,
    sprinkle,
)

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

INFLOW_PROVINCES = (11, 12, 31, 32, 33, 35, 44)  # the coastal magnets (assumption)
# Education latent-normal cut points: cumulative shares 2.5/16/66/85/93.5/99.5%.
EDUCATION_CUTS = np.array([-1.960, -0.994, 0.412, 1.036, 1.514, 2.576])
REASON_P = {  # codes 1..11 of migration_reason (9 "birth" never drawn)
    "male": [0.80, 0.13, 0.03, 0.005, 0.005, 0.01, 0.008, 0.002, 0.0, 0.005, 0.005],
    "female": [0.62, 0.12, 0.16, 0.04, 0.005, 0.015, 0.008, 0.0, 0.0, 0.02, 0.012],
}


def simulate_population(slots: pd.DataFrame, rng: np.random.Generator) -> dict:
    """Return raw codes for the non-member ``slots`` (see the module docstring)."""
    c = demographics(len(slots), rng)
    c.update(migration(slots, c, rng))
    c.update(economics(c, rng))
    c.update(insurance(c, rng))
    protected = hospital_funnel(c, rng)
    sprinkle_covariates(c, ~protected, rng)
    impose_rule5(c, protected, rng)
    return c


def demographics(n: int, rng: np.random.Generator) -> dict:
    """Return sex, birth date, ethnicity, education, hukou type and marital status."""
    age = 15 + np.floor(45 * rng.beta(2.2, 3.0, size=n)).astype(np.int64)
    birth_month = rng.integers(1, 13, size=n)
    female = rng.random(n) < 0.47
    z = rng.standard_normal(n) * 0.95 + 0.025 * (34 - age)
    education = 1 + np.searchsorted(EDUCATION_CUTS, z)
    p_rural = 1 / (1 + np.exp(-(2.3 - 0.6 * (education - 3))))
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


def migration(slots: pd.DataFrame, c: dict, rng: np.random.Generator) -> dict:
    """Return scope, hukou province, arrival date, reason, employment."""
    n = len(slots)
    province = slots["province"].to_numpy()
    p_across = np.where(np.isin(province, INFLOW_PROVINCES), 0.75, 0.35)
    p_across = np.where(province >= 65, 0.6, p_across)
    p_within = np.where(slots["multi_city"].to_numpy(), (1 - p_across) * 0.55, 0.0)
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
    log_income = (
        8.2
        + 0.15 * (c["education"] - 3)
        + 0.45 * np.log(size)
        + 0.25 * (c["employed"] == 1)
        + rng.normal(0.0, 0.5, size=n)
    )
    income = np.clip(np.round(np.exp(log_income), -2), 0, 500_000).astype(np.int64)
    return {
        "household_size": size,
        "household_income": income,
        "household_expenditure": expenditure_codes(income, rng),
    }


def insurance(c: dict, rng: np.random.Generator) -> dict:
    """Return enrolment codes (1 yes, 2 no, -1 don't know) for the three schemes."""
    n = len(c["age"])
    rural = np.isin(c["hukou_type"], (1, 3))
    employee = c["employed"] == 1
    p_uebmi = employee / (
        1 + np.exp(-(-1.9 + 0.7 * (c["education"] - 3) + 0.9 * ~rural))
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


def hospital_funnel(c: dict, rng: np.random.Generator) -> np.ndarray:
    """Draw the health module; return the mask of the 385 rule-5 respondents.

    Sets hosp_any, hosp_place, hosp_level, hosp_cost, reimb_any, the sources, the
    amount and noreimb_reason (dense; :func:`encode.apply_skips` masks them later).
    """
    age, female = c["age"], c["sex"] == 2
    propensity = np.exp(0.03 * (age - 35)) * np.where(
        female & (age >= 20) & (age <= 35), 2.5, 1.0
    )
    hosp = top_k(propensity, FUNNEL["hospitalised"], rng)
    dont_know = top_k(np.where(hosp, 0.0, 1.0), FUNNEL["hosp_dont_know"], rng)
    c["hosp_any"] = np.select([hosp, dont_know], [1, DONT_KNOW], 2)
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
    hospital_items(c, local, rng)
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


def hospital_items(c: dict, local: np.ndarray, rng: np.random.Generator) -> None:
    """Draw level, cost, reimbursement answers and reasons for every row (dense)."""
    n = len(c["age"])
    level = draw_categorical([0.12, 0.43, 0.37, 0.08], rng, n)
    multiplier = np.array([0.35, 0.8, 1.6, 1.0])[level - 1]
    cost = np.exp(np.log(6000 * multiplier) + rng.normal(0.0, 0.95, size=n))
    rounded = np.where(rng.random(n) < 0.6, np.round(cost, -2), np.round(cost))
    c["hosp_level"] = level
    c["hosp_cost"] = np.clip(rounded, 100, 2_000_000).astype(np.int64)
    scheme = np.select(
        [c["ins_uebmi"] == 1, c["ins_urbmi"] == 1, c["ins_ncms"] == 1], [2, 1, 0], -1
    )
    insured = scheme >= 0
    home = c["hosp_place"] == 2
    p_yes = np.where(insured, np.where(local, 0.62, np.where(home, 0.6, 0.45)), 0.06)
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
