"""The command line: version, help with defaults, log levels, estimate's own files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import cli


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    version = cli.package_version()
    assert capsys.readouterr().out.strip() == f"python -m analysis {version}"
    assert cli.package_version() != "unknown"  # the package is installed


def test_help_of_a_stage_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bootstrap", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 1)" in out  # --workers
    assert "(default: percentile)" in out


@pytest.mark.parametrize("flags, logged", [([], True), (["-q"], False), (["-v"], True)])
def test_stages_log_what_they_did_and_how_long(flags, logged, tmp_path, capsys):
    assert cli.main([*flags, "--root", str(tmp_path), "summary"]) == 0
    err = capsys.readouterr().err
    assert ("summary: list the run's omissions" in err) is logged
    assert (" s" in err and "done in" in err) is logged
    if flags == ["-v"]:
        assert "DEBUG" in err


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        cli.main(["-q", "-v", "summary"])


@pytest.mark.parametrize(
    "vce, semantics, tag",
    [("oim", "columnwise", ""), ("robust", "columnwise", "robust"),
     ("cluster", "factor", "cluster_factor"), ("oim", "factor", "factor")],
)  # fmt: skip
def test_estimate_tag(vce, semantics, tag):
    assert cli.estimate_tag(vce, semantics) == tag


def test_other_vce_writes_its_own_files(tmp_path, monkeypatch):
    """--vce robust leaves the paper's paper_cells.csv alone."""
    from analysis.paper import estimates

    def fake_main(analytic, estimates_dir: Path, vce, cluster, semantics):
        for stem in cli.ESTIMATE_FILES:
            frame = pd.DataFrame(
                {k: ["x"] for k in estimates.CELL_KEYS}
                | {k: ["x"] for k in estimates.MARGIN_KEYS}
                | {"vce": [vce]}
            )
            frame.to_csv(estimates_dir / f"{stem}.csv", index=False)

    monkeypatch.setattr(estimates, "main", fake_main)
    out = tmp_path / "outputs" / "estimates"
    out.mkdir(parents=True)
    paper = out / "paper_cells.csv"
    paper.write_text("the paper's\n")
    assert cli.main(["--root", str(tmp_path), "estimate", "--vce", "robust"]) == 0
    assert paper.read_text() == "the paper's\n"
    for stem in cli.ESTIMATE_FILES:
        written = pd.read_csv(out / f"{stem}_robust.csv")
        assert written["vce"].tolist() == ["robust"]
    manifest = pd.read_csv(tmp_path / "outputs" / "logs" / "manifest.csv")
    assert "outputs/estimates/paper_cells_robust.csv" in set(manifest["path"])
    assert not (tmp_path / "outputs" / "logs" / "omissions.csv").exists()
