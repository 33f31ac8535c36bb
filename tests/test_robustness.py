"""Robustness table: conclusion flags by hand, and the city-FE LPM on a known DGP.

The LPM check simulates a linear probability model in which cities with a high
baseline reimbursement rate also hold more within-city migrants, so a pooled
regression overstates the scope penalty; with city effects absorbed the true
within-city coefficient is recovered.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.beyond import robustness as rb


def test_conclusion_categories():
    assert rb.conclusion(0.2, 0.001) == "+"
    assert rb.conclusion(-0.2, 0.049) == "-"
    assert rb.conclusion(-0.2, 0.05) == "ns"
    assert rb.conclusion(np.nan, 0.01) == ""


def test_mark_changes_against_baseline_and_published():
    cells = pd.DataFrame(
        {
            "variant": ["baseline", "baseline", "alt", "alt"],
            "equation": ["probit"] * 4,
            "term": ["a", "b", "a", "b"],
            "estimate": [0.3, 0.1, 0.2, -0.1],
            "se": [0.1] * 4,
            "p": [0.001, 0.3, 0.2, 0.4],
            "n": [100] * 4,
            "note": [""] * 4,
        }
    )
    published = pd.DataFrame(
        {"equation": ["probit", "probit"], "term": ["a", "b"],
         "published_conclusion": ["+", "-"]}
    )  # fmt: skip
    out = rb.mark_changes(cells, published).set_index(["variant", "term"])
    # a: significant + in the baseline, n.s. in the alternative -> changed
    assert out.loc[("alt", "a"), "changed_vs_baseline"]
    # b: a sign flip between two n.s. estimates is not a change of conclusion
    assert not out.loc[("alt", "b"), "changed_vs_baseline"]
    # ... but the publication found b significantly negative
    assert out.loc[("baseline", "b"), "changed_vs_published"]
    assert not out.loc[("baseline", "a"), "changed_vs_published"]


def test_published_conclusions_read_table3_stars():
    pub = rb.published_conclusions().set_index(["equation", "term"])
    concl = pub["published_conclusion"]
    assert concl[("probit", "across_provinces")] == "-"  # -0.260**
    assert concl[("amount", "within_province_across_cities")] == "+"  # 0.334**
    assert concl[("ratio", "across_provinces")] == "ns"  # -0.032


@pytest.fixture(scope="module")
def confounded():
    rng = np.random.default_rng(7)
    cities = 150
    n = 30 * cities
    city = np.repeat(np.arange(cities), 30)
    base = rng.uniform(0.3, 0.8, size=cities)  # city reimbursement level
    # better-reimbursing cities hold more within-city (scope = 0) migrants
    p_across = np.clip(1.2 - base, 0.05, 0.95)[city]
    across = (rng.uniform(size=n) < p_across).astype(float)
    x = rng.normal(size=n)
    p = base[city] - 0.15 * across + 0.03 * x
    reimbursed = (rng.uniform(size=n) < np.clip(p, 0, 1)).astype(int)
    city_level = (base[city] > 0.55).astype(float)  # constant within cities
    return pd.DataFrame(
        {
            "reimbursed": reimbursed,
            "city": city.astype(str),
            "across": across,
            "x": x,
            "city_level": city_level,
        }
    )


def test_lpm_city_fe_recovers_the_within_city_effect(confounded):
    out = rb.lpm_cells(confounded, ["across", "x", "city_level"]).set_index("term")
    b, se = out.loc["across", "estimate"], out.loc["across", "se"]
    assert abs(b - (-0.15)) < 3 * se
    assert abs(out.loc["x", "estimate"] - 0.03) < 3 * out.loc["x", "se"]
    # the constant-within-city regressor is reported, not estimated
    assert np.isnan(out.loc["city_level", "estimate"])
    assert "absorbed" in out.loc["city_level", "note"]
    # pooled OLS mixes in the between-city gradient and overstates the penalty
    X = np.column_stack([confounded[["across", "x"]], np.ones(len(confounded))])
    pooled = np.linalg.lstsq(X, confounded["reimbursed"], rcond=None)[0][0]
    assert pooled < -0.15 - 4 * se


def test_lpm_clustered_se_matches_a_hand_sandwich(confounded):
    # within transformation by hand; linearmodels' clustered covariance is
    # G/(G-1) (n-1)/(n-k) x sum_g (X_g'e_g)(X_g'e_g)' sandwiched in (X'X)^-1,
    # with k counting the absorbed effects.
    df = confounded
    out = rb.lpm_cells(df, ["across", "x"]).set_index("term")
    demean = df.groupby("city")[["reimbursed", "across", "x"]].transform("mean")
    W = df[["reimbursed", "across", "x"]] - demean
    X, y = W[["across", "x"]].to_numpy(), W["reimbursed"].to_numpy()
    b = np.linalg.solve(X.T @ X, X.T @ y)
    np.testing.assert_allclose(out.loc[["across", "x"], "estimate"], b, rtol=1e-8)
    e = y - X @ b
    scores = pd.DataFrame(X * e[:, None]).groupby(df["city"].to_numpy()).sum()
    meat = scores.T.to_numpy() @ scores.to_numpy()
    bread = np.linalg.inv(X.T @ X)
    G = df["city"].nunique()
    V = bread @ meat @ bread * G / (G - 1)
    se_plain = np.sqrt(np.diag(V))
    ratio = out.loc[["across", "x"], "se"].to_numpy() / se_plain
    # the two SEs differ only by a small-sample factor common to both terms
    assert ratio[0] == pytest.approx(ratio[1], rel=1e-10)
    assert 0.95 < ratio[0] < 1.2


def test_published_conclusions_of_the_subsamples_read_table4():
    ncms = rb.published_conclusions("ncms").set_index(["equation", "term"])
    concl = ncms["published_conclusion"]
    assert concl[("probit", "across_provinces")] == "-"  # -0.333**
    assert concl[("amount", "across_provinces")] == "+"  # 0.282*
    assert concl[("ratio", "within_province_across_cities")] == "ns"  # -0.044
    urban = rb.published_conclusions("urban").set_index(["equation", "term"])
    assert urban.loc[("probit", "across_provinces"), "published_conclusion"] == "ns"
    # Table 4 prints only the two scope rows per equation
    assert len(ncms) == len(urban) == 6


def test_lpm_note_counts_respondents_with_within_city_variation(confounded):
    lonely = confounded.iloc[[0]].assign(city="lonely")
    df = pd.concat([confounded, lonely], ignore_index=True)
    out = rb.lpm_cells(df, ["across", "x"]).set_index("term")
    note = out.loc["across", "note"]
    assert "from 4500 of 4501 respondents (150 cities with 2+)" in note


@pytest.fixture(scope="module")
def toy_tables():
    from analysis.inference.bootstrap.synthetic import toy_analytic
    from analysis.paper.estimates import subsample
    from analysis.paper.models import design_frame

    toy = toy_analytic(1000, np.random.default_rng(4))
    frames = {s: design_frame(subsample(toy, s)) for s in ("total", "urban")}
    return frames, rb.robustness_tables(frames)


def test_subsample_tables_are_keyed_and_compared_within_sample(toy_tables):
    frames, table = toy_tables
    assert list(table.columns[:4]) == list(rb.KEYS)
    assert not table.duplicated(list(rb.KEYS)).any()
    assert list(dict.fromkeys(table["sample"])) == ["total", "urban"]
    # each sample's baseline conclusions come from its own baseline fit
    for sample, t in table.groupby("sample"):
        base = t[t["variant"] == "baseline"].set_index(["equation", "term"])
        for r in t[t["variant"] != "baseline"].itertuples():
            if (r.equation, r.term) in base.index:
                expected = base.loc[(r.equation, r.term), "conclusion"]
                assert r.baseline_conclusion == expected, (sample, r.term)
    # the urban models drop no scheme level (URBMI is the base) and have no NCMS
    urban = table[(table["sample"] == "urban") & (table["variant"] == "baseline")]
    assert "UEBMI" in set(urban["term"]) and "URBMI" not in set(urban["term"])
    assert (urban.loc[urban["equation"] == "probit", "n"] == len(frames["urban"])).all()
    # the total-sample rows equal a total-only run
    total = rb.robustness_table(frames["total"], "total")
    pd.testing.assert_frame_equal(
        table[table["sample"] == "total"].reset_index(drop=True), total
    )
    wide = rb.wide_view(table, ("UEBMI", "across_provinces"))
    assert list(wide.columns[:3]) == ["sample", "equation", "term"]
    assert list(dict.fromkeys(wide["sample"])) == ["total", "urban"]
