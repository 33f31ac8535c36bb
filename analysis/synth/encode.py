"""Concepts -> raw survey codes: the inverse of the cleaning rules.

Purpose
    Turn the analytic members (concept space, the contract table of
    ``docs/architecture.md``) into raw CMDS-style codes such that the cleaning rules
    give their analytic values back exactly; and hold the coding functions that the rest
    of the population shares (origin provinces, reimbursement sources, missing codes,
    skip patterns).
Inputs
    The analytic frame, the slots the members were embedded in, a Generator.
Outputs
    ``{concept: numpy array}`` of raw codes (concept names of ``varmap.csv``).

Coding choices (all synthetic, documented in ``data/codebook/README.md``)
    education: primary_or_below -> 1 or 2, college_or_above -> 5, 6 or 7;
    rural hukou -> 1 or 3, urban -> 2 or 4; married -> 2 or 3, else 1, 4 or 5 (by age);
    job -> 1 or 2, family_following -> 3, other -> 4-8, 10 or 11 (never 9, "birth");
    reimbursed -> reimb_any 1 with at least one social source; not reimbursed ->
    reimb_any 2 (with the reason, or -1/-2 if none was given) or, for part of those
    without a reason, reimb_any 1 with only commercial and/or else (the paper's rule)
    and amount 0; reimbursed outside part 2 -> amount -1 (don't know) or -2 (refused).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import vocabulary

DONT_KNOW, REFUSED, NOT_APPLICABLE = -1, -2, -8

SOURCE_CONCEPTS = (
    "reimb_src_ncms_allowance",
    "reimb_src_uebmi_allowance",
    "reimb_src_employer",
    "reimb_src_ncms_office",
    "reimb_src_health_centre",
    "reimb_src_commercial",
    "reimb_src_fp_allowance",
    "reimb_src_fp_operation",
    "reimb_src_else",
)
# Scheme levels in published order (NCMS, URBMI, UEBMI) -> 0, 1, 2: the enrolment
# priority the cleaning resolves dual enrolment by.
SCHEME_CODES = {level: k for k, level in enumerate(vocabulary.FACTORS["scheme"])}
# Level -> canonical code (data/codebook/levels.csv), as the cleaning stage reads them.
SCOPE_CODES = vocabulary.level_code("scope")
LEVEL_CODES = vocabulary.level_code("facility_level")
NOREIMB_CODES = vocabulary.level_code("noreimb_reason")

# Rough shares of inter-provincial out-migrants by hukou province (2010 census order of
# magnitude; synthetic). Keys are the province codes of design.PROVINCES.
ORIGIN_WEIGHTS = {
    11: 0.2, 12: 0.2, 13: 3.0, 14: 1.2, 15: 1.0, 21: 1.0, 22: 1.2, 23: 2.5,
    31: 0.2, 32: 2.5, 33: 1.5, 34: 9.0, 35: 1.5, 36: 6.0, 37: 3.0, 41: 10.0,
    42: 6.0, 43: 8.0, 44: 1.0, 45: 4.5, 46: 0.3, 50: 4.0, 51: 9.0, 52: 5.0,
    53: 1.5, 54: 0.1, 61: 2.0, 62: 2.0, 63: 0.4, 64: 0.4, 65: 0.5, 66: 0.1,
}  # fmt: skip


def encode_members(
    a: pd.DataFrame, slots: pd.DataFrame, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Return the raw codes of the analytic members (rows of ``a``, slots aligned).

    Every concept of the raw file except the design columns (taken from the slot) is
    returned; skip patterns are applied later to the whole file (:func:`apply_skips`).
    """
    check_members(a)
    n = len(a)
    female = a["female"].to_numpy() == 1
    out = {
        "birth_year": a["birth_year"].to_numpy(),
        "birth_month": a["birth_month"].to_numpy(),
        "ethnicity": ethnicity_codes(n, rng),
        **profile_codes(a, a["age"].to_numpy(), rng),
        "arrival_year": a["arrival_year"].to_numpy(),
        "arrival_month": a["arrival_month"].to_numpy(),
        "employment_identity": employment_identity_codes(n, rng, refused=0.0),
        "household_income": a["famincom_m"].to_numpy(),
    }
    out["household_expenditure"] = expenditure_codes(out["household_income"], rng)
    province = slots["province"].to_numpy()
    out["hukou_province"] = np.where(
        out["scope"] == 1, draw_origin(province, rng), province
    )
    scheme = np.array([SCHEME_CODES[s] for s in a["scheme"]])
    out.update(insurance_codes(scheme, a["rural_hukou"].to_numpy() == 1, rng))
    out.update(member_hospital_codes(a, scheme, female, rng))
    return out


