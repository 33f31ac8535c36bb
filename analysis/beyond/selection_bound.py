"""Bounds on the settlement counterfactual under selection of claims on their amount.

The cross-region settlement scenario (:mod:`analysis.beyond.counterfactuals`)
raises far migrants' claim probability from F_i to F~_i and keeps part 2, so each
new claimant is given h_i, the mean amount the Gamma GLM predicts for a claimant
with i's covariates and scope. Far migrants who claim now are selected: claiming
from afar is worth it only for large amounts, so the new claimants' mean amount
m_i may lie below h_i. The counterfactual change in expected reimbursement per
stay over a group R is

    change(m) = mean_{i in R} (F~_i - F_i) m_i        (the model: m_i = h_i)

because, under monotonicity (M: nobody who claims now stops, and current claims
keep their amounts), the counterfactual claimants are the current ones, of mass
F_i and mean h_i, plus the new ones, of mass F~_i - F_i and mean m_i.

Two lower bounds, both with the model's value as the upper bound:

* **Selection bound** (Lee 2009 trimming). Assumptions: (M); (S) selection on
  the amount: the current claimants of a scope group are the would-be claimants
  with the largest amounts (the worst case of "claim only when large"); (T) the
  would-be claimants' amounts, relative to their predicted amount, are
  distributed as the observed claims of the scenario's reference group
  (within-city migrants, who claim without a distance barrier): r_j = y_j / h_j.
  With s = sum F / sum F~ over the group's rows of one scope (the share of
  would-be claimants who claim now), the current claimants are the top s of the
  reference distribution and the new ones its bottom 1 - s, trimmed at the
  (1 - s) quantile with fractional weight at the cut, as Lee's trimming; so
  m_i >= rho(s) h_i with rho(s) = mean(bottom 1 - s) / mean(top s), and
  change_low = mean (F~_i - F_i) rho(s_g(i)) h_i.
* **Worst case** (Manski). (M) and m_i <= h_i, without (T): the new claimants'
  amounts may be as small as the smallest amount claimed in the sample (a_min,
  taken as the support's lower end),
  change_worst = mean (F~_i - F_i) min(a_min, h_i).

The share reimbursed is a part-1 quantity and is not affected by this selection;
the amount given reimbursement (mean h) is not changed by the scenario. Both
bounds are point estimates (no sampling error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.beyond import counterfactuals as cf

COLUMNS = [
    "sel_claim_share",
    "sel_amount_ratio",
    "change_sel_low",
    "change_sel_worst",
    "change_sel_high",
]
QUANTITY = "expected_reimbursement"


def trim_ratio(r: np.ndarray, s: float) -> float:
    """rho(s): mean of the bottom 1 - s of ``r`` over the mean of its top s.

    Each value has mass 1 / n; the value at the (1 - s) quantile is split
    between the two parts in proportion (Lee's trimming of a fraction that is
    not a multiple of 1 / n). ``s >= 1`` (no new claimant) gives 1.

    Raises
    ------
    ValueError
        If ``r`` is empty or ``s`` is not positive.
    """
    r = np.sort(np.asarray(r, dtype=float))
    if r.size == 0 or not s > 0:
        raise ValueError("trimming needs a reference distribution and s > 0")
    if s >= 1:
        return 1.0
    n = r.size
    cum = np.arange(1, n + 1) / n
    cut = 1.0 - s
    # mass of each value that falls in the bottom 1 - s
    low = np.clip(cut - (cum - 1.0 / n), 0.0, 1.0 / n)
    high = 1.0 / n - low
    return float((low @ r / cut) / (high @ r / s))


def bound_rows(
    F: np.ndarray,
    Fc: np.ndarray,
    h: np.ndarray,
    groups: np.ndarray,
    reference: np.ndarray,
    a_min: float,
    masks: np.ndarray,
    labels: list[str],
) -> pd.DataFrame:
    """The bounds of the change in F h over each averaging group.

    Parameters
    ----------
    F, Fc, h : ndarray
        Observed and counterfactual claim probabilities and the predicted
        amount given a claim, per row.
    groups : ndarray
        Each row's scope: s and rho are computed within each scope.
    reference : ndarray
        Relative amounts y / h of the reference group's observed claims.
    a_min : float
        Smallest amount claimed in the sample.
    masks : ndarray of bool (G, n)
        Rows of each averaging group (:class:`analysis.beyond.counterfactuals.Setup`).
    labels : list of str
        The groups' labels.

    Returns
    -------
    pandas.DataFrame
        ``group`` and :data:`COLUMNS`. ``sel_claim_share`` and
        ``sel_amount_ratio`` are s and rho for a one-scope group and, for a
        group of several scopes, sum F / sum F~ and change_low / change.
    """
    rows = []
    for label, mask in zip(labels, masks, strict=True):
        new = (Fc - F)[mask]
        rho = np.ones(new.size)
        for g in np.unique(groups[mask]):
            in_g = groups[mask] == g
            s = F[mask][in_g].sum() / Fc[mask][in_g].sum()
            rho[in_g] = trim_ratio(reference, s)
        hm = h[mask]
        high = float(np.mean(new * hm))
        low = float(np.mean(new * rho * hm))
        worst = float(np.mean(new * np.minimum(a_min, hm)))
        one = np.unique(groups[mask]).size == 1
        rows.append(
            {
                "group": str(label),
                "sel_claim_share": float(F[mask].sum() / Fc[mask].sum()),
                "sel_amount_ratio": float(rho[0]) if one else low / high,
                "change_sel_low": low,
                "change_sel_worst": worst,
                "change_sel_high": high,
            }
        )
    return pd.DataFrame(rows, columns=["group", *COLUMNS])


def selection_bounds(
    res, scenario: cf.Counterfactual, data: pd.DataFrame, by: str = "scope"
) -> pd.DataFrame:
    """:func:`bound_rows` of a part-1-only scenario on the fit ``res``.

    The reference group is the rows whose ``by`` equals the level the scenario
    imposes on ``by`` (cross-region settlement: within-city migrants); its
    claims' y / h make the reference distribution. The amounts are the fit's
    own outcome on its part-2 rows.

    Returns
    -------
    pandas.DataFrame
        :data:`analysis.beyond.counterfactuals.KEYS` (quantity: expected
        reimbursement) and :data:`COLUMNS`, one row per group of
        :func:`analysis.beyond.counterfactuals.prepare`.

    Raises
    ------
    ValueError
        If the scenario changes part 2 or does not set ``by`` in part 1, or the
        reference group has no claim.
    """
    if scenario.part2 or by not in scenario.part1:
        raise ValueError(
            f"the selection bound needs a scenario that sets {by!r} in part 1 only"
        )
    st = cf.prepare(res, scenario, data, by)
    rows_data, f1, _ = st.frames
    obs = cf.predictions(res, rows_data, rows_data)
    F, h = obs["F"], obs["h"]
    Fc = res.predict(f1, part="part1").to_numpy()
    groups = rows_data[by].astype(str).to_numpy()
    claims = res.sample.rows2
    y = res.sample.y
    ref = claims & (groups == scenario.part1[by])
    if not ref.any():
        raise ValueError(f"no observed claim in the reference group {by}")
    out = bound_rows(
        F, Fc, h, groups, y[ref] / h[ref], float(y[claims].min()), st.masks,
        st.labels,
    )  # fmt: skip
    return out.assign(scenario=scenario.name, quantity=QUANTITY)


def with_bounds(
    rows: pd.DataFrame, res, scenario: cf.Counterfactual, data: pd.DataFrame
) -> pd.DataFrame:
    """``rows`` (:func:`counterfactuals.evaluate` by scope) with :data:`COLUMNS`.

    ``rows`` carry a ``note`` column, which stays last.

    Filled on the expected-reimbursement rows of a scenario that moves the scope
    in part 1 only (cross-region settlement) and empty elsewhere; a bound that
    cannot be computed leaves them empty and says why in ``note``.
    """
    out = rows.assign(**dict.fromkeys(COLUMNS, np.nan))
    out = out[[c for c in out.columns if c != "note"] + ["note"]]
    if scenario.part2 or "scope" not in scenario.part1:
        return out
    try:
        bounds = selection_bounds(res, scenario, data)
    except ValueError as err:
        out.loc[out["quantity"] == QUANTITY, "note"] = (
            f"selection bound not computed: {err}"
        )
        return out
    keys = ["group", "quantity"]
    filled = out.drop(columns=COLUMNS).merge(
        bounds[[*keys, *COLUMNS]], on=keys, how="left", validate="one_to_one"
    )
    return filled[list(out.columns)]
