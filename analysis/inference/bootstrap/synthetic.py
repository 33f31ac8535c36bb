"""A small analytic-schema frame with known two-part outcomes, for tests and demos.

Independent of :mod:`analysis.synth` (the calibrated generator): covariates are
drawn with the schema's factor levels and a clustered design (PSUs within city
strata), participation from a probit and the amount and ratio from Gamma GLMs
with log link, so every model of :func:`analysis.paper.estimates.fit_all` is correctly
specified on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cleaning.schema import FACTORS

_PROBS = {
    "education": (0.35, 0.35, 0.2, 0.1),
    "income_quintile": (0.2, 0.2, 0.2, 0.2, 0.2),
    "scope": (0.2, 0.4, 0.4),
    "reason": (0.6, 0.3, 0.1),
    "duration": (0.3, 0.4, 0.2, 0.1),
    "facility_level": (0.3, 0.35, 0.25, 0.1),
}


def toy_analytic(
    n: int = 1165, rng: np.random.Generator | None = None, n_strata: int = 60
) -> pd.DataFrame:
    """Return ``n`` respondents with the columns the Table 3-4 models use.

    Strata (``stratum``, also ``city``) hold 2-4 PSUs; a shared PSU effect enters
    participation, so the cluster bootstrap has something to pick up.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    stratum = rng.integers(0, n_strata, n)
    psu_in = rng.integers(0, 2 + stratum % 3, n)
    psu_id = stratum * 4 + psu_in
    df = pd.DataFrame(
        {
            "stratum": [f"s{s:03d}" for s in stratum],
            "psu": [f"p{p:04d}" for p in psu_id],
        }
    )
    df["city"] = df["stratum"]
    df["scheme"] = _factor(rng, "scheme", (0.65, 0.12, 0.23), n)
    for var, p in _PROBS.items():
        df[var] = _factor(rng, var, p, n)
    ncms = (df["scheme"] == FACTORS["scheme"][0]).to_numpy()
    for var, p in (
        ("female", 0.45),
        ("married", 0.8),
        ("has_job", 0.7),
        ("urban_area", 0.6),
    ):
        df[var] = (rng.random(n) < p).astype(np.int8)
    df["rural_hukou"] = np.where(ncms, 1, rng.random(n) < 0.3).astype(np.int8)
    df["age"] = rng.uniform(18, 60, n).round()
    df["age_sq"] = df["age"] ** 2
    psu_effect = rng.normal(0, 0.3, psu_id.max() + 1)[psu_id]
    x = _index(df)
    d = (x @ [0.4, 0.25, -0.5] + psu_effect + rng.normal(size=n) > 0).astype(np.int8)
    df["reimbursed"] = d
    mu_a = np.exp(x @ [7.0, 0.3, -0.2])
    mu_r = np.exp(x @ [-0.9, 0.2, -0.15])
    amount = rng.gamma(2.0, mu_a / 2.0)
    ratio = np.minimum(rng.gamma(4.0, mu_r / 4.0), 0.99)
    lost = rng.random(n) < 0.12
    df["reimb_amount"] = np.where(d == 0, 0.0, np.where(lost, np.nan, amount))
    df["reimb_ratio"] = np.where(d == 0, 0.0, np.where(lost, np.nan, ratio))
    return df


def _factor(rng, var: str, p, n: int) -> pd.Categorical:
    levels = FACTORS[var]
    return pd.Categorical(rng.choice(levels, n, p=p), categories=levels)


def _index(df: pd.DataFrame) -> np.ndarray:
    """Columns (1, scheme/scope signal, age signal) of the outcome indices."""
    uebmi, (within_city, _, across_provinces) = FACTORS["scheme"][2], FACTORS["scope"]
    signal = (
        (df["scheme"] == uebmi).astype(float)
        + 0.5 * (df["scope"] == within_city)
        + 0.3 * (df["education"].cat.codes / 3.0)
        - 0.4 * (df["scope"] == across_provinces)
    )
    age = (df["age"] - 39.0) / 12.0
    return np.column_stack([np.ones(len(df)), signal, age * age - 1.0 + 0.5 * age])
