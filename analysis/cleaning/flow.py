"""Sample selection: the paper's inclusion rules as an auditable flow table.

Purpose
    Apply the selection rules of ``docs/architecture.md`` ("Cleaning rules") in their
    order, one flow row per rule (rule 5 one row per covariate, in the fixed order of
    :data:`COMPLETE_CASE_SOURCES`), so every dropped respondent is attributed to exactly
    one rule and ``sum(n_removed) == N - n_final``. Dual enrolment is resolved here by
    priority UEBMI > URBMI > NCMS and logged as a recode, not a drop.
Inputs
    A concept frame (:func:`analysis.cleaning.recode.to_concepts`) and its codebook.
Outputs
    :class:`Selection`: the keep mask, the resolved scheme, the flow table and the
    scheme-recode log.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.cleaning.codebook import Codebook
from analysis.cleaning.recode import missing_mask
from analysis.vocabulary import FACTORS, label

YES = 1  # canonical "yes" of the yes_no label set and "current city" of hosp_place

# Each scheme level's enrolment concept, schemes in published order.
SCHEME_CONCEPTS = dict(
    zip(FACTORS["scheme"], ("ins_ncms", "ins_urbmi", "ins_uebmi"), strict=True)
)
# Priority (first enrolled wins): the reverse of published order, UEBMI > URBMI > NCMS.
SCHEME_PRIORITY = tuple(reversed(SCHEME_CONCEPTS.items()))
PRIORITY_TEXT = " > ".join(label("scheme", level) for level, _ in SCHEME_PRIORITY)
SCHEMES_TEXT = ", ".join(label("scheme", level) for level in SCHEME_CONCEPTS)

# Rule 5: each Table 3 covariate (published row order), then the cost of the stay and
# the reimbursement question, with the concepts it is derived from. age_sq is age's.
COMPLETE_CASE_SOURCES = (
    ("scheme", ()),
    ("education", ("education",)),
    ("income_quintile", ("household_income", "household_size")),
    ("scope", ("scope",)),
    ("reason", ("migration_reason",)),
    ("duration", ("arrival_year", "arrival_month")),
    ("facility_level", ("hosp_level",)),
    ("age", ("birth_year", "birth_month")),
    ("female", ("sex",)),
    ("married", ("marital_status",)),
    ("has_job", ("employed",)),
    ("rural_hukou", ("hukou_type",)),
    ("urban_area", ("residence_area",)),
    ("total_expenditure", ("hosp_cost",)),
    ("reimbursed", ("reimb_any",)),
)

# Enrolment combinations with more than one scheme, as bit patterns (bit k: the k-th
# scheme in published order, so NCMS 1, URBMI 2, UEBMI 4); the last scheme named is
# the one kept.
DUAL_PATTERNS = {
    "+".join(label("scheme", s) for s in combo): sum(
        1 << FACTORS["scheme"].index(s) for s in combo
    )
    for size in range(2, len(FACTORS["scheme"]) + 1)
    for combo in combinations(FACTORS["scheme"], size)
}

FLOW_COLUMNS = ["step", "rule", "columns", "n_before", "n_removed", "n_after"]
RECODE_COLUMNS = ["step", "recode", "n_at_step", "n_analytic"]


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select_sample`.

    Attributes
    ----------
    keep : Series of bool
        True for members of the analytic sample (index of the concept frame).
    scheme : Series of str
        Resolved scheme (NCMS, URBMI, UEBMI) or NaN for the uninsured.
    flow : DataFrame
        Columns ``FLOW_COLUMNS``, one row per rule.
    recodes : DataFrame
        Columns ``RECODE_COLUMNS``: dual enrolments resolved by priority.
    """

    keep: pd.Series
    scheme: pd.Series
    flow: pd.DataFrame
    recodes: pd.DataFrame


def select_sample(concepts: pd.DataFrame, codebook: Codebook) -> Selection:
    """Apply rules 1-5 in order and return the sample, flow table and scheme log.

    Parameters
    ----------
    concepts : DataFrame
        Concept frame of the whole survey.
    codebook : Codebook
        For missing codes and for naming the raw columns in the flow table.

    Returns
    -------
    Selection
    """
    scheme = resolve_scheme(concepts)
    rules = selection_rules(concepts, codebook, scheme)
    keep = pd.Series(True, index=concepts.index)
    rows = [flow_row("1", "All respondents", "", keep, keep)]
    after_rule4 = None
    for step, rule, columns, passes in rules:
        new_keep = keep & passes
        rows.append(flow_row(step, rule, columns, keep, new_keep))
        keep = new_keep
        if step == "4":
            after_rule4 = keep
    flow = pd.DataFrame(rows, columns=FLOW_COLUMNS)
    recodes = dual_enrolment_log(concepts, after_rule4, keep)
    return Selection(keep=keep, scheme=scheme, flow=flow, recodes=recodes)


