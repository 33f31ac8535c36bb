"""The conventions stage: end to end, relabelled, with a known truth, on bad input.

The synthetic run cleans the provided survey once (module fixture) and runs the stage
through the CLI with one resampling draw; the relabelled run cleans a renamed and
recoded copy of the same survey (the machinery of ``test_real_data_swap.py``) and must
rank the readings the same way. The known-truth tests replace the published numbers by
the numbers of one reading on the synthetic sample, printed at 3 decimals as the paper
does: that reading must come first. Comparisons are run to run, never to fixed numbers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import cli, notices
from analysis.beyond import conventions
from analysis.cleaning.clean import read_raw
from analysis.cleaning.codebook import Codebook
from analysis.config import ROOT, RunPaths
from tests.test_real_data_swap import (
    provider_frame,
    write_provider_codebook,
    write_provider_file,
)

PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"
RANKING = ["ame", "se_type", "participation", "rank", "distance"]


def run_cli(root: Path, *args: str) -> int:
    """One CLI stage in-process, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cli.main(["-q", "--root", str(root), *args])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> RunPaths:
    """The provided survey cleaned, then the stage run with one resampling draw."""
    root = tmp_path_factory.mktemp("conventions")
    assert run_cli(root, "clean", "--raw", str(PROVIDED)) == 0
    args = ["--raw", str(PROVIDED), "--reps", "1"]
    assert run_cli(root, "conventions", *args) == 0
    return RunPaths(root)


@pytest.fixture(scope="module")
def analytic(synthetic) -> pd.DataFrame:
    """The cleaned synthetic sample, origin province joined from the raw file."""
    origin, _ = conventions.origin_provinces(PROVIDED, Codebook())
    return conventions.with_origin(pd.read_parquet(synthetic.analytic), origin)


def read_table(run: RunPaths) -> pd.DataFrame:
    return pd.read_csv(run.outputs_dir / "conventions" / "conventions.csv")


def test_synthetic_run_ranks_every_reading_and_says_it_is_synthetic(synthetic):
    table = read_table(synthetic)
    n = len(conventions.AMES) * len(conventions.SE_TYPES) * 2
    assert len(table) == n
    assert (table["status"] == "ranked").all()
    assert sorted(table["rank"]) == sorted(
        table["distance"].rank(method="min").tolist()
    )
    assert table["share_first"].sum() == pytest.approx(1.0)
    assert (table["draws"] == 1).all()
    # within a block the SE types compete among themselves: one first per block
    blocks = table.groupby(["ame", "participation"])["share_first_se_in_block"].sum()
    assert np.allclose(blocks, 1.0)
    assert (table[notices.CSV_COLUMN] == notices.CSV).all()
    cells = pd.read_csv(synthetic.outputs_dir / "conventions" / "conventions_cells.csv")
    assert (cells[notices.CSV_COLUMN] == notices.CSV).all()
    assert set(cells.groupby(list(conventions.READING_KEYS)).size()) == {
        int(table["cells"].max())
    }
    text = (synthetic.outputs_dir / "conventions" / "conventions.md").read_text()
    head = text.split("\n| rank")[0]
    assert "Synthetic data" in head and "mechanics only" in head
    assert "resi_place_1" in head  # the origin province came from the raw file


def test_relabelled_file_gives_the_same_ranking(synthetic, tmp_path):
    codebook = write_provider_codebook(tmp_path / "codebook")
    frame = provider_frame(read_raw(PROVIDED))
    raw = write_provider_file(frame, tmp_path / "provider.dta")
    root = tmp_path / "run"
    cb = ["--codebook", str(codebook.directory)]
    assert run_cli(root, "clean", "--raw", str(raw), *cb) == 0
    assert run_cli(root, "conventions", "--raw", str(raw), *cb, "--reps", "0") == 0
    ours, theirs = read_table(RunPaths(root)), read_table(synthetic)
    pd.testing.assert_frame_equal(ours[RANKING], theirs[RANKING])
    text = (RunPaths(root).outputs_dir / "conventions" / "conventions.md").read_text()
    assert "v_hukou_province" in text  # read through the provider's codebook


