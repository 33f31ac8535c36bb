"""Unit tests of the descriptives on a 10-row analytic frame computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import io, notices
from analysis.cleaning import schema
from analysis.paper import descriptives as ds
from analysis.paper import published as published_tables

# (scheme, scope, reimbursed, in_part2, total_expenditure, reimb_amount)
ROWS = [
    ("NCMS", "within_city_across_counties", 1, 1, 1000, 500),
    ("NCMS", "within_city_across_counties", 1, 0, 2000, np.nan),
    ("NCMS", "within_province_across_cities", 0, 0, 3000, np.nan),
    ("NCMS", "across_provinces", 1, 1, 4000, 1000),
    ("NCMS", "across_provinces", 0, 0, 5000, np.nan),
    ("URBMI", "within_city_across_counties", 1, 1, 6000, 3000),
    ("URBMI", "within_province_across_cities", 1, 1, 7000, 3500),
    ("UEBMI", "within_province_across_cities", 1, 1, 8000, 6000),
    ("UEBMI", "across_provinces", 1, 1, 9000, 4500),
    ("UEBMI", "across_provinces", 0, 0, 10000, np.nan),
]


def fake_analytic() -> pd.DataFrame:
    """The frame of ROWS with every schema column filled by a simple rule."""
    n = len(ROWS)
    cols = list(zip(*ROWS, strict=True))
    frame = pd.DataFrame({c: [f"{c}{i}" for i in range(n)] for c in schema.DESIGN})
    cycled = {
        f: [lv[i % len(lv)] for i in range(n)] for f, lv in schema.FACTORS.items()
    }
    cycled.update(scheme=list(cols[0]), scope=list(cols[1]))
    for factor, levels in schema.FACTORS.items():
        frame[factor] = pd.Categorical(cycled[factor], categories=levels)
    frame["noreimb_reason"] = frame["noreimb_reason"].where(np.array(cols[2]) == 0)
    for binary in schema.BINARIES:
        frame[binary] = np.array([i % 2 for i in range(n)], dtype="int8")
    frame["reimbursed"] = np.array(cols[2], dtype="int8")
    frame["in_part2"] = np.array(cols[3], dtype="int8")
    frame["age"] = np.arange(20.0, 20.0 + n)
    frame["age_sq"] = frame["age"] ** 2
    frame["income_pc_month"] = 1000.0 * np.arange(1, n + 1)
    frame["total_expenditure"] = np.array(cols[4], dtype=float)
    frame["reimb_amount"] = np.array(cols[5], dtype=float)
    frame["reimb_ratio"] = frame["reimb_amount"] / frame["total_expenditure"]
    return frame[list(schema.ANALYTIC_COLUMNS)]


@pytest.fixture(scope="module")
def analytic():
    return fake_analytic()


def _row(table, variable, level=""):
    return table[(table.variable == variable) & (table.level == level)].iloc[0]


def test_table1_has_the_published_keys_and_columns(analytic):
    published = published_tables.read("table1", keep_default_na=False)
    ours = ds.table1(analytic)
    assert list(ours.columns) == list(published.columns)
    keys = list(ds.TABLE1_KEYS)
    assert ours[keys].values.tolist() == published[keys].values.tolist()


def test_table1_outcome_rows_by_hand(analytic):
    t1 = ds.table1(analytic)
    exp = _row(t1, "total_expenditure")
    assert exp.total == pytest.approx(5500.0)
    assert exp.total_spread == pytest.approx(1000 * np.sqrt(110 / 12))
    assert (exp.ncms, exp.urban) == pytest.approx((3000.0, 8000.0))
    reimb = _row(t1, "reimbursed", "yes")
    assert reimb[["total", "total_spread"]].tolist() == pytest.approx([7, 70.0])
    assert reimb[["ncms", "ncms_spread", "urban", "urban_spread"]].tolist() == (
        pytest.approx([3, 60.0, 4, 80.0])
    )
    amount = _row(t1, "reimb_amount")  # part 2 only: 6 rows, 2 of them NCMS
    assert (amount.total, amount.ncms, amount.urban) == pytest.approx(
        (18500 / 6, 750.0, 4250.0)
    )
    ratio = _row(t1, "reimb_ratio_pct")  # 50, 25, 50, 50, 75, 50 percent
    assert (ratio.total, ratio.total_spread) == pytest.approx((50.0, np.sqrt(250.0)))
    assert ratio.ncms == pytest.approx(37.5)


def test_table1_sample_rules(analytic):
    t1 = ds.table1(analytic, samples={"total_expenditure": "reimbursed"})
    assert _row(t1, "total_expenditure").total == pytest.approx(37000 / 7)
    with pytest.raises(ValueError, match="no Table 1 row"):
        ds.table1(analytic, samples={"reimbursed_pct": "all"})


def test_table1_scheme_rows_blank_as_published(analytic):
    t1 = ds.table1(analytic).set_index("level")
    scheme = t1[t1.variable == "scheme"]
    assert scheme.loc["NCMS", ["total", "total_spread"]].tolist() == [5, 50.0]
    assert scheme[["ncms", "ncms_spread"]].isna().all().all()
    assert np.isnan(scheme.loc["NCMS", "urban"])
    assert scheme.loc["UEBMI", ["urban", "urban_spread"]].tolist() == [3, 60.0]


def test_table1_factor_counts_sum_to_column_n(analytic):
    t1 = ds.table1(analytic)
    for factor in ("education", "scope", "duration", "facility_level"):
        block = t1[t1.variable == factor]
        assert block[["total", "ncms", "urban"]].sum().tolist() == [10, 5, 5]
        assert block["total_spread"].sum() == pytest.approx(100.0)


def test_table2_by_hand(analytic):
    # expenditure over all rows here; the default (part 2) is tested below
    samples = dict(ds.TABLE2_SAMPLES, total_expenditure="all")
    t2 = ds.table2(analytic, samples=samples).set_index("variable")
    city, prov, country = schema.FACTORS["scope"]
    exp = t2.loc["total_expenditure"]
    assert exp[[city, prov, country]].tolist() == pytest.approx([3000, 6000, 7000])
    pct = t2.loc["reimbursed_pct"]
    assert pct[[city, prov, country]].tolist() == pytest.approx([100, 200 / 3, 50])
    assert pct[f"{country}_sd"] == pytest.approx(100 * np.sqrt(0.25 * 4 / 3))
    amount = t2.loc["reimb_amount"]
    assert amount[[city, prov, country]].tolist() == pytest.approx([1750, 4750, 2750])
    chi2 = stats.chi2_contingency([[3, 2, 2], [0, 1, 2]], correction=False)
    assert pct.p_value == pytest.approx(chi2.pvalue)
    anova = stats.f_oneway(
        [1000, 2000, 6000], [3000, 7000, 8000], [4000, 5000, 9000, 10000]
    )
    assert exp.p_value == pytest.approx(anova.pvalue)


def test_table2_has_the_published_keys_and_columns(analytic):
    published = published_tables.read("table2")
    ours = ds.format_table2(ds.table2(analytic))
    assert list(ours.columns) == list(published.columns)
    assert ours[["variable", "stat"]].values.tolist() == (
        published[["variable", "stat"]].values.tolist()
    )


def test_table2_sample_rules(analytic):
    t2 = ds.table2(analytic, samples={"total_expenditure": "part2"}).set_index(
        "variable"
    )
    city = schema.FACTORS["scope"][0]
    assert t2.loc["total_expenditure", city] == pytest.approx(3500.0)  # rows 1 and 6
    tests = ds.table2_tests(analytic, samples={"total_expenditure": "reimbursed"})
    assert tests.set_index("variable").loc["total_expenditure", "n"] == 7
    with pytest.raises(ValueError, match="missing"):
        ds.table2(analytic, samples={"reimb_amount": "reimbursed"})
    with pytest.raises(ValueError, match="not one of"):
        ds.table2(analytic, samples={"reimb_amount": "everyone"})
    with pytest.raises(ValueError, match="no Table 2 row"):
        ds.table2(analytic, samples={"age": "all"})


def test_validate_rejects_missing_columns_and_stray_levels(analytic):
    with pytest.raises(ValueError, match="lacks"):
        ds.table1(analytic.drop(columns="scope"))
    bad = analytic.assign(
        scope=analytic["scope"].astype(str).replace("across_provinces", "x")
    )
    with pytest.raises(ValueError, match="not in"):
        ds.table2(bad)


def test_format_table1_prints_counts_as_integers(analytic):
    printed = ds.format_table1(ds.table1(analytic))
    reimb = printed[printed.variable == "reimbursed"].iloc[0]
    assert (reimb.total, reimb.total_spread) == ("7", "70.00")
    exp = printed[printed.variable == "total_expenditure"].iloc[0]
    assert exp.total == "5500.00"
    assert printed[printed.variable == "scheme"]["ncms"].eq("").all()


def test_compare_to_published_matches_itself_and_flags_a_change(analytic, tmp_path):
    t1 = ds.table1(analytic)
    path = tmp_path / "t1.csv"
    ds.format_table1(t1).to_csv(path, index=False)
    as_text = pd.read_csv(path, dtype=str)
    cmp = ds.compare_to_published(t1, as_text)
    assert cmp["match"].all() and len(cmp) == len(t1) * 6
    assert ds.compare_to_published(pd.read_csv(path), pd.read_csv(path))["match"].all()
    shifted = t1.copy()
    shifted.loc[0, "total"] += 0.006
    cmp = ds.compare_to_published(shifted, as_text)
    bad = cmp[~cmp["match"]]
    assert bad[["variable", "column"]].values.tolist() == [
        ["total_expenditure", "total"]
    ]
    assert bad["difference"].iloc[0] == pytest.approx(0.006)


def test_compare_to_published_p_values():
    published = pd.DataFrame(
        {
            "variable": ["a", "b", "c"],
            "stat": "mean_sd",
            "p_value": ["<0.001", "0.354", "0.051"],
        }
    )
    ours = pd.DataFrame(
        {
            "variable": ["a", "b", "c"],
            "stat": "mean_sd",
            "p_value": [0.0002, 0.35449, 0.0505],
        }
    )
    cmp = ds.compare_to_published(ours, published)
    assert cmp["match"].tolist() == [True, True, True]
    assert cmp["value_printed"].tolist() == ["0.0002", "0.354", "0.051"]
    ours.loc[1, "p_value"] = 0.051
    assert not ds.compare_to_published(ours, published)["match"].iloc[1]


def test_main_writes_deterministic_captioned_outputs(analytic, tmp_path):
    src = tmp_path / "analytic.parquet"
    analytic.to_parquet(src)
    out = tmp_path / "tables"
    ds.main(src, out)
    first = {name: (out / name).read_bytes() for name in ds.OUTPUT_NAMES}
    ds.main(src, out)
    assert first == {name: (out / name).read_bytes() for name in ds.OUTPUT_NAMES}
    for name in ("table1.md", "table2.md", "table1.tex", "table2.tex"):
        assert (
            "Synthetic data — not the CMDS microdata"
            in first[name].decode().splitlines()[0]
        )
    csv = pd.read_csv(out / "table1.csv")
    assert (csv[notices.CSV_COLUMN] == notices.CSV).all()
    table = io.without_notice(csv)
    assert ds.compare_to_published(ds.table1(analytic), table)["match"].all()
    ds.main(src, out, synthetic=False)
    assert "Synthetic" not in (out / "table1.md").read_text()
