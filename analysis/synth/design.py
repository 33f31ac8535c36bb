"""The sampling design of the synthetic CMDS 2014: provinces down to respondent slots.

Purpose
    Build the frame of the 200,937 respondent *slots* of the survey: 32 provincial
    units, 348 cities (strata, all taken with certainty), 1,459 county-level units,
    3,776 townships/streets (PSUs), 8,993 neighbourhood/village committees (SSUs) and
    the respondents interviewed in each (sources S4 and S5 of
    ``data/codebook/README.md``).
Inputs
    A ``numpy.random.Generator`` (design stream of :func:`analysis.synth.build_survey`).
Outputs
    :class:`Design`: one frame per level; ``slots`` is the respondent grain, sorted by
    ``inte_code`` and numbered ``syn_id`` 1..N in that order.

What is real and what is synthetic
    Real: the province codes (GB/T 2260; the Xinjiang Production and Construction Corps,
    which has no GB/T 2260 province code, gets 66 as in the statistical bureau's
    2-digit tables), the tier sizes, the counts of units at each level (S4) and N.
    Synthetic: which province falls in which tier, the number of cities per province
    (the 2014 count of prefecture-level units, plus directly administered county-level
    cities to reach 348), every code below the province (prefecture ``pp01``.., county
    ``ppcc02``.., township ``001``.., neighbourhood ``001``-``199`` for 居委会 and
    ``201``-``399`` for 村委会 as in the statistical division code), the city names
    (``城市3701``; the four municipalities keep their own names) and all unit sizes.
    The 20-per-neighbourhood take of S5 cannot hold with 8,993 neighbourhoods and
    200,937 respondents (8,993 x 20 = 179,860): here every neighbourhood takes at least
    20 and the 21,077 others are spread over neighbourhoods of the same province (mean
    take 22.3, maximum about 32), so both S4 counts hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

N_PLANNED = 201_000
N_VALID = 200_937
N_COUNTIES = 1_459
N_TOWNSHIPS = 3_776
N_NEIGHBOURHOODS = 8_993
MIN_TAKE = (
    20  # S5: "in each neighbourhood, 20 internal migrants were randomly selected"
)

# code, Chinese name, English name, cities, planned sample (one of the S4 tiers
# 14,000, 12,000, 10,000, 8,000, 7,000, 6,000, 5,000 and 4,000; which province has
# which tier is synthetic).
PROVINCES = (
    (11, "北京", "Beijing", 1, 10_000),
    (12, "天津", "Tianjin", 1, 8_000),
    (13, "河北", "Hebei", 11, 6_000),
    (14, "山西", "Shanxi", 11, 4_000),
    (15, "内蒙古", "Inner Mongolia", 12, 5_000),
    (21, "辽宁", "Liaoning", 14, 6_000),
    (22, "吉林", "Jilin", 9, 4_000),
    (23, "黑龙江", "Heilongjiang", 13, 4_000),
    (31, "上海", "Shanghai", 1, 10_000),
    (32, "江苏", "Jiangsu", 13, 12_000),
    (33, "浙江", "Zhejiang", 11, 12_000),
    (34, "安徽", "Anhui", 16, 6_000),
    (35, "福建", "Fujian", 9, 8_000),
    (36, "江西", "Jiangxi", 11, 5_000),
    (37, "山东", "Shandong", 17, 8_000),
    (41, "河南", "Henan", 18, 7_000),
    (42, "湖北", "Hubei", 16, 6_000),
    (43, "湖南", "Hunan", 14, 6_000),
    (44, "广东", "Guangdong", 21, 14_000),
    (45, "广西", "Guangxi", 14, 5_000),
    (46, "海南", "Hainan", 4, 4_000),
    (50, "重庆", "Chongqing", 1, 5_000),
    (51, "四川", "Sichuan", 21, 7_000),
    (52, "贵州", "Guizhou", 9, 4_000),
    (53, "云南", "Yunnan", 16, 5_000),
    (54, "西藏", "Tibet", 7, 4_000),
    (61, "陕西", "Shaanxi", 10, 5_000),
    (62, "甘肃", "Gansu", 14, 4_000),
    (63, "青海", "Qinghai", 8, 4_000),
    (64, "宁夏", "Ningxia", 5, 4_000),
    (65, "新疆", "Xinjiang", 14, 5_000),
    (66, "新疆生产建设兵团", "Xinjiang Production and Construction Corps", 6, 4_000),
)

# Municipalities: one city each (S1 maps 1101/1102 -> 110000 etc.), with a realistic
# number of county-level units instead of a share of the national 1,459.
MUNICIPALITY_COUNTIES = {11: 16, 12: 16, 31: 17, 50: 38}
MUNICIPALITY_NAMES = {11: "北京市", 12: "天津市", 31: "上海市", 50: "重庆市"}

URBAN_SHARE = 0.68  # mean share of 居委会 among sampled neighbourhoods (assumption)


@dataclass(frozen=True)
class Design:
    """The synthetic sampling frame, one frame per level (ids are 1-based ints).

    Attributes
    ----------
    provinces : DataFrame
        province (int code), name_zh, name_en, n_planned, n_valid, n_cities.
    cities : DataFrame
        stratum, province, city_code (4 chars), city_name, municipality.
    neighbourhoods : DataFrame
        ssu, psu, county_code (6 chars), township_code, nbhd_code (3 chars each),
        stratum, province, residence_area (1 居委会 urban, 2 村委会 suburban), take.
    slots : DataFrame
        One row per respondent: syn_id, locality (inte_code as an integer), stratum,
        psu, ssu, province, residence_area, multi_city (province has more cities).
    """

    provinces: pd.DataFrame
    cities: pd.DataFrame
    neighbourhoods: pd.DataFrame
    slots: pd.DataFrame


def build_design(rng: np.random.Generator) -> Design:
    """Return the full design: 32 provinces -> 348 cities -> ... -> 200,937 slots."""
    provinces = province_frame(rng)
    cities = city_frame(provinces)
    weights = rng.lognormal(0.0, 0.6, size=len(cities))
    n_cities = provinces["n_cities"].to_numpy()
    prov_of_city = cities["province"].to_numpy()
    counties = county_counts(provinces)
    townships = largest_remainder(N_TOWNSHIPS, provinces["n_valid"].to_numpy())
    nbhds = largest_remainder(N_NEIGHBOURHOODS, provinces["n_valid"].to_numpy())
    starts = np.concatenate([[0], np.cumsum(n_cities)])
    city_counties, city_towns, city_nbhds = [], [], []
    for p in range(len(provinces)):
        w = weights[starts[p] : starts[p + 1]]
        k = split(counties[p], np.ones_like(w, dtype=np.int64), w, rng)
        t = split(townships[p], np.maximum(k, 2), w, rng)
        m = split(nbhds[p], t, w, rng)
        city_counties.append(k)
        city_towns.append(t)
        city_nbhds.append(m)
    cities["n_counties"] = np.concatenate(city_counties)
    cities["n_townships"] = np.concatenate(city_towns)
    cities["n_neighbourhoods"] = np.concatenate(city_nbhds)
    assert np.array_equal(prov_of_city, cities["province"].to_numpy())
    nbhd = neighbourhood_frame(cities, provinces, rng)
    return Design(provinces, cities, nbhd, slot_frame(nbhd, cities))


def province_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Return the 32 provincial units with planned and valid sample sizes."""
    frame = pd.DataFrame(
        PROVINCES, columns=["province", "name_zh", "name_en", "n_cities", "n_planned"]
    )
    planned = frame["n_planned"].to_numpy()
    # 63 of the 201,000 planned interviews were not valid (S4); where is synthetic.
    invalid = rng.multinomial(N_PLANNED - N_VALID, planned / planned.sum())
    frame["n_valid"] = planned - invalid
    return frame