def published_from(cells: pd.DataFrame) -> pd.DataFrame:
    """The published layout filled with one reading's numbers, printed at 3 decimals."""
    keys = ["sample", "equation", "term"]
    layout = conventions.published_cells()[keys]
    ours = cells[[*keys, "estimate", "se"]].rename(
        columns={"estimate": "published", "se": "published_se"}
    )
    out = layout.merge(ours, on=keys, how="inner")
    return out.assign(
        published=out["published"].round(3), published_se=out["published_se"].round(3)
    )


@pytest.mark.parametrize(
    "truth",
    [
        conventions.Reading("discrete", "cluster_city", "amount"),
        conventions.Reading("derivative", "robust", "any"),
    ],
    ids=lambda r: "/".join(r.key),
)
def test_the_reading_that_made_the_numbers_ranks_first(analytic, truth):
    options = conventions.design(analytic).options[truth.se]
    cells, _ = conventions.fit_reading(analytic, truth, options)
    published = published_from(cells)
    # every AME and SE reading at the truth's participation (the full grid doubles
    # the test's runtime)
    readings = conventions.grid(participations=(truth.participation,))
    table, _ = conventions.run(analytic, readings=readings, published=published)
    first = table.iloc[0]
    assert (first["ame"], first["se_type"], first["participation"]) == truth.key
    assert table["rank"].iloc[1] == 2  # no tie with a rival reading
    # printed at 3 decimals, the truth reproduces every number
    assert first["exact_points"] == first["cells"]
    assert first["cells"] == (published["published_se"] > 0).sum()
    assert first["exact_ses"] == first["cells"]


def test_missing_cluster_columns_skip_their_readings_with_a_note(analytic):
    broken = analytic.drop(columns=["city", "origin_province", "psu"])
    readings = conventions.grid(ames=("derivative",), participations=("any",))
    table, _ = conventions.run(broken, readings=readings)
    status = table.set_index("se_type")["status"]
    assert status["oim"] == "ranked"
    notes = table.set_index("se_type")["note"]
    for se, column in (("cluster_city", "city"),
                       ("cluster_origin_province", "origin_province"),
                       ("survey", "psu")):  # fmt: skip
        assert status[se] == "skipped"
        assert f"column {column!r} is not in the analytic file" in notes[se]
    assert table.loc[table["status"] == "skipped", "rank"].isna().all()


def test_cluster_column_with_gaps_is_skipped_not_shortened(analytic):
    gappy = analytic.assign(city=analytic["city"].where(analytic.index % 50 != 0))
    readings = conventions.grid(
        ames=("derivative",), se_types=("cluster_city",), participations=("any",)
    )
    table, _ = conventions.run(gappy, readings=readings)
    missing = int(gappy["city"].isna().sum())
    assert table.loc[0, "status"] == "skipped"
    assert f"missing on {missing} of {len(gappy)} rows" in table.loc[0, "note"]


def test_origin_province_without_a_raw_file_is_noted(tmp_path):
    origin, note = conventions.origin_provinces(tmp_path / "absent.dta", Codebook())
    assert origin is None and "absent.dta" in note and "not found" in note


def test_participation_amount_counts_the_positive_amounts(analytic):
    amount = conventions.with_participation(analytic, "amount")
    assert amount["reimbursed"].sum() == (analytic["reimb_amount"] > 0).sum()
    assert amount["reimbursed"].sum() < analytic["reimbursed"].sum()
    assert conventions.with_participation(analytic, "any") is analytic


def test_unknown_reading_is_refused():
    with pytest.raises(ValueError, match="unknown se reading"):
        conventions.grid(se_types=("bootstrap",))


def test_cli_refuses_a_missing_or_unusable_analytic_file(tmp_path, capsys):
    assert run_cli(tmp_path, "conventions", "--reps", "0") == cli.EXIT_INVALID_DATA
    assert "analytic.parquet not found" in capsys.readouterr().err
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"resp_id": ["1", "2"], "reimbursed": [0, 1]}).to_parquet(bad)
    args = ["conventions", "--analytic", str(bad), "--reps", "0"]
    assert run_cli(tmp_path, *args) == cli.EXIT_INVALID_DATA
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "'scheme'" in err and "2 rows" in err
    assert "Traceback" not in err