def profile_codes(
    profile: pd.DataFrame, age: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Raw codes of the answers an analytic profile fixes, drawn in a fixed order.

    Sex, education, hukou type, scope, marital status, migration reason, employment
    and household size of a member (:func:`encode_members`) or of a respondent who
    borrows a member's profile (:func:`analysis.synth.population.borrow_profiles`),
    at the given ``age``; the draws (education, hukou type, marital status, reason,
    in that order) come from ``rng``.
    """
    female = profile["female"].to_numpy() == 1
    return {
        "sex": np.where(female, 2, 1),
        "education": education_codes(profile["education"].to_numpy(), rng),
        "hukou_type": hukou_codes(profile["rural_hukou"].to_numpy() == 1, rng),
        "scope": np.array([SCOPE_CODES[s] for s in profile["scope"]]),
        "marital_status": marital_codes(profile["married"].to_numpy() == 1, age, rng),
        "migration_reason": reason_codes(profile["reason"].to_numpy(), female, rng),
        "employed": np.where(profile["has_job"].to_numpy() == 1, 1, 2),
        "household_size": profile["hh_size"].to_numpy(),
    }


def check_members(a: pd.DataFrame) -> None:
    """Raise ValueError if the analytic frame cannot be encoded losslessly."""
    problems = []
    money = ("famincom_m", "hh_size", "total_expenditure", "age", "birth_year")
    for column in money + ("reimb_amount",):
        values = a[column].to_numpy(dtype=float)
        if np.any(np.isfinite(values) & (values != np.round(values))):
            problems.append(f"{column} is not integer-valued")
    for column in money:
        if a[column].isna().any():
            problems.append(f"{column} has missing values")
    bounds = {"famincom_m": (0, 500_000), "total_expenditure": (1, 2_000_000)}
    for column, (low, high) in bounds.items():
        if not a[column].between(low, high).all():
            problems.append(f"{column} outside [{low}, {high}] (codebook range)")
    part2 = a["in_part2"].to_numpy() == 1
    amount = a["reimb_amount"].to_numpy(dtype=float)[part2]
    cost = a["total_expenditure"].to_numpy(dtype=float)[part2]
    if not np.all((amount > 0) & (amount <= cost)):
        problems.append("in_part2 rows need 0 < reimb_amount <= total_expenditure")
    if np.any(part2 & (a["reimbursed"].to_numpy() != 1)):
        problems.append("in_part2 rows must be reimbursed")
    born = 2014 - a["birth_year"] - (a["birth_month"] > 5)
    if not born.eq(a["age"]).all():
        problems.append("age != 2014 - birth_year - (birth_month > 5)")
    if problems:
        raise ValueError("analytic frame: " + "; ".join(problems))


def ethnicity_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return 1 Han (92%), 2 minority, with a few refusals (-2)."""
    u = rng.random(n)
    return np.select([u < 0.002, u < 0.082], [REFUSED, 2], 1)


def education_codes(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a raw edu_stat_1 code inside the collapse of each 4-level value."""
    u = rng.random(len(level))
    primary = np.where(u < 0.18, 1, 2)
    college_code = np.select([u < 0.58, u < 0.97], [5, 6], 7)
    primary_or_below, junior_high, senior_high, college = vocabulary.FACTORS[
        "education"
    ]
    return np.select(
        [
            level == primary_or_below,
            level == junior_high,
            level == senior_high,
            level == college,
        ],
        [primary, 3, 4, college_code],
        -99,
    )


def hukou_codes(rural: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return 1 or 3 (converted, 4%) for rural hukou, 2 or 4 (6%) otherwise."""
    u = rng.random(len(rural))
    return np.where(rural, np.where(u < 0.04, 3, 1), np.where(u < 0.06, 4, 2))


def marital_codes(
    married: np.ndarray, age: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return 2 first marriage / 3 remarried, or 1 never / 4 divorced / 5 widowed."""
    u = rng.random(len(married))
    p_never = np.clip(1.0 - (age - 22) / 20.0, 0.15, 0.97)
    p_divorced = (1.0 - p_never) * 0.8
    single = np.select([u < p_never, u < p_never + p_divorced], [1, 4], 5)
    return np.where(married, np.where(u < 0.04, 3, 2), single)


def reason_codes(
    reason: np.ndarray, female: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return a migration-reason code inside the collapse job/family_following/other."""
    u = rng.random(len(reason))
    job = np.where(u < 0.82, 1, 2)
    other_codes = np.array([4, 5, 6, 7, 8, 10, 11])
    other_p = np.array([0.30, 0.05, 0.20, 0.08, 0.01, 0.16, 0.20])
    k = np.searchsorted(np.cumsum(other_p) / other_p.sum(), u, side="right")
    other = other_codes[np.minimum(k, len(other_codes) - 1)]
    other = np.where(~female & (other == 4) & (u < 0.2), 6, other)
    job_level, family_level, _ = vocabulary.FACTORS["reason"]
    return np.select([reason == job_level, reason == family_level], [job, 3], other)


def employment_identity_codes(
    n: int, rng: np.random.Generator, refused: float = 0.005
) -> np.ndarray:
    """Return employee/employer/self-employed/family helper/other (1-5) or -2."""
    p = np.array([0.56, 0.07, 0.30, 0.04, 0.03])
    u = rng.random(n)
    code = 1 + np.searchsorted(np.cumsum(p), u * (1 - 1e-12), side="right")
    return np.where(rng.random(n) < refused, REFUSED, code)


def expenditure_codes(income: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return household monthly expenditure: 30-85% of income, rounded to 10 yuan."""
    share = rng.uniform(0.3, 0.85, size=len(income))
    spend = np.round(np.maximum(income, 300) * share, -1).astype(np.int64)
    return sprinkle(spend, rng, {DONT_KNOW: 0.01, REFUSED: 0.005})


def draw_origin(current: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a hukou province different from ``current`` for each row (vectorised)."""
    codes = np.array(list(ORIGIN_WEIGHTS))
    weights = np.array(list(ORIGIN_WEIGHTS.values()))
    matrix = np.tile(weights, (len(codes), 1))
    np.fill_diagonal(matrix, 0.0)
    cdf = np.cumsum(matrix / matrix.sum(axis=1, keepdims=True), axis=1)
    row = np.searchsorted(codes, current)
    if not np.array_equal(codes[row], current):
        raise ValueError("unknown current province code")
    u = rng.random(len(current))
    # One searchsorted over all rows' CDFs, each shifted by 2 x its row number.
    flat = (cdf + 2.0 * np.arange(len(codes))[:, None]).ravel()
    k = np.searchsorted(flat, u + 2.0 * row, side="right") - row * len(codes)
    return codes[np.minimum(k, len(codes) - 1)]


def insurance_codes(
    scheme: np.ndarray, rural: np.ndarray, rng: np.random.Generator
) -> dict:
    """Return ins_ncms/urbmi/uebmi/commercial (1 yes, 2 no, -1 don't know).

    ``scheme`` is 0 NCMS, 1 URBMI, 2 UEBMI. A scheme of higher priority
    (UEBMI > URBMI > NCMS) than the member's is always 2; a lower one is 1 for about 5%
    (dual enrolment, resolved by priority in cleaning; NCMS only with a rural hukou) and
    -1 for about 1%.
    """
    n = len(scheme)
    cols = {}
    for k, concept in enumerate(("ins_ncms", "ins_urbmi", "ins_uebmi")):
        u = rng.random(n)
        dual = (u < 0.05) & (rural if k == 0 else True)
        lower = np.select([dual, (u >= 0.05) & (u < 0.06)], [1, DONT_KNOW], 2)
        cols[concept] = np.select([scheme == k, scheme > k], [1, lower], 2)
    u = rng.random(n)
    cols["ins_commercial"] = np.select([u < 0.005, u < 0.075], [DONT_KNOW, 1], 2)
    return cols


def member_hospital_codes(
    a: pd.DataFrame, scheme: np.ndarray, female: np.ndarray, rng: np.random.Generator
) -> dict:
    """Return the health-module codes of the members (all hospitalised in the city)."""
    n = len(a)
    reimbursed = a["reimbursed"].to_numpy() == 1
    in_part2 = a["in_part2"].to_numpy() == 1
    reason = a["noreimb_reason"].to_numpy(dtype=object)
    no_reason = ~reimbursed & pd.isna(reason)
    u = rng.random(n)
    # Part of the non-reimbursed who gave no reason said "yes" but named only
    # commercial insurance and/or "else": not reimbursed by the paper's rule.
    nonsocial = no_reason & (u < 0.6)
    refused = rng.random(n) < 0.3
    reimb_any = np.where(reimbursed | nonsocial, 1, 2)
    reason_code = np.array(
        [NOREIMB_CODES.get(r, 0) if isinstance(r, str) else 0 for r in reason]
    )
    noreimb = np.where(
        reason_code > 0, reason_code, np.where(refused, REFUSED, DONT_KNOW)
    )
    amount_missing = a["amount_missing"].to_numpy(dtype=object)
    amount_code = np.where(amount_missing == "refused", REFUSED, DONT_KNOW)
    amount = np.where(
        in_part2,
        np.nan_to_num(a["reimb_amount"].to_numpy(dtype=float)).astype(np.int64),
        np.where(reimbursed, amount_code, 0),
    )
    out = {
        "hosp_any": np.ones(n, np.int64),
        "hosp_place": np.ones(n, np.int64),
        "hosp_level": np.array([LEVEL_CODES[v] for v in a["facility_level"]]),
        "hosp_cost": a["total_expenditure"].to_numpy().astype(np.int64),
        "reimb_any": reimb_any,
        "reimb_amount": amount,
        "noreimb_reason": noreimb,
    }
    out.update(source_codes(reimbursed, scheme, female, rng))
    return out


def source_codes(
    social: np.ndarray,
    scheme: np.ndarray,
    female: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """Return the nine 0/1 source options for respondents who answered reimb_any 1.

    ``social`` rows name at least one social source consistent with ``scheme``
    (0 NCMS, 1 URBMI, 2 UEBMI, -1 none: uninsured say only commercial/else); the
    others name only commercial (6) and/or else (9). Rows outside the question's
    universe are overwritten with -8 by :func:`apply_skips`.
    """
    n = len(social)
    u = rng.random((n, 5))
    primary = np.select(
        [
            scheme == 0,
            scheme == 1,
            scheme == 2,
        ],
        [
            np.select([u[:, 0] < 0.7, u[:, 0] < 0.9], [1, 4], 5),
            np.select([u[:, 0] < 0.45, u[:, 0] < 0.8], [2, 5], 3),
            np.where(u[:, 0] < 0.8, 2, 3),
        ],
        5,
    )
    chosen = np.zeros((n, 9), dtype=np.int64)
    chosen[np.arange(n), primary - 1] = 1
    chosen[:, 2] |= u[:, 1] < 0.08  # employer as well
    chosen[:, 5] |= u[:, 2] < 0.05  # commercial as well
    fp = female & (u[:, 3] < 0.03)
    chosen[:, 6] |= fp & (u[:, 4] < 0.5)
    chosen[:, 7] |= fp & (u[:, 4] >= 0.5)
    nonsocial = np.zeros((n, 9), dtype=np.int64)
    nonsocial[:, 5] = u[:, 0] < 0.65
    nonsocial[:, 8] = (u[:, 0] >= 0.55) | (nonsocial[:, 5] == 0)
    chosen = np.where(social[:, None], chosen, nonsocial)
    return {concept: chosen[:, i] for i, concept in enumerate(SOURCE_CONCEPTS)}


def sprinkle(
    values: np.ndarray,
    rng: np.random.Generator,
    rates: dict[int, float],
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``values`` with missing codes set at the given rates where ``allowed``.

    One uniform is drawn per row whatever ``allowed`` is, so the stream does not
    depend on the mask.
    """
    u = rng.random(len(values))
    out = np.asarray(values).copy()
    edge = 0.0
    for code, rate in rates.items():
        hit = (u >= edge) & (u < edge + rate)
        if allowed is not None:
            hit &= allowed
        out[hit] = code
        edge += rate
    return out


def universes(variables: pd.DataFrame) -> list[tuple[str, str, int]]:
    """Return ``[(concept, condition concept, value), ...]`` of the skip patterns.

    ``variables`` is the codebook's variables table indexed by concept; a universe is
    ``all`` or ``<concept> == <code>``.
    """
    out = []
    for concept, text in variables["universe"].items():
        if text == "all":
            continue
        left, right = (part.strip() for part in str(text).split("=="))
        out.append((concept, left, int(right)))
    return out


def apply_skips(codes: dict[str, np.ndarray], variables: pd.DataFrame) -> None:
    """Set -8 outside each question's universe, in codebook order (in place)."""
    for concept, condition, value in universes(variables):
        outside = codes[condition] != value
        codes[concept] = np.where(outside, NOT_APPLICABLE, codes[concept])
