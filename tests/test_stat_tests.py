"""Tests of stat_tests: scipy agreement, closed forms, summary searches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.paper import stat_tests as st

# Published Table 2 summaries (Wang et al. 2022), by scope: city, province, country.
EXP_M, EXP_S = [10326.81, 14458.96, 12771.68], [14079.35, 27139.10, 20428.78]
AMT_M, AMT_S = [4402.12, 6706.32, 5495.89], [6541.01, 13681.56, 8105.80]
RAT_M, RAT_S = [44.75, 47.76, 47.72], [18.17, 20.51, 20.79]
N_ALL, N_REIMBURSED = (296, 335, 534), (242, 234, 302)

GROUPS = [
    np.array([3.0, 5.0, 4.0, 6.0]),
    np.array([7.0, 9.0, 8.0]),
    np.array([2.0, 4.0, 3.0, 1.0, 5.0]),
]


def _anova_by_hand(groups):
    """F and p from sums of squares, written out."""
    values = np.concatenate(groups)
    grand = values.mean()
    ssb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    ssw = sum(((g - g.mean()) ** 2).sum() for g in groups)
    df1, df2 = len(groups) - 1, len(values) - len(groups)
    f_stat = (ssb / df1) / (ssw / df2)
    return f_stat, stats.f.sf(f_stat, df1, df2)


def test_oneway_anova_matches_hand_and_scipy():
    result = st.oneway_anova(GROUPS)
    f_hand, p_hand = _anova_by_hand(GROUPS)
    assert result.statistic == pytest.approx(f_hand, rel=1e-12)
    assert result.pvalue == pytest.approx(p_hand, rel=1e-10)
    assert result.statistic == pytest.approx(stats.f_oneway(*GROUPS).statistic)
    assert result.df == (2.0, 9.0) and result.n == 12


def test_anova_from_summary_equals_raw_anova():
    rng = np.random.default_rng(7)
    groups = [
        rng.gamma(2.0, 500.0 * (j + 1), size=n) for j, n in enumerate((40, 55, 70))
    ]
    means = [g.mean() for g in groups]
    sds = [g.std(ddof=1) for g in groups]
    from_summary = st.anova_from_summary(means, sds, [len(g) for g in groups])
    raw = st.oneway_anova(groups)
    assert from_summary.statistic == pytest.approx(raw.statistic, rel=1e-10)
    assert from_summary.pvalue == pytest.approx(raw.pvalue, rel=1e-9)
    assert from_summary.df == raw.df and from_summary.n == raw.n


def test_chi2_independence_matches_hand_and_scipy():
    table = np.array([[20.0, 15.0, 30.0], [10.0, 25.0, 12.0]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2_hand = ((table - expected) ** 2 / expected).sum()
    result = st.chi2_independence(table)
    assert result.statistic == pytest.approx(chi2_hand, rel=1e-12)
    assert result.pvalue == pytest.approx(stats.chi2.sf(chi2_hand, 2), rel=1e-10)
    assert result.df == (2.0,) and result.n == 112


def test_chi2_2x2_has_no_continuity_correction():
    table = [[12, 5], [7, 14]]
    uncorrected = stats.chi2_contingency(table, correction=False)[0]
    assert st.chi2_independence(table).statistic == pytest.approx(uncorrected)


def test_chi2_from_counts_builds_the_2xk_table():
    direct = st.chi2_independence([[242, 234, 302], [54, 101, 232]])
    assert st.chi2_from_counts(N_REIMBURSED, N_ALL) == direct
    with pytest.raises(ValueError):
        st.chi2_from_counts([5, 9], [4, 10])


def test_ttest_from_summary_pooled_equals_two_group_anova_and_welch_matches_scipy():
    a, b = GROUPS[0], GROUPS[2]
    summary = ([a.mean(), b.mean()], [a.std(ddof=1), b.std(ddof=1)], [len(a), len(b)])
    pooled = st.ttest_from_summary(*summary)
    anova = st.anova_from_summary(*summary)
    assert pooled.statistic**2 == pytest.approx(anova.statistic)
    assert pooled.pvalue == pytest.approx(anova.pvalue)
    welch = st.ttest_from_summary(*summary, equal_var=False)
    raw = stats.ttest_ind(a, b, equal_var=False)
    assert welch.statistic == pytest.approx(raw.statistic)
    assert welch.pvalue == pytest.approx(raw.pvalue)
    assert welch.df[0] == pytest.approx(raw.df)


def test_pooled_summary_equals_concatenated_data():
    values = np.concatenate(GROUPS)
    mean, sd = st.pooled_summary(
        [g.mean() for g in GROUPS],
        [g.std(ddof=1) for g in GROUPS],
        [len(g) for g in GROUPS],
    )
    assert mean == pytest.approx(values.mean())
    assert sd == pytest.approx(values.std(ddof=1))


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0004, "<0.001"), (0.05124, "0.051"), (0.3535, "0.354"), (1.0, "1.000")],
)
def test_format_p(p, text):
    assert st.format_p(p) == text


def test_published_interval_and_consistency():
    assert st.published_interval("0.354") == pytest.approx((0.3535, 0.3545))
    assert st.published_interval("<0.001") == (0.0, 0.001)
    assert st.published_interval("81.76") == pytest.approx((81.755, 81.765))
    assert list(st.p_consistent([0.3535, 0.35449, 0.3545], "0.354")) == [
        True,
        True,
        False,
    ]


def test_consistent_sample_sizes_recovers_the_true_design():
    true_n = (30, 45, 60)
    means, sds = [10.0, 12.0, 11.0], [5.0, 6.0, 5.5]
    printed = st.format_p(st.anova_from_summary(means, sds, true_n).pvalue)
    found = st.consistent_sample_sizes(
        means, sds, printed, [(20, 40), (35, 55), (50, 70)], total=135, half_width=0
    )
    assert (found["N"] == 135).all()
    assert ((found.n_1 == 30) & (found.n_2 == 45) & (found.n_3 == 60)).any()
    assert found["p"].map(st.format_p).eq(printed).all()


def test_consistent_binary_sizes_finds_count_and_size():
    found = st.consistent_binary_sizes("81.76", "38.69", (2, 1165))
    assert found[["n", "k"]].values.tolist() == [[296, 242]]


# --- Pinned findings of docs/table2_pvalues.md (published summaries only) -------------


def test_finding_reimbursed_row_is_the_full_sample_and_chi2_is_below_0001():
    result = st.chi2_from_counts(N_REIMBURSED, N_ALL)
    assert st.format_p(result.pvalue) == "<0.001"
    assert result.statistic == pytest.approx(56.523, abs=1e-3)


def test_finding_expenditure_p_is_not_reproduced_on_the_described_samples():
    assert st.anova_from_summary(EXP_M, EXP_S, N_ALL).pvalue == pytest.approx(
        0.0512, abs=1e-4
    )
    assert st.anova_from_summary(EXP_M, EXP_S, N_REIMBURSED).pvalue == pytest.approx(
        0.0992, abs=1e-4
    )
    part2 = st.anova_from_summary(EXP_M, EXP_S, (214, 199, 250)).pvalue
    assert part2 == pytest.approx(0.1327, abs=1e-4)


def test_finding_part2_split_214_199_250_reproduces_table1_and_table2():
    mean, sd = st.pooled_summary(AMT_M, AMT_S, (214, 199, 250))
    assert (round(float(mean), 2), round(float(sd), 2)) == (5506.16, 9761.79)
    mean, sd = st.pooled_summary(RAT_M, RAT_S, (214, 199, 250))
    assert (round(float(mean), 2), round(float(sd), 2)) == (46.77, 19.91)
    assert (
        st.format_p(st.anova_from_summary(AMT_M, AMT_S, (214, 199, 250)).pvalue)
        == "0.056"
    )
    p_min, p_max = st.p_range_over_rounding(
        RAT_M, RAT_S, np.array([214, 199, 250]), 0.005
    )
    assert p_min < 0.1945 < p_max  # "0.195" is within the rounding of the ratio means


def test_finding_text_p_0643_needs_two_fewer_urban_cases():
    means, sds = [10197.45, 10704.99], [18374.85, 15778.28]
    assert st.format_p(st.anova_from_summary(means, sds, (777, 388)).pvalue) == "0.642"
    assert st.format_p(st.anova_from_summary(means, sds, (777, 386)).pvalue) == "0.643"
