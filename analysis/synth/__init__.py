"""Synthetic CMDS 2014: the analytic members embedded in the full raw survey.

Entry points
    :func:`generate_raw_survey` (seed -> raw DataFrame, columns of
    ``data/codebook/variables.csv`` in order), :func:`build_survey` (the same plus the
    members with their ids, for round-trip tests), :func:`write_raw_survey` (Stata .dta)
    and :func:`main` (generate + write; called by ``python -m analysis generate``).
    The analytic members come from :func:`analysis.synth.analytic.synthesize_analytic`,
    the calibration pipeline described in ``analysis/synth/README.md``.

Seed streams
    ``seed`` (int or SeedSequence) -> children by spawn key, without consuming it:
    0 analytic members (``analysis.synth.analytic``), 1 design, 2 population,
    3 placement and encoding of the members, 4 the cities' effects
    (``analysis.synth.geography``). Changing one stage leaves the others' draws
    unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cleaning.codebook import Codebook
from analysis.io import log_file
from analysis.synth.analytic import synthesize_analytic
from analysis.synth.design import Design, build_design, locality_codes
from analysis.synth.encode import SCOPE_CODES, apply_skips, encode_members
from analysis.synth.geography import draw_city_effects, member_loglik, place_members
from analysis.synth.population import simulate_population
from analysis.synth.write import DATA_LABEL, write_raw_survey

__all__ = [
    "SurveyBuild",
    "build_survey",
    "generate_raw_survey",
    "main",
    "write_raw_survey",
]

STATA_DTYPES = {"byte": "int8", "int": "int16", "long": "int32"}
STREAM_ANALYTIC, STREAM_DESIGN, STREAM_POPULATION, STREAM_MEMBERS, STREAM_CITIES = (
    range(5)
)


@dataclass(frozen=True)
class SurveyBuild:
    """A generated survey: the raw file, its design and the embedded members.

    Attributes
    ----------
    raw : DataFrame
        Raw codes, columns of ``variables.csv`` in order, sorted by syn_id.
    members : DataFrame
        The analytic frame with resp_id (zero-padded as ``analysis.cleaning.clean``
        writes it),
        province, city, stratum and psu added, sorted by resp_id.
    design : Design
    """

    raw: pd.DataFrame
    members: pd.DataFrame
    design: Design


def generate_raw_survey(
    seed: int | np.random.SeedSequence, analytic: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return the full synthetic raw survey (200,937 rows) for ``seed``.

    ``analytic`` defaults to ``synthesize_analytic`` of the seed's analytic stream.
    """
    return build_survey(seed, analytic).raw


