"""The labelled .dta and the data dictionary of the analytic sample."""

from __future__ import annotations

import pandas as pd
from test_descriptives import fake_analytic

from analysis import io, vocabulary
from analysis.cleaning import dictionary, schema


def test_dta_round_trips_with_the_vocabulary_labels(tmp_path):
    analytic = fake_analytic()
    path = dictionary.write_dta(analytic, tmp_path / "analytic.dta")
    back = pd.read_stata(path)
    for factor in vocabulary.FACTORS:
        if factor not in analytic:
            continue
        expected = (
            analytic[factor]
            .astype(object)
            .map(
                lambda lv, f=factor: (
                    vocabulary.label(f, lv) if isinstance(lv, str) else lv
                )
            )
        )
        got = back[factor].astype(object).where(back[factor].notna(), None)
        assert list(got.fillna("<NA>")) == list(expected.fillna("<NA>")), factor
    codes = pd.read_stata(path, convert_categoricals=False)
    assert set(codes["scope"].dropna()) <= {1, 2, 3}
    reader = pd.io.stata.StataReader(path)
    labels = reader.variable_labels()
    assert labels["reimb_ratio"] == schema.DESCRIPTIONS["reimb_ratio"]
    assert "synthetic" in reader.data_label


def test_dta_bytes_follow_the_data_only(tmp_path):
    analytic = fake_analytic()
    a = dictionary.write_dta(analytic, tmp_path / "a.dta")
    b = dictionary.write_dta(analytic, tmp_path / "b.dta")
    assert io.md5(a) == io.md5(b)


def test_dictionary_lists_every_column_once_with_its_codes():
    analytic = fake_analytic()
    table = dictionary.dictionary(analytic)
    assert list(table["column"]) == list(analytic.columns)
    scope = table.set_index("column").loc["scope", "values"]
    assert scope.startswith("1 = Across counties within a city")
    assert "reference" in scope
    assert "reference" not in table.set_index("column").loc["noreimb_reason", "values"]
