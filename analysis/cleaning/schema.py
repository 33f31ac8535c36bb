"""The canonical analytic schema: concept names, codings and reference groups.

Every stage after cleaning speaks this vocabulary and never a raw survey column name.
Level names are the keys :mod:`analysis.paper.published` gives the published tables,
so an output table can be diffed against the publication cell by cell.
The first level of each factor is its reference group in Tables 3-4.
"""

from __future__ import annotations

from types import MappingProxyType

from analysis import vocabulary

# Factor levels in published order; the first is the regression reference group
# (read from data/codebook/levels.csv, see analysis.vocabulary).
FACTORS = vocabulary.FACTORS

# 0/1 indicators (stored as int8).
BINARIES = (
    "female",
    "married",
    "has_job",
    "rural_hukou",
    "urban_area",
    "reimbursed",
    "in_part2",
)

# Continuous columns (float64). Money is in yuan; reimb_ratio is a proportion in [0, 1].
CONTINUOUS = (
    "age",
    "age_sq",
    "income_pc_month",
    "total_expenditure",
    "reimb_amount",
    "reimb_ratio",
)

# Identifiers and sampling design (strings, never used as regressors).
DESIGN = ("resp_id", "province", "city", "stratum", "psu")

KEY = ("resp_id",)

# Subsamples of Table 4 (and the columns of Table 1): name -> schemes kept. The names
# are the published tables' column keys, not levels; the rural scheme is the first
# scheme level and the two urban schemes follow it.
SUBSAMPLES = MappingProxyType(
    {
        "total": FACTORS["scheme"],
        "ncms": FACTORS["scheme"][:1],
        "urban": FACTORS["scheme"][1:],
    }
)

# Regressors of every Table 3 equation, in the published row order.
TABLE3_FACTORS = (
    "scheme",
    "education",
    "income_quintile",
    "scope",
    "reason",
    "duration",
    "facility_level",
)
TABLE3_CONTROLS = (
    "age",
    "age_sq",
    "female",
    "married",
    "has_job",
    "rural_hukou",
    "urban_area",
)

ANALYTIC_COLUMNS = DESIGN + tuple(FACTORS) + BINARIES + CONTINUOUS

#: What each analytic column holds (the labels of the data dictionary and the .dta).
DESCRIPTIONS = MappingProxyType(
    {
        "resp_id": "Respondent id (zero-padded)",
        "province": "Province of residence (code)",
        "city": "City (prefecture) of residence (code)",
        "stratum": "Sampling stratum",
        "psu": "Primary sampling unit",
        "scheme": "Social health insurance scheme",
        "education": "Education attainment",
        "income_quintile": "Quintile of monthly household income per capita",
        "scope": "Geographical scope of migration",
        "reason": "Reason for migration",
        "duration": "Migration duration (years since arrival)",
        "facility_level": "Facility level of the last inpatient stay",
        "noreimb_reason": "Main reason for no reimbursement (non-reimbursed only)",
        "female": "Female",
        "married": "Married (first marriage or remarried)",
        "has_job": "Having any job",
        "rural_hukou": "Rural (agricultural) hukou",
        "urban_area": "Living in an urban area",
        "reimbursed": "Any reimbursement from social health insurance",
        "in_part2": "Reimbursed with a usable amount (the GLMs' sample)",
        "age": "Age in completed years at the May 2014 interview",
        "age_sq": "Age squared",
        "income_pc_month": "Monthly household income per capita (yuan)",
        "total_expenditure": "Total expenditure of the last inpatient stay (yuan)",
        "reimb_amount": "Reimbursement amount received (yuan; in_part2 only)",
        "reimb_ratio": "Reimbursement amount / total expenditure (in_part2 only)",
    }
)


def reference_level(factor: str) -> str:
    """Return the reference (omitted) level of ``factor`` as used in Tables 3-4."""
    return FACTORS[factor][0]


def contrast_levels(*factors: str) -> tuple[str, ...]:
    """The levels of ``factors`` with a row in Tables 3-4 (all but the reference)."""
    return tuple(level for factor in factors for level in FACTORS[factor][1:])
