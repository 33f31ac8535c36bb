"""The estimate stage model by model: what is not estimable is named, the rest fitted.

Each case damages the analytic sample of the provided survey the way a real file can
(an empty or invariant subsample, a regressor that predicts reimbursement perfectly
in one subsample or everywhere, a continuous regressor that separates, a sample too
small for any model) and runs ``estimate`` then ``exhibits`` and ``report`` through
the CLI. Cells of models that are unaffected must equal the baseline's exactly; the
affected cells must say why in Tables 3-4, the report and the run's summary.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import cli, omissions
from analysis.cleaning.clean import clean_survey, read_raw
from analysis.config import ROOT, SYNTHETIC, RunPaths
from analysis.paper import estimates, models

URBAN = ("URBMI", "UEBMI")


@pytest.fixture(scope="module")
def analytic() -> pd.DataFrame:
    """The analytic sample of the provided synthetic survey."""
    return clean_survey(read_raw(SYNTHETIC.raw_survey)).analytic


@pytest.fixture(scope="module")
def baseline(analytic, tmp_path_factory) -> RunPaths:
    """The estimate stage on the undamaged sample."""
    return run(tmp_path_factory.mktemp("baseline"), analytic)


def run(root: Path, frame: pd.DataFrame, *stages: str) -> RunPaths:
    """Write ``frame`` as the run's analytic sample; run estimate and ``stages``."""
    paths = RunPaths(root)
    paths.derived_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(paths.analytic, index=False)
    paths.tables_dir.mkdir(parents=True, exist_ok=True)
    for name in ("table1.csv", "table2.csv", "sample_flow.csv"):  # for the report
        shutil.copy(ROOT / "outputs" / "tables" / name, paths.tables_dir / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stage in ("estimate", *stages):
            assert cli.main(["--root", str(root), stage]) == 0, stage
    return paths


def status(paths: RunPaths) -> pd.DataFrame:
    """model_status.csv of a run."""
    return omissions.model_status(paths.estimates_dir)


def cells(paths: RunPaths, sample: str) -> pd.DataFrame:
    """paper_cells.csv rows of one sample."""
    table = pd.read_csv(paths.estimates_dir / "paper_cells.csv")
    return table[table["sample"] == sample].reset_index(drop=True)


def column_status(paths: RunPaths, sample: str) -> set[str]:
    """Statuses of the three published columns of ``sample``."""
    s = status(paths)
    return set(s.loc[(s["sample"] == sample) & (s["term"] == ""), "status"])


def test_shipped_data_every_column_estimated_same_cells_as_fit_all(analytic, baseline):
    s = status(baseline)
    assert set(s["status"]) == {"estimated"} and len(s) == 9
    plain = estimates.paper_cells(estimates.fit_all(analytic))
    ours = pd.read_csv(baseline.estimates_dir / "paper_cells.csv")
    theirs = plain.sort_values(list(estimates.CELL_KEYS)).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)
    assert omissions.omitted(omissions.read(baseline.logs_dir)).empty


def test_empty_urban_subsample_others_fitted(analytic, baseline, tmp_path, capsys):
    frame = analytic[~analytic["scheme"].isin(URBAN)].reset_index(drop=True)
    paths = run(tmp_path, frame, "exhibits", "report")
    assert column_status(paths, "urban") == {"not estimable"}
    assert (
        column_status(paths, "ncms") == column_status(paths, "total") == {"estimated"}
    )
    pd.testing.assert_frame_equal(cells(paths, "ncms"), cells(baseline, "ncms"))
    s = status(paths)
    reason = s.loc[(s["sample"] == "urban") & (s["term"] == ""), "reason"]
    assert reason.str.contains("URBMI+UEBMI", regex=False).all()
    # rural_hukou is 1 for every NCMS respondent: omitted as collinear, not an error
    hukou = s[(s["sample"] == "total") & (s["term"] == "rural_hukou")]
    assert set(hukou["status"]) == {"omitted"} and len(hukou) == 3
    t4 = pd.read_csv(paths.tables_dir / "table4.csv", dtype=str, keep_default_na=False)
    urban = t4[t4["sample"] == "urban"]
    assert (urban["probit_me"] == "not estimable (empty subsample)").all()
    assert (urban["amount_se"] == "").all()
    assert t4.loc[t4["sample"] == "ncms", "probit_me"].str.match(r"-?\d").all()
    md = (paths.tables_dir / "table4.md").read_text()
    assert "not estimable (empty subsample)" in md
    report = (paths.outputs_dir / "replication_report.md").read_text()
    assert "## Not estimated" in report and "no respondent" in report
    verdicts = pd.read_csv(paths.tables_dir / "replication_verdicts.csv")
    urban_v = verdicts[verdicts["sample"] == "urban"]["verdict"]
    assert (urban_v == "not estimable (empty subsample)").all()
    assert cli.main(["--root", str(tmp_path), "summary"]) == 0
    assert cli.main(["--root", str(tmp_path), "summary", "--strict"]) == 4
    out = capsys.readouterr().out
    assert "omission(s)" in out and "Table 4 probit column (urban sample)" in out


