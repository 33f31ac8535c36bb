"""Level names live in data/codebook/levels.csv only: renaming one there is enough.

Each check runs the package in a fresh interpreter twice, once on the shipped
codebook and once on a copy whose levels.csv gives every level a new name, and
compares what the modules that key constants or comparisons by level produce: the
renamed run must give the shipped run's result with each level renamed. A level
name spelled as a literal anywhere on the way keeps its old name (or stops matching)
and breaks the equality.
"""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from shared import renamed_levels, run_with_codebook

from analysis import config, vocabulary
from analysis.paper import published

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


# The published exhibits as the package reads them, every cell as text.
PUBLISHED_PROBE = """
import json
from analysis.paper import published

frames = {name: published.read(name, dtype=str) for name in published.NAMES}
print(json.dumps({
    name: [list(f.columns), f.fillna("").values.tolist()] for name, f in frames.items()
}))
"""


def _probe(codebook, probe: str = PROBE) -> dict:
    return json.loads(run_with_codebook(codebook, probe, config.ROOT))


def _renamed_codebook(tmp_path):
    codebook, _ = renamed_levels(tmp_path, lambda concept, i, level: level + SUFFIX)
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


def _published_digests() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(config.PUBLISHED_DIR.iterdir())
    }


@pytest.fixture(scope="module")
def published_runs(tmp_path_factory):
    before = _published_digests()
    shipped = _probe(config.CODEBOOK_DIR, PUBLISHED_PROBE)
    codebook = _renamed_codebook(tmp_path_factory.mktemp("published"))
    renamed = _probe(codebook, PUBLISHED_PROBE)
    assert _published_digests() == before
    return shipped, renamed


def _renamed_header(column: str, levels: set[str]) -> str:
    """A column named by a level, or by a level and ``_sd`` (Table 2), renamed."""
    stem, sep, tail = column.rpartition("_sd")
    if column in levels:
        return column + SUFFIX
    if sep and not tail and stem in levels:
        return stem + SUFFIX + sep
    return column


@pytest.mark.parametrize("name", published.NAMES)
def test_renaming_levels_renames_the_keys_of_the_published_exhibits(
    published_runs, name
):
    shipped, renamed = published_runs
    levels = {lev for levs in vocabulary.FACTORS.values() for lev in levs}
    columns, rows = shipped[name]
    expected = [[_renamed_header(c, levels) for c in columns], _rename(rows, levels)]
    assert renamed[name] == expected
    # every exhibit but the conflict log (whose cell ids name no factor level) is keyed
    # by level names, so the renamed run must differ from the shipped one
    assert (renamed[name] != shipped[name]) == (name != "inconsistencies")


def _write(directory, name: str, text: str):
    (directory / f"{name}.csv").write_text(text, encoding="utf-8")


def test_an_unknown_label_is_refused_naming_file_column_value_and_rows(tmp_path):
    rows = [
        "ncms,Acros provinces,1",
        "urban,Acros provinces,2",
        "ncms,Across provinces,3",
    ]
    _write(tmp_path, "table4", "\n".join(["sample,term,probit_me", *rows, ""]))
    with pytest.raises(published.UnknownLabelError) as error:
        published.read("table4", directory=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "table4.csv") in message
    assert "column 'term'" in message
    assert "'Acros provinces' is no label of 'scope' (2 rows;" in message


def test_a_level_name_instead_of_its_label_is_refused(tmp_path):
    _write(tmp_path, "figure1", "reason,pct\ngo_back_to_hometown,66.5\n")
    with pytest.raises(published.UnknownLabelError, match="'go_back_to_hometown'"):
        published.read("figure1", directory=tmp_path)


def test_table2_long_file_reads_wide_in_file_order(tmp_path):
    labels = vocabulary.LABELS["scope"]
    scopes = list(vocabulary.FACTORS["scope"])[::-1]
    rows = "".join(
        f"x,mean_sd,{labels[s]},{i}.10,{i}.20,0.5\n" for i, s in enumerate(scopes)
    )
    _write(tmp_path, "table2", "variable,stat,scope,mean,sd,p_value\n" + rows)
    wide = published.read("table2", directory=tmp_path, dtype=str)
    assert list(wide.columns) == [
        "variable",
        "stat",
        *(c for s in scopes for c in (s, f"{s}_sd")),
        "p_value",
    ]
    assert wide.iloc[0].tolist() == [
        "x",
        "mean_sd",
        "0.10",
        "0.20",
        "1.10",
        "1.20",
        "2.10",
        "2.20",
        "0.5",
    ]


def test_table2_with_two_p_values_for_one_variable_is_refused(tmp_path):
    labels = list(vocabulary.LABELS["scope"].values())
    rows = "".join(
        f"x,mean_sd,{lab},1,1,{p}\n" for lab, p in zip(labels, "123", strict=True)
    )
    _write(tmp_path, "table2", "variable,stat,scope,mean,sd,p_value\n" + rows)
    with pytest.raises(ValueError, match="x has 3 p-values"):
        published.read("table2", directory=tmp_path)


def test_conflict_log_cell_ids_spell_levels_by_label(tmp_path):
    scope = vocabulary.FACTORS["scope"][-1]
    label = vocabulary.LABELS["scope"][scope]
    edu = vocabulary.FACTORS["education"][1]
    edu_label = vocabulary.LABELS["education"][edu]
    _write(tmp_path, "table3", f"term_group,term\neducation,{edu_label}\nses,has_job\n")
    ids = (
        f"table4:urban:{label}:probit; table1:age::total;table3:{edu_label}:amount;"
        f"table3:has_job:ratio;table2:reimb_amount:{label};table2:x:p_value"
    )
    _write(tmp_path, "inconsistencies", f'id,unmatched_cells\nC1,"{ids}"\nC2,\n')
    log = published.read("inconsistencies", directory=tmp_path)
    assert log["unmatched_cells"].iloc[0].split() == [
        f"table4:urban:{scope}:probit", "table1:age::total",
        f"table3:{edu}:amount", "table3:has_job:ratio",
        f"table2:reimb_amount:{scope}", "table2:x:p_value",
    ]  # fmt: skip
    assert pd.isna(log["unmatched_cells"].iloc[1])


def test_conflict_log_cell_id_with_a_level_name_is_refused(tmp_path):
    scope = vocabulary.FACTORS["scope"][-1]
    _write(tmp_path, "table3", "term_group,term\nses,has_job\n")
    log = f"id,unmatched_cells\nC1,table4:urban:{scope}:probit\n"
    _write(tmp_path, "inconsistencies", log)
    with pytest.raises(published.UnknownLabelError, match="unmatched_cells"):
        published.read("inconsistencies", directory=tmp_path)
