"""A simulated two-part data set with known structure (the counterfactual tests).

Participation is probit in scope, scheme (UEBMI) and age; the amount among
participants is Gamma with a log mean in scope and scheme. Imported by the test
modules (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from analysis.paper import models

SCOPES = (
    "within_city_across_counties",
    "within_province_across_cities",
    "across_provinces",
)
SCHEMES = ("NCMS", "URBMI", "UEBMI")


def simulate(
    n,
    seed,
    scope_p=(0.3, 0.3, 0.4),
    scope_eta=(0.9, 0.5, 0.1),
    uebmi=0.5,
    amount="reimb_amount",
):
    """Return the design frame of ``n`` simulated respondents (deterministic in seed).

    ``scope_eta`` is the probit index of each scope at age 40 in NCMS/URBMI, ``uebmi``
    the index shift of UEBMI, ``amount`` the name of the outcome column.
    """
    rng = np.random.default_rng(seed)
    scope = rng.choice(SCOPES, size=n, p=scope_p)
    scheme = rng.choice(SCHEMES, size=n, p=[0.6, 0.15, 0.25])
    age = rng.uniform(20, 60, size=n)
    base = pd.Series(scope).map(dict(zip(SCOPES, scope_eta, strict=True)))
    eta = base.to_numpy() + uebmi * (scheme == "UEBMI") + 0.01 * (age - 40)
    reimbursed = (rng.uniform(size=n) < norm.cdf(eta)).astype(int)
    mu = np.exp(8.0 + 0.3 * (scope != SCOPES[0]) + 0.4 * (scheme != "NCMS"))
    value = np.where(reimbursed == 1, rng.gamma(2.0, mu / 2.0), 0.0)
    df = pd.DataFrame(
        {
            "scope": pd.Categorical(scope, categories=SCOPES),
            "scheme": pd.Categorical(scheme, categories=SCHEMES),
            "age": age,
            "reimbursed": reimbursed,
            amount: value,
        }
    )
    return models.design_frame(df)
