"""Does the synthetic survey look real? Separability of the members and city ICCs.

Two checks on a generated raw file, in raw codes as a CMDS user would see them:

* **Separability.** Can a model on the respondents' answers tell the analytic members
  from *comparable* respondents, the hospitalised and insured outside the sample? A
  logistic regression on every answer that is not a selection rule (age, sex,
  education, hukou type, marital status, household size, income and expenditure with
  their heaping, migration reason, time in the city, job, ethnicity, scope, facility
  level, cost and its heaping, the scheme) gives each respondent a cross-fitted score
  (five folds); its AUC is 0.5 when the members cannot be told apart.
* **Clustering by city.** The intra-city correlation (one-way ANOVA estimator, ICC(1))
  of the across-province indicator, an urban scheme, log cost and reimbursement,
  among the members and among all respondents with an answer.

``python -m analysis.synth.realism RAW ANALYTIC`` prints both (ANALYTIC: the cleaned
``analytic.parquet``, whose resp_id marks the members).
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from analysis.cleaning.codebook import Codebook

FOLDS = 5
CATEGORICAL = (
    "sex", "education", "hukou_type", "marital_status", "migration_reason",
    "employed", "ethnicity", "scope", "hosp_level", "scheme",
)  # fmt: skip
CONTINUOUS = ("age", "household_size", "log_income", "log_expenditure", "months",
              "log_cost")  # fmt: skip
HEAPING = ("household_income", "hosp_cost")
CONCEPTS = (
    "resp_id", "stratum", "sex", "birth_year", "birth_month", "education",
    "hukou_type", "marital_status", "migration_reason", "employed", "ethnicity",
    "scope", "arrival_year", "arrival_month", "household_size", "household_income",
    "household_expenditure", "hosp_any", "hosp_place", "hosp_level", "hosp_cost",
    "reimb_any", "ins_ncms", "ins_urbmi", "ins_uebmi",
)  # fmt: skip


def concepts(raw: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """The raw columns this module reads, renamed to their concepts."""
    codebook = codebook or Codebook()
    return pd.DataFrame({c: raw[codebook.column(c)].to_numpy() for c in CONCEPTS})


def is_member(frame: pd.DataFrame, member_ids) -> np.ndarray:
    """Rows of ``frame`` whose resp_id is a member's (zero padding ignored)."""
    ids = pd.Series(frame["resp_id"]).astype(str).str.lstrip("0")
    members = set(pd.Series(list(member_ids)).astype(str).str.lstrip("0"))
    return ids.isin(members).to_numpy()


def enrolled(frame: pd.DataFrame) -> np.ndarray:
    """Rows enrolled in at least one scheme."""
    return (frame[["ins_ncms", "ins_urbmi", "ins_uebmi"]] == 1).any(axis=1).to_numpy()


def comparable(frame: pd.DataFrame, member_ids) -> pd.DataFrame:
    """Members and comparable respondents with complete answers, ``member`` 0/1.

    Comparable: hospitalised, enrolled in a scheme, not a member. Rows with a missing
    code (negative) in any answer used are left out of both groups; the counts are in
    ``attrs["n_left_out"]``.
    """
    f = frame.copy()
    f["member"] = is_member(f, member_ids).astype(int)
    f = f[(f["hosp_any"] == 1) & enrolled(f)].copy()
    f["scheme"] = np.select(
        [f["ins_uebmi"] == 1, f["ins_urbmi"] == 1], [3, 2], 1
    )  # the cleaning's priority
    used = [c for c in CONCEPTS if c not in ("resp_id", "stratum", "hosp_place",
                                               "reimb_any", "hosp_any")]  # fmt: skip
    complete = (f[used] >= 0).all(axis=1)
    f.attrs["n_left_out"] = f.loc[~complete, "member"].value_counts().to_dict()
    f = f[complete].copy()
    f["age"] = 2014 - f["birth_year"] - (f["birth_month"] > 5)
    f["months"] = (2014 - f["arrival_year"]) * 12 + (5 - f["arrival_month"])
    f["log_income"] = np.log1p(f["household_income"])
    f["log_expenditure"] = np.log1p(f["household_expenditure"])
    f["log_cost"] = np.log(f["hosp_cost"].clip(lower=1))
    return f


