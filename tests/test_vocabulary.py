"""Level names live in data/codebook/levels.csv only: renaming one there is enough.

Each check runs the package in a fresh interpreter twice, once on the shipped
codebook and once on a copy whose levels.csv gives every level a new name, and
compares what the modules that key constants or comparisons by level produce: the
renamed run must give the shipped run's result with each level renamed. A level
name spelled as a literal anywhere on the way keeps its old name (or stops matching)
and breaks the equality.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest

from analysis import config, vocabulary

SUFFIX = "_renamed"
KEYS = (
    "subsamples", "contrasts", "reason_by_scope", "part2_by_scope", "ratio_mean_tilt",
    "scope_terms", "drop", "scheme_priority", "resolved", "forest_terms", "hometown",
    "combined_terms", "toy", "scenarios", "scheme_codes", "education_codes",
    "reason_codes",
)  # fmt: skip

# Runs in the child interpreter, after analysis.config.CODEBOOK_DIR has been pointed
# at the codebook under test; prints one JSON object of everything compared.
PROBE = """
import json
import numpy as np
import pandas as pd
from analysis.cleaning import flow, schema
from analysis.exhibits import figures, report
from analysis.inference.bootstrap import synthetic
from analysis.beyond import counterfactuals
from analysis.synth import encode, resolutions
from analysis.synth.calibration import cells, money_moments
from analysis.vocabulary import FACTORS

def listed(d):
    return [[k, v] for k, v in d.items()]

scope, reason = FACTORS["scope"], FACTORS["noreimb_reason"]
reasons = pd.DataFrame({
    "scope": [scope[i % 3] for i in range(24)],
    "reimbursed": [0] * 24,
    "noreimb_reason": [reason[(i // 3) % 4] for i in range(24)],
})
enrolment = pd.DataFrame(
    [[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)],
    columns=list(flow.SCHEME_CONCEPTS.values()),
)
toy = synthetic.toy_analytic(200, np.random.default_rng(7), n_strata=10)
education = np.array(FACTORS["education"], dtype=object)
reasons_in = np.array(FACTORS["reason"], dtype=object)
print(json.dumps({
    "subsamples": listed(schema.SUBSAMPLES),
    "contrasts": schema.contrast_levels("scheme", "scope"),
    "reason_by_scope": listed(resolutions.REASON_BY_SCOPE),
    "part2_by_scope": listed(resolutions.PART2_BY_SCOPE),
    "ratio_mean_tilt": listed(money_moments.RATIO_MEAN_TILT),
    "scope_terms": cells.SCOPE_TERMS,
    "drop": listed(cells.DROP),
    "scheme_priority": flow.SCHEME_PRIORITY,
    "resolved": flow.resolve_scheme(enrolment).fillna("").tolist(),
    "forest_terms": sorted(figures.FOREST_TERMS),
    "hometown": figures.hometown_by_scope(reasons).astype(str).values.tolist(),
    "combined_terms": report.COMBINED_TERMS,
    "toy": toy.astype(str).values.tolist(),
    "scenarios": [
        [c.name, listed(c.part1), listed(c.part2), list(c.applies_to or ())]
        for c in counterfactuals.SCENARIOS
    ],
    "scheme_codes": listed(encode.SCHEME_CODES),
    "education_codes": [
        [level, int(code)] for level, code in zip(
            education, encode.education_codes(education, np.random.default_rng(1))
        )
    ],
    "reason_codes": [
        [level, int(code)] for level, code in zip(
            reasons_in,
            encode.reason_codes(
                reasons_in, np.zeros(len(reasons_in), bool), np.random.default_rng(1)
            ),
        )
    ],
}))
"""


def _probe(codebook) -> dict:
    script = (
        "import analysis.config as c, pathlib\n"
        f"c.CODEBOOK_DIR = pathlib.Path({str(codebook)!r})\n" + PROBE
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=config.ROOT,
        check=True,
    )
    return json.loads(done.stdout)


def _renamed_codebook(tmp_path):
    codebook = tmp_path / "codebook"
    shutil.copytree(config.CODEBOOK_DIR, codebook)
    with open(vocabulary.LEVELS_FILE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(codebook / "levels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "level": r["level"] + SUFFIX} for r in rows)
    return codebook


def _rename(value, levels):
    """``value`` with each level (alone or in a term ``factor:level``) renamed."""
    if isinstance(value, list):
        return [_rename(v, levels) for v in value]
    if isinstance(value, dict):
        return {k: _rename(v, levels) for k, v in value.items()}
    if isinstance(value, str):
        head, sep, tail = value.rpartition(":")
        if tail in levels and (not sep or head in vocabulary.FACTORS):
            return head + sep + tail + SUFFIX
    return value


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    shipped = _probe(config.CODEBOOK_DIR)
    renamed = _probe(_renamed_codebook(tmp_path_factory.mktemp("vocabulary")))
    return shipped, renamed


def test_the_probe_sees_level_names(runs):
    # Guards the comparison below against comparing nothing: every entry of the
    # shipped run holds at least one level name.
    shipped, renamed = runs
    assert tuple(shipped) == KEYS
    levels = {lev for levs in vocabulary.FACTORS.values() for lev in levs}
    for key, value in shipped.items():
        assert _rename(value, levels) != value, key
        assert renamed[key] != value, key


@pytest.mark.parametrize("key", KEYS)
def test_renaming_levels_in_levels_csv_renames_them_everywhere(runs, key):
    shipped, renamed = runs
    levels = {lev for levs in vocabulary.FACTORS.values() for lev in levs}
    assert renamed[key] == _rename(shipped[key], levels)