def flow_row(step: str, rule: str, columns: str, before: pd.Series, after: pd.Series):
    """Return one flow-table row as a list in ``FLOW_COLUMNS`` order."""
    n_before, n_after = int(before.sum()), int(after.sum())
    return [step, rule, columns, n_before, n_before - n_after, n_after]


def selection_rules(concepts: pd.DataFrame, codebook: Codebook, scheme: pd.Series):
    """Return ``[(step, rule in words, raw columns, passes mask), ...]`` in order."""
    col = codebook.column
    enrolled = [concept for _, concept in SCHEME_PRIORITY]
    rules = [
        (
            "2",
            "Drop: no inpatient stay in the past year (hosp_any != 1, incl. unknown)",
            col("hosp_any"),
            concepts["hosp_any"].eq(YES),
        ),
        (
            "3",
            "Drop: last inpatient stay not in the current city (hosp_place != 1)",
            col("hosp_place"),
            concepts["hosp_place"].eq(YES),
        ),
        (
            "4",
            f"Drop: no social health insurance (none of {SCHEMES_TEXT} == 1)",
            " ".join(col(c) for c in enrolled),
            scheme.notna(),
        ),
    ]
    for letter, (covariate, sources) in zip(
        "abcdefghijklmno", COMPLETE_CASE_SOURCES, strict=True
    ):
        passes = complete_case(concepts, codebook, scheme, sources)
        rule, columns = complete_case_wording(codebook, covariate, sources)
        rules.append(("5" + letter, rule, columns, passes))
    return rules


def complete_case(
    concepts: pd.DataFrame,
    codebook: Codebook,
    scheme: pd.Series,
    sources: tuple[str, ...],
) -> pd.Series:
    """Return True where no source concept holds a missing code (or is blank).

    A covariate without raw sources (``scheme``) is complete where it was resolved.
    """
    if not sources:
        return scheme.notna()
    missing = np.zeros(len(concepts), dtype=bool)
    for concept in sources:
        missing |= missing_mask(codebook, concepts, concept).to_numpy()
    return pd.Series(~missing, index=concepts.index)


def complete_case_wording(
    codebook: Codebook, covariate: str, sources: tuple[str, ...]
) -> tuple[str, str]:
    """Return the rule-5 text and raw column names for ``covariate``."""
    if not sources:
        return f"Drop: {covariate} undetermined (none by construction after rule 4)", ""
    names = "" if sources == (covariate,) else f" ({', '.join(sources)})"
    rule = f"Drop: missing code (don't know/refused/n.a.) in {covariate}{names}"
    return rule, " ".join(codebook.column(c) for c in sources)


def resolve_scheme(concepts: pd.DataFrame) -> pd.Series:
    """Return each respondent's scheme by priority UEBMI > URBMI > NCMS (NaN if none).

    Parameters
    ----------
    concepts : DataFrame
        Must hold ``ins_uebmi``, ``ins_urbmi`` and ``ins_ncms`` (1 = enrolled).

    Returns
    -------
    Series of str
        "UEBMI", "URBMI", "NCMS" or NaN.
    """
    conditions = [
        concepts[concept].eq(YES).to_numpy() for _, concept in SCHEME_PRIORITY
    ]
    labels = [name for name, _ in SCHEME_PRIORITY]
    chosen = np.select(conditions, labels, default="")
    return pd.Series(chosen, index=concepts.index, dtype="object").replace("", np.nan)


def dual_enrolment_log(
    concepts: pd.DataFrame, at_step: pd.Series, final: pd.Series
) -> pd.DataFrame:
    """Count dual enrolments resolved by priority, per combination and in total.

    Parameters
    ----------
    concepts : DataFrame
        Concept frame with the three enrolment concepts.
    at_step : Series of bool
        Respondents remaining after rule 4 (where the recode happens).
    final : Series of bool
        Members of the analytic sample.

    Returns
    -------
    DataFrame
        Columns ``RECODE_COLUMNS``; one row per enrolment combination with more than
        one scheme (fixed order), then the total.
    """
    pattern = sum(
        concepts[c].eq(YES).astype(int) * (1 << k)
        for k, c in enumerate(SCHEME_CONCEPTS.values())
    )
    multiple = pattern.isin(DUAL_PATTERNS.values())
    rows = []
    for combo, bits in DUAL_PATTERNS.items():
        winner = combo.split("+")[-1]
        hit = pattern.eq(bits)
        rows.append(
            [
                "4",
                f"Dual enrolment {combo} -> {winner} (priority {PRIORITY_TEXT})",
                int((hit & at_step).sum()),
                int((hit & final).sum()),
            ]
        )
    rows.append(
        [
            "4",
            "Dual enrolment resolved by priority, total",
            int((multiple & at_step).sum()),
            int((multiple & final).sum()),
        ]
    )
    return pd.DataFrame(rows, columns=RECODE_COLUMNS)
