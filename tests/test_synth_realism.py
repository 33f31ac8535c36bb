"""The synthetic survey looks like a survey: members not separable, cities that matter.

The checks of ``analysis.synth.realism`` are tested against closed forms, the placement
and borrowing of ``analysis.synth.geography`` on small hand-made inputs, and the
shipped file against the thresholds its documentation states (docs/calibration.md,
"The survey around the members").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cleaning import clean
from analysis.config import ROOT
from analysis.synth import geography, realism

PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"


# --- the measures ---


def test_icc_matches_the_balanced_anova_formula():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), 5)
    values = rng.normal(size=40)[groups] + rng.normal(size=200)
    frame = pd.DataFrame({"v": values, "g": groups})
    means = frame.groupby("g")["v"].transform("mean")
    msb = 5 * ((frame.groupby("g")["v"].mean() - values.mean()) ** 2).sum() / 39
    msw = ((values - means) ** 2).sum() / 160
    assert realism.icc(values, groups) == pytest.approx((msb - msw) / (msb + 4 * msw))
    assert realism.icc(np.repeat(rng.normal(size=10), 3), np.repeat(range(10), 3)) == 1


def test_auc_is_the_share_of_member_non_member_pairs_ranked_right():
    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.3).astype(int)
    score = np.round(rng.normal(size=300) + 0.4 * y, 1)  # with ties
    ones, zeros = score[y == 1][:, None], score[y == 0][None, :]
    pairs = np.mean((ones > zeros) + 0.5 * (ones == zeros))  # every pair, ties 1/2
    assert realism.auc(score, y) == pytest.approx(pairs, rel=1e-12)


# --- placement and borrowing ---


def small_cities() -> tuple[pd.DataFrame, geography.CityEffects]:
    cities = pd.DataFrame({"stratum": [1, 2, 3], "province": [11, 13, 13]})
    effects = geography.draw_city_effects(cities, np.random.default_rng(3))
    return cities, effects


def test_single_city_province_gets_no_within_province_migrant():
    _, effects = small_cities()
    assert effects.scope_p[0, geography.WITHIN_PROVINCE] == 0
    assert np.allclose(effects.scope_p.sum(axis=1), 1)


def test_placement_respects_area_capacity_and_impossible_cities():
    slots = pd.DataFrame(
        {
            "stratum": [1, 1, 2, 2, 2, 3, 3, 3],
            "residence_area": [1, 2, 1, 1, 2, 1, 2, 2],
        }
    )
    possible = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [1, 1, 1]], dtype=bool)
    loglik = np.where(possible, 0.0, -np.inf)
    area = np.array([1, 2, 1, 1])
    with np.errstate(divide="ignore"):
        pos = geography.place_members(loglik, area, slots, np.random.default_rng(4))
    assert len(set(pos)) == 4
    assert (slots["residence_area"].to_numpy()[pos] == area).all()
    assert slots["stratum"].to_numpy()[pos[1]] == 2  # its only possible city


def test_borrowed_profiles_weigh_every_member_equally_over_the_file():
    rng = np.random.default_rng(5)
    loglik = rng.normal(size=(30, 3)) * 2
    n_city = np.array([50, 120, 30])
    p = geography.donor_weights(loglik, n_city)
    p = p / p.sum(axis=1, keepdims=True)  # P(member | city)
    # Respondents are spread over cities as the slots are: each member's expected
    # share of the borrowers is then the same.
    share = (n_city[:, None] * p).sum(axis=0) / n_city.sum()
    assert np.allclose(share, 1 / 30, rtol=1e-6)
    # and a city still prefers the members it makes likelier
    ranks = stats.spearmanr(p[1], loglik[:, 1] - loglik.mean(axis=1)).statistic
    assert ranks > 0.5


# --- the shipped file ---


@pytest.fixture(scope="module")
def shipped():
    raw = pd.read_stata(PROVIDED, convert_categoricals=False)
    members = clean.clean_survey(raw).analytic["resp_id"]
    return realism.concepts(raw), members


def test_members_cannot_be_told_from_comparable_respondents(shipped):
    frame, members = shipped
    result = realism.separability(realism.comparable(frame, members))
    assert result["n_members"] > 1_000 and result["n_comparable"] > 2_000
    # Under no difference the AUC's SE is about 0.01 here; 0.55 is five SEs.
    assert result["auc_cross_fitted"] < 0.55


def test_cities_shape_scope_scheme_cost_and_reimbursement(shipped):
    frame, members = shipped
    iccs = realism.city_iccs(frame, members).set_index(["trait", "respondents"])["icc"]
    floor = {
        "across provinces": 0.10,
        "urban scheme": 0.05,
        "log cost": 0.03,
        "reimbursed (stay in the city)": 0.02,
    }
    for trait, low in floor.items():
        for group in ("members", "all with an answer"):
            assert iccs[(trait, group)] > low, (trait, group)