def design_matrix(f: pd.DataFrame) -> pd.DataFrame:
    """Categorical dummies, quadratics of the continuous answers, heaping flags."""
    parts = [pd.get_dummies(f[list(CATEGORICAL)].astype(str), drop_first=True)]
    for c in CONTINUOUS:
        z = (f[c] - f[c].mean()) / f[c].std()
        parts.append(pd.DataFrame({c: z, f"{c}_sq": z * z}))
    for c in HEAPING:
        parts.append(
            pd.DataFrame(
                {
                    f"{c}_round100": (f[c] % 100 == 0).astype(float),
                    f"{c}_round1000": (f[c] % 1000 == 0).astype(float),
                }
            )
        )
    x = pd.concat(parts, axis=1).astype(float)
    x = x.loc[:, x.std() > 0]
    return sm.add_constant(x)


def auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U of y = 1 over n1 n0 (ties 1/2)."""
    ones, zeros = score[y == 1], score[y == 0]
    u = stats.mannwhitneyu(ones, zeros).statistic
    return float(u / (len(ones) * len(zeros)))


def separability(f: pd.DataFrame) -> dict:
    """Cross-fitted and in-sample AUC of a logit of ``member`` on the answers."""
    x = design_matrix(f).to_numpy()
    y = f["member"].to_numpy()
    fold = np.arange(len(y)) % FOLDS  # rows are in resp_id order: folds cut the file
    score = np.empty(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation warnings of sparse dummies
        for k in range(FOLDS):
            train = fold != k
            fit = sm.Logit(y[train], x[train]).fit(method="lbfgs", maxiter=2000, disp=0)
            score[~train] = x[~train] @ fit.params
        full = sm.Logit(y, x).fit(method="lbfgs", maxiter=2000, disp=0)
    return {
        "n_members": int(y.sum()),
        "n_comparable": int(len(y) - y.sum()),
        "auc_cross_fitted": auc(score, y),
        "auc_in_sample": auc(x @ full.params, y),
    }


def icc(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way ANOVA intra-class correlation ICC(1) for unbalanced groups."""
    v = pd.Series(np.asarray(values, dtype=float))
    g = pd.Series(np.asarray(groups))
    n = len(v)
    sizes = g.value_counts()
    k = len(sizes)
    means = v.groupby(g).transform("mean")
    msb = float(((means - v.mean()) ** 2).sum()) / (k - 1)
    msw = float(((v - means) ** 2).sum()) / (n - k)
    n0 = (n - float((sizes**2).sum()) / n) / (k - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def city_iccs(frame: pd.DataFrame, member_ids) -> pd.DataFrame:
    """ICC by city of scope, scheme, cost and reimbursement: members and everyone."""
    member = is_member(frame, member_ids)
    insured = enrolled(frame)
    traits = {
        "across provinces": (frame["scope"] == 1, frame["scope"] > 0),
        "urban scheme": (
            (frame["ins_uebmi"] == 1) | (frame["ins_urbmi"] == 1),
            insured,
        ),
        "log cost": (
            np.log(frame["hosp_cost"].clip(lower=1)),
            (frame["hosp_any"] == 1) & (frame["hosp_cost"] > 0),
        ),
        "reimbursed (stay in the city)": (
            frame["reimb_any"] == 1,
            (frame["hosp_place"] == 1) & (frame["reimb_any"] > 0) & insured,
        ),
    }
    rows = []
    for name, (value, answered) in traits.items():
        value = np.asarray(value, dtype=float)
        answered = np.asarray(answered, dtype=bool)
        for group, mask in (("members", member), ("all with an answer", answered)):
            m = mask & answered
            rows.append(
                {
                    "trait": name,
                    "respondents": group,
                    "n": int(m.sum()),
                    "cities": int(pd.Series(frame["stratum"].to_numpy()[m]).nunique()),
                    "icc": icc(value[m], frame["stratum"].to_numpy()[m]),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """Print the separability and the city ICCs of a raw file and its analytic frame."""
    parser = argparse.ArgumentParser(prog="python -m analysis.synth.realism")
    parser.add_argument("raw", help="raw survey (.dta)")
    parser.add_argument("analytic", help="analytic.parquet of the same file")
    args = parser.parse_args(argv)
    raw = pd.read_stata(args.raw, convert_categoricals=False)
    member_ids = pd.read_parquet(args.analytic, columns=["resp_id"])["resp_id"]
    frame = concepts(raw)
    f = comparable(frame, member_ids)
    result = separability(f)
    print("Separability (members vs hospitalised, insured non-members):")
    for key, value in result.items():
        print(
            f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}"
        )
    print(f"  left out for a missing answer: {f.attrs['n_left_out']}")
    print("\nIntra-city correlation (ICC(1) by city):")
    print(city_iccs(frame, member_ids).to_string(index=False, float_format="%.3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