def test_separation_only_in_urban_subsample(analytic, baseline, tmp_path):
    frame = analytic.copy()
    hit = frame["scheme"].isin(URBAN) & (frame["facility_level"] == "private")
    assert 0 < frame.loc[hit, "reimbursed"].sum() < hit.sum()
    frame.loc[hit, "reimbursed"] = 1  # reimbursed without a usable amount: part 1 only
    paths = run(tmp_path, frame, "exhibits")
    pd.testing.assert_frame_equal(cells(paths, "ncms"), cells(baseline, "ncms"))
    for sample in ("total", "ncms", "urban"):
        assert column_status(paths, sample) == {"estimated"}
    s = status(paths)
    (row,) = s[(s["status"] == "omitted")].itertuples(index=False)
    assert (row.sample, row.equation, row.term) == ("urban", "probit", "private")
    assert int(row.n) == int(hit.sum())
    assert "facility_level__private" in row.reason and "predicts success" in row.reason
    urban = cells(paths, "urban")
    assert "private" not in set(urban.loc[urban["equation"] == "probit", "term"])
    assert urban["estimate"].notna().all()
    t4 = pd.read_csv(paths.tables_dir / "table4.csv", dtype=str, keep_default_na=False)
    assert t4["probit_me"].str.match(r"-?\d").all()  # private is not a Table 4 row


def test_regressor_predicting_failure_everywhere(analytic, tmp_path):
    frame = analytic.copy()
    hit = frame["education"] == "college_or_above"
    frame.loc[hit, ["reimbursed", "in_part2"]] = 0
    frame.loc[hit, ["reimb_amount", "reimb_ratio"]] = np.nan
    paths = run(tmp_path, frame, "exhibits")
    s = status(paths)
    probit = s[(s["sample"] == "total") & (s["equation"] == "probit")
               & (s["term"] == "college_or_above")]  # fmt: skip
    assert probit["status"].item() == "omitted"
    assert int(probit["n"].item()) == int(hit.sum())
    t3 = pd.read_csv(paths.tables_dir / "table3.csv", dtype=str, keep_default_na=False)
    row = t3[t3["term"] == "college_or_above"].iloc[0]
    assert row["probit_me"] == "omitted (predicts failure perfectly)"
    assert row["amount_me"] == "omitted (constant)" and row["amount_se"] == ""
    others = t3[(t3["term"] != "college_or_above") & (t3["term_group"] != "n")]
    assert others["probit_me"].str.match(r"-?\d").all()


def test_continuous_separation_not_estimable_named(analytic, baseline, tmp_path):
    frame = analytic.copy()
    urban = frame["scheme"].isin(URBAN)
    frame.loc[urban, "reimbursed"] = (frame.loc[urban, "age"] > 40).astype("int8")
    frame.loc[urban & (frame["reimbursed"] == 0), ["in_part2"]] = 0
    frame.loc[frame["in_part2"] == 0, ["reimb_amount", "reimb_ratio"]] = np.nan
    paths = run(tmp_path, frame, "exhibits")
    assert column_status(paths, "urban") == {"not estimable"}
    s = status(paths)
    reason = s.loc[(s["sample"] == "urban") & (s["term"] == ""), "reason"].iloc[0]
    assert reason.startswith("perfect prediction") and "age" in reason
    pd.testing.assert_frame_equal(cells(paths, "ncms"), cells(baseline, "ncms"))
    assert column_status(paths, "total") == {"estimated"}


@pytest.mark.parametrize(
    "damage, kind",
    [
        (lambda f: f.head(20), "too few cases"),
        (
            lambda f: f.assign(
                reimbursed=np.int8(0),
                in_part2=np.int8(0),
                reimb_amount=np.nan,
                reimb_ratio=np.nan,
            ),
            "outcome does not vary",
        ),
    ],
)
def test_nothing_estimable_tables_still_written(analytic, tmp_path, damage, kind):
    paths = run(tmp_path, damage(analytic.copy()).reset_index(drop=True), "exhibits")
    assert set(status(paths)["status"]) == {"not estimable"}
    t3 = pd.read_csv(paths.tables_dir / "table3.csv", dtype=str, keep_default_na=False)
    assert (t3["probit_me"] == f"not estimable ({kind})").all()
    assert (paths.tables_dir / "table3.md").exists()
    log = omissions.omitted(omissions.read(paths.logs_dir))
    fits = log[log["stage"] == "estimate"]
    assert len(fits) == 9 and fits["reason"].str.contains(kind).all()
    # whatever else could not be drawn is logged too, never silently missing
    figure = paths.figures_dir / "figure2_hometown_by_scope.png"
    assert figure.exists() or (log["stage"] == "exhibits").any()


def test_a_bug_is_not_reported_as_not_estimable(analytic, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(models, "twopm", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        estimates.fit_each(analytic)