def city_frame(provinces: pd.DataFrame) -> pd.DataFrame:
    """Return the 348 cities: stratum id, province, 4-digit code and name."""
    province = np.repeat(provinces["province"].to_numpy(), provinces["n_cities"])
    index = np.concatenate([np.arange(1, n + 1) for n in provinces["n_cities"]])
    code = [f"{p:02d}{i:02d}" for p, i in zip(province, index, strict=True)]
    municipality = np.isin(province, list(MUNICIPALITY_NAMES))
    name = [
        MUNICIPALITY_NAMES.get(int(p), f"城市{c}")
        for p, c in zip(province, code, strict=True)
    ]
    return pd.DataFrame(
        {
            "stratum": np.arange(1, len(code) + 1),
            "province": province,
            "city_code": code,
            "city_name": name,
            "municipality": municipality,
        }
    )


def county_counts(provinces: pd.DataFrame) -> np.ndarray:
    """Return county-level units per province: fixed for municipalities, else by n."""
    code = provinces["province"].to_numpy()
    fixed = np.array([MUNICIPALITY_COUNTIES.get(int(c), 0) for c in code])
    free = fixed == 0
    out = fixed.copy()
    size = provinces["n_valid"].to_numpy()[free]
    out[free] = largest_remainder(N_COUNTIES - fixed.sum(), size)
    return out


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Return integers proportional to ``weights`` that sum exactly to ``total``."""
    quota = total * np.asarray(weights, dtype=float) / np.sum(weights)
    base = np.floor(quota).astype(np.int64)
    short = int(total - base.sum())
    order = np.argsort(-(quota - base), kind="stable")
    base[order[:short]] += 1
    return base


def split(
    total: int, minimum: np.ndarray, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return counts >= ``minimum`` summing to ``total``, the excess multinomial."""
    minimum = np.asarray(minimum, dtype=np.int64)
    excess = int(total - minimum.sum())
    if excess < 0:
        raise ValueError(f"cannot split {total} with minimum total {minimum.sum()}")
    return minimum + rng.multinomial(excess, weights / weights.sum())


