"""Derived analytic concepts: raw concept codes -> the analytic schema's columns.

Purpose
    The "Derived concepts" of ``docs/architecture.md`` as pure functions of a concept
    frame (canonical codes, see :mod:`analysis.cleaning.recode`) restricted to the
    analytic
    sample. Code -> level maps are written against the canonical codes of
    ``data/codebook/value_labels.csv`` and the levels of
    ``analysis.cleaning.schema.FACTORS``.
Inputs
    The concept frame of the selected respondents and their resolved scheme.
Outputs
    A frame of analytic columns (plain dtypes;
    :func:`analysis.cleaning.clean.clean_survey` sets
    the final dtypes and order) and a log of outcome recodes that are not drops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import vocabulary
from analysis.cleaning.schema import FACTORS
from analysis.config import INTERVIEW_MONTH, SURVEY_YEAR

# Canonical code -> level (data/codebook/levels.csv).
EDUCATION = vocabulary.code_map("education")
SCOPE = vocabulary.code_map("scope")
REASON = vocabulary.code_map("reason")
REASON_OTHER = vocabulary.other_level("reason")  # every other valid code
FACILITY = vocabulary.code_map("facility_level")
NOREIMB = vocabulary.code_map("noreimb_reason")

# Lower bounds (months since arrival at the interview) of the duration levels.
DURATION_BREAKS = (0, 12, 60, 120)

# Reimbursement sources of the multiple-choice question. Social = anything but the
# commercial insurance and "else" (Wang et al. 2022, Methods: answering only commercial
# and/or else = no reimbursement from social health insurance).
SOCIAL_SOURCES = (
    "reimb_src_ncms_allowance",
    "reimb_src_uebmi_allowance",
    "reimb_src_employer",
    "reimb_src_ncms_office",
    "reimb_src_health_centre",
    "reimb_src_fp_allowance",
    "reimb_src_fp_operation",
)
NON_SOCIAL_SOURCES = ("reimb_src_commercial", "reimb_src_else")

YES, NO = 1, 2
MARRIED = (2, 3)  # first marriage, remarried
RURAL_HUKOU = (1, 3)  # agricultural, agricultural converted to resident
URBAN = 1


def derive_covariates(c: pd.DataFrame) -> pd.DataFrame:
    """Return the Table 3 covariates other than scheme and income quintile.

    Parameters
    ----------
    c : DataFrame
        Concept frame of the analytic sample (no missing codes in these sources).

    Returns
    -------
    DataFrame
        age, age_sq, female, married, has_job, rural_hukou, urban_area, education,
        scope, reason, duration, facility_level.

    Notes
    -----
    age is completed years at the May 2014 interview:
    ``2014 - birth_year - (birth_month > 5)``; duration uses whole months since
    arrival, ``12 * (2014 - arrival_year) + (5 - arrival_month)``, cut at 12, 60 and
    120 months (so 11 -> "0-1", 12 -> "1-5", 59 -> "1-5", 60 -> "5-10", 120 -> "10+").
    """
    age = SURVEY_YEAR - c["birth_year"] - (c["birth_month"] > INTERVIEW_MONTH)
    return pd.DataFrame(
        {
            "age": age,
            "age_sq": age**2,
            "female": c["sex"].eq(2),
            "married": c["marital_status"].isin(MARRIED),
            "has_job": c["employed"].eq(YES),
            "rural_hukou": c["hukou_type"].isin(RURAL_HUKOU),
            "urban_area": c["residence_area"].eq(URBAN),
            "education": c["education"].map(EDUCATION),
            "scope": c["scope"].map(SCOPE),
            "reason": c["migration_reason"].map(REASON).fillna(REASON_OTHER),
            "duration": duration_level(months_since_arrival(c)),
            "facility_level": c["hosp_level"].map(FACILITY),
        },
        index=c.index,
    )


def months_since_arrival(c: pd.DataFrame) -> pd.Series:
    """Return whole months from the arrival month to the May 2014 interview."""
    return 12 * (SURVEY_YEAR - c["arrival_year"]) + (
        INTERVIEW_MONTH - c["arrival_month"]
    )


def duration_level(months: pd.Series) -> pd.Series:
    """Cut months since arrival into duration levels (arrival after May 2014: 0-1)."""
    bins = [-np.inf, *DURATION_BREAKS[1:], np.inf]
    cut = pd.cut(months, bins=bins, right=False, labels=list(FACTORS["duration"]))
    return cut.astype("object")


def derive_outcomes(c: pd.DataFrame) -> pd.DataFrame:
    """Return the outcome columns, total cost and the reason for no reimbursement.

    Parameters
    ----------
    c : DataFrame
        Concept frame of the analytic sample.

    Returns
    -------
    DataFrame
        The outcome columns of ``schema.ANALYTIC_COLUMNS`` and noreimb_reason.

    Notes
    -----
    reimbursed = ``reimb_any == 1`` and at least one social source chosen.
    in_part2 = reimbursed and ``0 < reimb_amount <= total cost`` with the amount not a
    missing code; reimb_amount and reimb_ratio = amount / cost are NaN outside part 2.
    noreimb_reason is taken from its codes 1-4 (NaN where not asked or missing).
    """
    cost = c["hosp_cost"]
    reimbursed = social_source_chosen(c) & c["reimb_any"].eq(YES)
    amount = c["reimb_amount"]
    usable = amount.gt(0) & amount.le(cost)  # missing codes are negative: not usable
    in_part2 = reimbursed & usable
    kept_amount = amount.where(in_part2)
    return pd.DataFrame(
        {
            "total_expenditure": cost,
            "reimbursed": reimbursed,
            "in_part2": in_part2,
            "reimb_amount": kept_amount,
            "reimb_ratio": kept_amount / cost,
            "noreimb_reason": c["noreimb_reason"].map(NOREIMB),
        },
        index=c.index,
    )


def social_source_chosen(c: pd.DataFrame) -> pd.Series:
    """Return True where at least one social reimbursement source is chosen (== 1)."""
    chosen = np.zeros(len(c), dtype=bool)
    for concept in SOCIAL_SOURCES:
        chosen |= c[concept].eq(1).to_numpy()
    return pd.Series(chosen, index=c.index)


def outcome_recode_log(c: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Count the outcome recodes that are not drops, in the analytic sample.

    Parameters
    ----------
    c : DataFrame
        Concept frame of the analytic sample.
    outcomes : DataFrame
        Output of :func:`derive_outcomes` on ``c``.

    Returns
    -------
    DataFrame
        Columns step, recode, n_at_step, n_analytic (the two counts are equal here).
    """
    said_yes = c["reimb_any"].eq(YES)
    social = social_source_chosen(c)
    non_social = pd.concat([c[s].eq(1) for s in NON_SOCIAL_SOURCES], axis=1).any(axis=1)
    reimbursed = outcomes["reimbursed"].astype(bool)
    amount = c["reimb_amount"]
    not_part2 = reimbursed & ~outcomes["in_part2"].astype(bool)
    counts = {
        "reimb_any == 1 but only commercial and/or else chosen -> not reimbursed": (
            said_yes & ~social & non_social
        ),
        "reimb_any == 1 but no source chosen -> not reimbursed": (
            said_yes & ~social & ~non_social
        ),
        "reimbursed, amount a missing code or blank -> not in part 2": (
            not_part2 & (amount.isna() | amount.lt(0))
        ),
        "reimbursed, amount 0 -> not in part 2": not_part2 & amount.eq(0),
        "reimbursed, amount above total cost -> not in part 2": not_part2
        & amount.gt(c["hosp_cost"]),
    }
    rows = [["outcome", text, int(m.sum()), int(m.sum())] for text, m in counts.items()]
    return pd.DataFrame(rows, columns=["step", "recode", "n_at_step", "n_analytic"])


def income_quintile(income: pd.Series, resp_id: pd.Series) -> pd.Series:
    """Return income quintiles q1-q5 over the given (analytic) sample.

    Parameters
    ----------
    income : Series
        Monthly household income per capita.
    resp_id : Series
        Respondent ids (sortable, same index), breaking ties.

    Returns
    -------
    Series of str
        "q1" ... "q5".

    Notes
    -----
    Tie rule (deterministic, exact equal counts): stable-sort by
    ``(income, resp_id)``, take the 0-based position ``p`` in that order (pandas
    ``rank(method="first")`` - 1) and assign quintile ``floor(5 * p / N) + 1``. With
    N = 1,165 each quintile has exactly 233 members; respondents with equal income
    straddling a cut are split by respondent id. For N not divisible by 5 the group
    sizes differ by at most one.
    """
    order = pd.DataFrame({"income": income, "id": resp_id}).sort_values(
        ["income", "id"], kind="stable"
    )
    position = pd.Series(np.arange(len(order)), index=order.index).reindex(income.index)
    group = (5 * position) // max(len(order), 1)
    return group.map(lambda g: FACTORS["income_quintile"][int(g)])
