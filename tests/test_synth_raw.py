"""Tests of the synthetic raw survey (analysis.synth design, population, encode, write).

The full 200,937-row file is built once per test module (a module fixture, a few
seconds) from a stand-in analytic frame of the documented contract, so these tests
check the survey assembly apart from the calibration (``analysis.synth.analytic``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import synth
from analysis.cleaning.codebook import Codebook
from analysis.cleaning.schema import FACTORS
from analysis.config import N_ANALYTIC, N_CITIES, N_PROVINCIAL_UNITS, N_RESPONDENTS
from analysis.synth import design as design_mod
from analysis.synth.population import expected_flow

SEED = 20140501
CODEBOOK = Codebook()
VARS = CODEBOOK.variables.set_index("column")


def stand_in_analytic(n: int = N_ANALYTIC, seed: int = 7) -> pd.DataFrame:
    """Return a frame of the analytic contract (docs/architecture.md), internally
    consistent (age, duration and income per head follow from the raw-level columns)."""
    rng = np.random.default_rng(seed)

    def pick(factor, p=None):
        return rng.choice(np.array(FACTORS[factor], dtype=object), size=n, p=p)

    scheme = pick("scheme", [0.667, 0.103, 0.23])
    age = rng.integers(15, 60, size=n)
    birth_month = rng.integers(1, 13, size=n)
    months = np.minimum(rng.integers(1, 200, size=n), 12 * (age - 12))
    t = 2014 * 12 + 4 - months
    hh = rng.integers(1, 6, size=n)
    income = hh * rng.integers(5, 60, size=n) * 100
    cost = rng.integers(500, 60_000, size=n)
    reimbursed = rng.random(n) < 0.67
    in_part2 = reimbursed & (rng.random(n) < 0.85)
    share = rng.uniform(0.1, 0.9, n)
    amount = np.where(in_part2, np.maximum(1, np.floor(cost * share)), np.nan)
    reason = np.where(~reimbursed, pick("noreimb_reason"), None)
    reason = np.where(~reimbursed & (rng.random(n) < 0.15), None, reason)
    kind = np.where(rng.random(n) < 0.7, "dont_know", "refused")
    missing = np.where(reimbursed & ~in_part2, kind, None)
    rural = np.where(scheme == "NCMS", 1, rng.random(n) < 0.7)
    duration = pd.cut(
        months, [0, 12, 60, 120, np.inf], right=False, labels=FACTORS["duration"]
    )
    return pd.DataFrame(
        {
            "scheme": scheme,
            "education": pick("education"),
            "scope": pick("scope", [0.25, 0.29, 0.46]),
            "reason": pick("reason", [0.84, 0.13, 0.03]),
            "duration": np.asarray(duration, dtype=object),
            "facility_level": pick("facility_level"),
            "income_quintile": "q1",  # recomputed by cleaning; not compared
            "noreimb_reason": pd.Series(reason, dtype=object),
            "female": (rng.random(n) < 0.46).astype("int8"),
            "married": (rng.random(n) < 0.89).astype("int8"),
            "has_job": (rng.random(n) < 0.8).astype("int8"),
            "rural_hukou": rural.astype("int8"),
            "urban_area": (rng.random(n) < 0.69).astype("int8"),
            "reimbursed": reimbursed.astype("int8"),
            "in_part2": in_part2.astype("int8"),
            "age": age,
            "birth_year": 2014 - age - (birth_month > 5),
            "birth_month": birth_month,
            "arrival_year": t // 12,
            "arrival_month": t % 12 + 1,
            "hh_size": hh,
            "famincom_m": income,
            "income_pc_month": income / hh,
            "total_expenditure": cost,
            "reimb_amount": amount,
            "reimb_ratio": amount / cost,
            "amount_missing": pd.Series(missing, dtype=object),
        }
    )


@pytest.fixture(scope="module")
def build():
    return synth.build_survey(SEED, stand_in_analytic())


@pytest.fixture(scope="module")
def raw(build):
    return build.raw


@pytest.fixture(scope="module")
def dta(build, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "cmds2014_synthetic.dta"
    synth.write_raw_survey(build.raw, path)
    return path


def column(concept: str) -> str:
    return CODEBOOK.variables.at[concept, "column"]


# --- design ---


def test_columns_and_types_follow_the_codebook(raw):
    assert list(raw.columns) == list(CODEBOOK.variables["column"])
    sizes = {"byte": 1, "int": 2, "long": 4}
    for name, stata_type in VARS["stata_type"].items():
        if stata_type in sizes:
            assert raw[name].dtype.itemsize == sizes[stata_type], name
        else:
            width = int(stata_type.removeprefix("str"))
            assert raw[name].map(lambda s: len(s.encode())).max() <= width, name


def test_design_counts(build, raw):
    d = build.design
    code = raw[column("locality_code")]
    assert len(raw) == N_RESPONDENTS
    assert code.str[:2].nunique() == N_PROVINCIAL_UNITS
    assert code.str[:4].nunique() == N_CITIES
    assert raw[column("stratum")].nunique() == N_CITIES
    assert code.str[:6].nunique() == design_mod.N_COUNTIES
    assert raw[column("psu")].nunique() == design_mod.N_TOWNSHIPS
    assert raw[column("neighbourhood")].nunique() == design_mod.N_NEIGHBOURHOODS
    assert d.provinces["n_planned"].sum() == design_mod.N_PLANNED
    assert sorted(d.provinces["n_planned"], reverse=True) == sorted(
        [14_000] + [12_000] * 2 + [10_000] * 2 + [8_000] * 3 + [7_000] * 2
        + [6_000] * 5 + [5_000] * 7 + [4_000] * 10,
        reverse=True,
    )  # fmt: skip
    per_province = code.str[:2].astype(int).value_counts().sort_index()
    assert per_province.to_numpy().tolist() == d.provinces["n_valid"].tolist()
    assert (d.provinces["n_planned"] - d.provinces["n_valid"]).between(0, 63).all()
    takes = raw.groupby(column("neighbourhood")).size()
    assert takes.min() >= design_mod.MIN_TAKE and takes.max() <= 99


def test_ids_unique_and_locality_code_format(raw):
    ids = raw[column("resp_id")]
    assert ids.is_unique and ids.tolist() == list(range(1, len(raw) + 1))
    code = raw[column("locality_code")]
    assert code.is_unique and code.str.fullmatch(r"\d{14}").all()
    assert code.is_monotonic_increasing
    provinces = {p for p, *_ in design_mod.PROVINCES}
    assert set(code.str[:2].astype(int)) == provinces


def test_design_ids_nest(raw):
    code = raw[column("locality_code")]
    frame = pd.DataFrame(
        {
            "city": code.str[:4],
            "county": code.str[:6],
            "township": code.str[:9],
            "nbhd": code.str[:12],
            "name": raw[column("city_name")],
            "stratum": raw[column("stratum")],
            "psu": raw[column("psu")],
            "ssu": raw[column("neighbourhood")],
            "area": raw[column("residence_area")],
            "nbhd_no": code.str[9:12].astype(int),
        }
    )
    one_to_one = [("city", "stratum"), ("city", "name"), ("township", "psu"),
                  ("nbhd", "ssu")]  # fmt: skip
    for a, b in one_to_one:
        assert frame.groupby(a)[b].nunique().eq(1).all(), (a, b)
        assert frame.groupby(b)[a].nunique().eq(1).all(), (b, a)
    assert frame.groupby("psu")["stratum"].nunique().eq(1).all()
    assert frame.groupby("ssu")["area"].nunique().eq(1).all()
    # 居委会 001-199 urban, 村委会 201-399 suburban (statistical division code habit)
    urban = frame["area"] == 1
    assert frame.loc[urban, "nbhd_no"].between(1, 199).all()
    assert frame.loc[~urban, "nbhd_no"].between(201, 399).all()
    assert frame.groupby("stratum")["psu"].nunique().min() >= 2


# --- codes ---


def test_codes_within_codebook(raw):
    labels = CODEBOOK.value_labels
    for concept, row in CODEBOOK.variables.iterrows():
        values = raw[row["column"]]
        if row["stata_type"].startswith("str"):
            continue
        missing = set(CODEBOOK.missing_codes(concept))
        is_missing = values.isin(missing)
        valid = values[~is_missing]
        if isinstance(row["labelset"], str):
            codes = set(labels.loc[labels["labelset"] == row["labelset"], "code"])
            assert set(valid) <= codes, concept
        if isinstance(row["valid_min"], str):
            assert valid.between(
                float(row["valid_min"]), float(row["valid_max"])
            ).all(), concept
        assert (values >= -8).all() and not values.isin([-3, -4, -5, -6, -7]).any()


def test_skip_patterns_exact(raw):
    checked = 0
    for concept, row in CODEBOOK.variables.iterrows():
        if row["universe"] == "all":
            assert not raw[row["column"]].eq(-8).any(), concept
            continue
        left, right = (part.strip() for part in row["universe"].split("=="))
        inside = raw[column(left)].eq(int(right))
        assert raw.loc[~inside, row["column"]].eq(-8).all(), concept
        assert not raw.loc[inside, row["column"]].eq(-8).any(), concept
        checked += 1
    assert checked == 16


def test_scope_consistent_with_hukou_province(raw):
    scope = raw[column("scope")]
    hukou = raw[column("hukou_province")]
    current = raw[column("locality_code")].str[:2].astype(int)
    known = hukou > 0
    assert (hukou[known & (scope == 1)] != current[known & (scope == 1)]).all()
    assert (hukou[known & (scope != 1)] == current[known & (scope != 1)]).all()
    municipality = current.isin(list(design_mod.MUNICIPALITY_NAMES))
    assert not (municipality & (scope == 2)).any()
    assert 0.4 < (scope == 1).mean() < 0.6


def test_birth_and_arrival_dates(raw):
    year, month = raw[column("birth_year")], raw[column("birth_month")]
    ok = (year > 0) & (month > 0)
    age = 2014 - year[ok] - (month[ok] > 5)
    assert age.between(15, 59).all()
    ay, am = raw[column("arrival_year")], raw[column("arrival_month")]
    known = (ay > 0) & (am > 0)
    assert (ay[known] * 12 + am[known] <= 2014 * 12 + 4).all()
    assert (ay[known & ok] >= year[known & ok]).all()


def test_funnel_counts(raw):
    hosp = raw[column("hosp_any")].eq(1)
    local = hosp & raw[column("hosp_place")].eq(1)
    assert hosp.sum() == expected_flow(N_ANALYTIC).attrs["n_hospitalised"] == 6_121
    assert local.sum() == 1_880
    assert raw[column("hosp_any")].eq(-1).sum() == 240


def test_members_embedded_consistently(build, raw):
    m = build.members
    rows = raw.set_index(column("resp_id")).loc[m["resp_id"].astype(int)]
    area = np.where(m["urban_area"] == 1, 1, 2)
    assert (rows[column("residence_area")].to_numpy() == area).all()
    scope = m["scope"].map({"across_provinces": 1, "within_province_across_cities": 2,
                            "within_city_across_counties": 3})  # fmt: skip
    assert (rows[column("scope")].to_numpy() == scope.to_numpy()).all()
    assert (rows[column("hosp_any")] == 1).all() and (
        rows[column("hosp_place")] == 1
    ).all()


# --- cleaning round trip ---


def test_cleaning_returns_the_members(build):
    clean = pytest.importorskip("analysis.cleaning.clean")
    result = clean.clean_survey(build.raw)
    got = result.analytic
    want = build.members
    assert got["resp_id"].tolist() == want["resp_id"].tolist()
    for name in got.columns:
        if name == "income_quintile" or name not in want.columns:
            continue
        a, b = got[name], want[name]
        if name in FACTORS:
            assert (
                a.astype(object).fillna("").tolist()
                == b.astype(object).fillna("").tolist()
            ), name
        else:
            np.testing.assert_array_equal(
                a.to_numpy(dtype=float), b.to_numpy(dtype=float), err_msg=name
            )
    expected = expected_flow(N_ANALYTIC)
    flow = result.flow.set_index("step")["n_removed"]
    assert flow["3"] == expected.loc[expected["step"] == "3", "n_removed"].item()
    assert flow["4"] == expected.loc[expected["step"] == "4", "n_removed"].item()
    rule5 = expected[expected["step"] == "5"].set_index("rule")["n_removed"]
    flow_mod = pytest.importorskip("analysis.cleaning.flow")
    step5 = result.flow[result.flow["step"].str.startswith("5")]
    covariates = [name for name, _ in flow_mod.COMPLETE_CASE_SOURCES]
    by_covariate = dict(zip(covariates, step5["n_removed"], strict=True))
    for covariate, n in by_covariate.items():
        assert n == rule5.get(covariate, 0), covariate
    assert result.flow["n_after"].iloc[-1] == N_ANALYTIC


def test_population_never_passes_with_few_members():
    clean = pytest.importorskip("analysis.cleaning.clean")
    small = stand_in_analytic(n=12, seed=3)
    built = synth.build_survey(SEED + 1, small)
    result = clean.clean_survey(built.raw)
    assert result.analytic["resp_id"].tolist() == built.members["resp_id"].tolist()


# --- writing ---


def test_dta_round_trip_with_labels(build, dta):
    back = pd.read_stata(dta, convert_categoricals=False)
    pd.testing.assert_frame_equal(back, build.raw, check_dtype=False)
    with pd.io.stata.StataReader(dta) as reader:
        variable_labels = reader.variable_labels()
        value_labels = reader.value_labels()
        assert "synthetic" in reader.data_label.lower()
    assert variable_labels[column("sex")] == "性别"
    assert all(variable_labels.values())
    assert value_labels[column("sex")] == {1: "男", 2: "女"}
    assert value_labels[column("hosp_place")][-8] == "不适用"
    assert value_labels[column("birth_year")] == {-2: "拒绝回答", -1: "不知道"}
    pyreadstat = pytest.importorskip("pyreadstat")
    _, meta = pyreadstat.read_dta(str(dta), metadataonly=True)
    assert meta.number_rows == N_RESPONDENTS
    assert meta.variable_value_labels[column("education")][7] == "研究生"


def test_same_seed_same_bytes(dta, tmp_path, monkeypatch):
    """Generate again through the default path (analytic from the seed) and compare."""
    monkeypatch.setattr(synth, "synthesize_analytic", lambda s: stand_in_analytic())
    again = tmp_path / "again.dta"
    synth.write_raw_survey(synth.generate_raw_survey(SEED), again)
    assert again.read_bytes() == dta.read_bytes()


def test_streams_are_independent():
    root = np.random.SeedSequence(SEED)
    first = synth.child(root, synth.STREAM_DESIGN)
    second = synth.child(root, synth.STREAM_DESIGN)
    assert first.generate_state(4).tolist() == second.generate_state(4).tolist()
    a = design_mod.build_design(np.random.default_rng(first))
    b = design_mod.build_design(np.random.default_rng(second))
    pd.testing.assert_frame_equal(a.neighbourhoods, b.neighbourhoods)
    streams = (
        synth.STREAM_ANALYTIC, synth.STREAM_DESIGN, synth.STREAM_POPULATION,
        synth.STREAM_MEMBERS, synth.STREAM_CITIES,
    )  # fmt: skip
    states = {tuple(synth.child(root, k).generate_state(2)) for k in streams}
    assert len(states) == len(streams)


def test_encoding_rejects_a_bad_member_frame():
    from analysis.synth.encode import check_members

    bad = stand_in_analytic(n=5)
    bad["total_expenditure"] = bad["total_expenditure"].astype(float)
    bad.loc[0, "total_expenditure"] = 10.5
    with pytest.raises(ValueError, match="total_expenditure"):
        check_members(bad)


def test_province_label_set_matches_the_design():
    """The codebook's province labels (resi_place_1) are the design's provinces."""
    labels = CODEBOOK.labels("province")
    assert labels == {code: en for code, _, en, *_ in design_mod.PROVINCES}