def main(
    seed: int | np.random.SeedSequence,
    out_path: Path,
    manifest: Path | None = None,
    analytic: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Generate the raw survey for ``seed``, write it to ``out_path`` and log its MD5.

    The manifest defaults to ``<root>/outputs/logs/manifest.csv`` of ``out_path``
    (:func:`analysis.io.log_file`); the key is the respondent id. ``analytic``: the
    members already synthesised from the seed (as :func:`generate_raw_survey`).
    Returns the frame.
    """
    raw = generate_raw_survey(seed, analytic)
    label = DATA_LABEL
    if isinstance(seed, int):
        label = f"{DATA_LABEL}, seed {seed}"
    out_path = Path(out_path)
    write_raw_survey(raw, out_path, data_label=label)
    log_file(out_path, [Codebook().column("resp_id")], raw.shape, manifest)
    return raw


def build_survey(
    seed: int | np.random.SeedSequence,
    analytic: pd.DataFrame | None = None,
    codebook: Codebook | None = None,
) -> SurveyBuild:
    """Return the raw survey with its design and the members' ids (see SurveyBuild)."""
    root = (
        seed
        if isinstance(seed, np.random.SeedSequence)
        else np.random.SeedSequence(seed)
    )
    codebook = codebook or Codebook()
    if analytic is None:
        analytic = synthesize_analytic(child(root, STREAM_ANALYTIC))
    analytic = analytic.reset_index(drop=True)
    design = build_design(np.random.default_rng(child(root, STREAM_DESIGN)))
    effects = draw_city_effects(
        design.cities, np.random.default_rng(child(root, STREAM_CITIES))
    )
    slots = design.slots
    member_rng = np.random.default_rng(child(root, STREAM_MEMBERS))
    area = np.where(analytic["urban_area"].to_numpy() == 1, 1, 2)
    loglik = member_loglik(analytic, effects)
    position = place_members(loglik, area, slots, member_rng)
    is_member = np.zeros(len(slots), dtype=bool)
    is_member[position] = True
    member_codes = encode_members(analytic, slots.iloc[position], member_rng)
    population = simulate_population(
        slots.loc[~is_member],
        np.random.default_rng(child(root, STREAM_POPULATION)),
        effects,
        analytic,
        loglik,
    )
    codes = design_codes(design)
    for concept in codebook.variables.index:
        if concept in codes:
            continue
        values = np.empty(len(slots), dtype=np.int64)
        values[position] = member_codes[concept]
        values[~is_member] = population[concept]
        codes[concept] = values
    apply_skips(codes, codebook.variables)
    raw = to_frame(codes, codebook)
    return SurveyBuild(raw, member_frame(analytic, slots, position, codebook), design)


def analytic_seed(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """The stream :func:`build_survey` gives the analytic members for ``seed``.

    Tests of the calibration measure this frame: the one the pipeline ships.
    """
    root = (
        seed
        if isinstance(seed, np.random.SeedSequence)
        else np.random.SeedSequence(seed)
    )
    return child(root, STREAM_ANALYTIC)


def child(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """Return the ``k``-th child of ``seed`` without consuming it (stable spawn key)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (k,))


def design_codes(design: Design) -> dict[str, np.ndarray]:
    """Return the design concepts of every slot."""
    slots = design.slots
    city_name = design.cities["city_name"].to_numpy(dtype=str)
    return {
        "resp_id": slots["syn_id"].to_numpy(),
        "locality_code": locality_codes(slots["locality"].to_numpy()),
        "city_name": city_name[slots["stratum"].to_numpy() - 1],
        "stratum": slots["stratum"].to_numpy(),
        "psu": slots["psu"].to_numpy(),
        "neighbourhood": slots["ssu"].to_numpy(),
        "residence_area": slots["residence_area"].to_numpy(),
    }


def to_frame(codes: dict[str, np.ndarray], codebook: Codebook) -> pd.DataFrame:
    """Return the raw frame: codebook column names, order and Stata-sized dtypes."""
    variables = codebook.variables
    data = {}
    for concept, row in variables.iterrows():
        dtype = STATA_DTYPES.get(row["stata_type"])
        values = codes[concept]
        if dtype:
            data[row["column"]] = values.astype(dtype)
        else:  # object, not pandas' arrow strings: cheaper and what to_stata writes
            data[row["column"]] = pd.Series(values.astype(object), dtype=object)
    return pd.DataFrame(data)


def member_frame(
    analytic: pd.DataFrame,
    slots: pd.DataFrame,
    position: np.ndarray,
    codebook: Codebook,
) -> pd.DataFrame:
    """Return the members with the design ids that the cleaning stage derives."""
    width = len(str(int(float(codebook.variables.at["resp_id", "valid_max"]))))
    chosen = slots.iloc[position]
    out = analytic.copy()
    out.insert(0, "resp_id", [f"{i:0{width}d}" for i in chosen["syn_id"]])
    locality = chosen["locality"].to_numpy()
    out.insert(1, "province", (locality // 10**12).astype(str))
    out.insert(2, "city", (locality // 10**10).astype(str))
    out.insert(3, "stratum", chosen["stratum"].astype(str).to_numpy())
    out.insert(4, "psu", chosen["psu"].astype(str).to_numpy())
    assert set(SCOPE_CODES) >= set(out["scope"])
    return out.sort_values("resp_id", kind="stable").reset_index(drop=True)