def neighbourhood_frame(
    cities: pd.DataFrame, provinces: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Return the 8,993 neighbourhoods with their county, township and take."""
    town_city = np.repeat(np.arange(len(cities)), cities["n_townships"])
    town_county = np.concatenate(
        [
            np.repeat(np.arange(k), split(t, np.ones(k, np.int64), np.ones(k), rng))
            for k, t in zip(cities["n_counties"], cities["n_townships"], strict=True)
        ]
    )
    town_nbhds = np.concatenate(
        [
            split(m, np.ones(t, np.int64), np.ones(t), rng)
            for t, m in zip(
                cities["n_townships"], cities["n_neighbourhoods"], strict=True
            )
        ]
    )
    town_index = within_group_index(town_city * 1000 + town_county)
    city_code = cities["city_code"].to_numpy()[town_city]
    # 02.. as in GB/T 2260 (01 is the 市辖区 umbrella code); municipalities start at 01.
    first = np.where(cities["municipality"].to_numpy()[town_city], 1, 2)
    county_code = np.char.add(
        city_code.astype(str), np.char.zfill((town_county + first).astype(str), 2)
    )
    psu = np.repeat(np.arange(1, len(town_city) + 1), town_nbhds)
    n_nbhd = len(psu)
    stratum_of_nbhd = np.repeat(town_city, town_nbhds)
    p_urban = rng.beta(URBAN_SHARE * 6, (1 - URBAN_SHARE) * 6, size=len(cities))
    urban = rng.random(n_nbhd) < p_urban[stratum_of_nbhd]
    area = np.where(urban, 1, 2).astype(np.int8)
    # 居委会 001-199, 村委会 201-399 within each township; urban ones first.
    order = np.lexsort((area, psu))
    psu, stratum_of_nbhd, area = psu[order], stratum_of_nbhd[order], area[order]
    nbhd_index = within_group_index(psu * 10 + area) + 1 + np.where(area == 2, 200, 0)
    frame = pd.DataFrame(
        {
            "ssu": np.arange(1, n_nbhd + 1),
            "psu": psu,
            "county_code": np.repeat(county_code, town_nbhds),
            "township_code": np.char.zfill(
                np.repeat(town_index + 1, town_nbhds).astype(str), 3
            ),
            "nbhd_code": np.char.zfill(nbhd_index.astype(str), 3),
            "stratum": stratum_of_nbhd + 1,
            "province": cities["province"].to_numpy()[stratum_of_nbhd],
            "residence_area": area,
        }
    )
    frame["take"] = neighbourhood_takes(frame, provinces, rng)
    return frame


def within_group_index(group: np.ndarray) -> np.ndarray:
    """Return 0, 1, 2, ... within runs of equal values of a sorted ``group`` array."""
    group = np.asarray(group)
    start = np.r_[True, group[1:] != group[:-1]]
    run_start = np.maximum.accumulate(np.where(start, np.arange(len(group)), 0))
    return np.arange(len(group)) - run_start


def neighbourhood_takes(
    nbhd: pd.DataFrame, provinces: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Return respondents per neighbourhood: 20 each plus the province's excess."""
    takes = np.empty(len(nbhd), dtype=np.int64)
    prov = nbhd["province"].to_numpy()
    for code, n_valid in zip(provinces["province"], provinces["n_valid"], strict=True):
        rows = np.flatnonzero(prov == code)
        takes[rows] = split(
            n_valid, np.full(len(rows), MIN_TAKE), np.ones(len(rows)), rng
        )
    return takes


def slot_frame(nbhd: pd.DataFrame, cities: pd.DataFrame) -> pd.DataFrame:
    """Return one row per respondent slot, numbered in locality-code order.

    ``locality`` is ``inte_code`` as a 14-digit integer (county 6 + township 3 +
    neighbourhood 3 + respondent 2); the string is made once, when the file is built.
    """
    take = nbhd["take"].to_numpy()
    rows = np.repeat(np.arange(len(nbhd)), take)
    resp = within_group_index(rows) + 1
    prefix = (
        nbhd["county_code"].astype(np.int64) * 10**6
        + nbhd["township_code"].astype(np.int64) * 10**3
        + nbhd["nbhd_code"].astype(np.int64)
    ).to_numpy()
    locality = prefix[rows] * 100 + resp
    order = np.argsort(locality, kind="stable")
    rows, locality = rows[order], locality[order]
    stratum = nbhd["stratum"].to_numpy()[rows]
    multi = cities.groupby("province")["stratum"].transform("size").to_numpy() > 1
    return pd.DataFrame(
        {
            "syn_id": np.arange(1, len(rows) + 1),
            "locality": locality,
            "stratum": stratum,
            "psu": nbhd["psu"].to_numpy()[rows],
            "ssu": nbhd["ssu"].to_numpy()[rows],
            "province": nbhd["province"].to_numpy()[rows],
            "residence_area": nbhd["residence_area"].to_numpy()[rows],
            "multi_city": multi[stratum - 1],
        }
    )


def locality_codes(locality: np.ndarray) -> np.ndarray:
    """Return ``inte_code`` strings (14 characters) of integer locality codes."""
    return np.asarray(locality, dtype=np.int64).astype("U14")
