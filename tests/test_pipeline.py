"""End-to-end: the Make pipeline's stages from the provided survey into fresh roots.

Checks what a replicator relies on: the provided synthetic survey is the checksummed
one; every committed output (the tables under ``outputs/tables`` and the report) is
byte for byte what the code writes from it, both here and under other numerical
conditions that a replicator's machine may have (another OpenBLAS kernel, one
thread, numpy's wide SIMD paths switched off); the sample flow runs from 200,937
respondents to 1,165; Tables 1-2 match the publication cell by cell at the published
rounding, except the conflicts logged in ``data/published/inconsistencies.csv``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from numerics import HASWELL_TWO_THREADS, OTHER_NUMERICS
from shared import renamed_levels, run_with_codebook

from analysis import notices
from analysis.config import ROOT, RunPaths
from analysis.paper import published as published_tables

PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"
STAGES = (
    ["clean", "--raw", str(PROVIDED)],
    ["describe"],
    ["estimate"],
    ["exhibits"],
    ["beyond"],
    ["report"],
)


def run_pipeline(root: Path, env: dict[str, str] | None = None) -> RunPaths:
    for stage in STAGES:
        subprocess.run(
            [sys.executable, "-m", "analysis", "--root", str(root), *stage],
            check=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    return RunPaths(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, RunPaths]:
    return {
        "here": run_pipeline(tmp_path_factory.mktemp("here")),
        "other numerics": run_pipeline(
            tmp_path_factory.mktemp("other"), OTHER_NUMERICS
        ),
    }


def output_files(outputs: Path) -> list[Path]:
    """The tables and the report under ``outputs``, relative to it."""
    files = sorted((outputs / "tables").glob("*")) + sorted(
        outputs.glob("replication_report.*")
    )
    return [p.relative_to(outputs) for p in files]


def test_renamed_levels_write_the_same_tables(tmp_path):
    # Renaming every level in levels.csv (and nothing else) changes the tables'
    # level names and nothing more: no number, no order, no cell.
    codebook, back = renamed_levels(tmp_path)
    root = tmp_path / "run"
    run_with_codebook(
        codebook,
        "from analysis import cli\n"
        f"for stage in {[list(s) for s in STAGES]!r}:\n"
        f"    assert cli.main(['-q', '--root', {str(root)!r}, *stage]) == 0\n",
        ROOT,
    )
    committed = ROOT / "outputs"
    tables = [p for p in output_files(committed) if p.suffix == ".csv"]
    assert tables
    for rel in tables:
        text = (root / "outputs" / rel).read_text(encoding="utf-8")
        for new, old in back.items():
            text = text.replace(new, old)
        assert text == (committed / rel).read_text(encoding="utf-8"), rel


def test_provided_survey_is_the_checksummed_file():
    line = (PROVIDED.parent / "SHA256SUMS").read_text().split()
    assert line[1] == PROVIDED.name
    assert hashlib.sha256(PROVIDED.read_bytes()).hexdigest() == line[0]


def numerics(env: dict[str, str]) -> dict:
    """numpy's wide SIMD dispatch and every OpenBLAS's kernel and threads under env."""
    probe = (
        "import json, numpy, scipy.linalg, threadpoolctl;"
        "from numpy._core._multiarray_umath import __cpu_features__ as f;"
        "blas = [(b['architecture'], b['num_threads'])"
        " for b in threadpoolctl.threadpool_info() if b['internal_api'] == 'openblas'];"
        "print(json.dumps({'x86_v3': f.get('X86_V3', False), 'blas': blas}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_other_numerics_are_in_force():
    # The variation must reach the process: numpy reports its dispatch, and
    # threadpoolctl each OpenBLAS (numpy's and scipy's) with its kernel and threads.
    # The kernel is compared with another one set the same way, not with this
    # process's: a machine (or a run) may already be under these numerics.
    other, haswell = numerics(OTHER_NUMERICS), numerics(HASWELL_TWO_THREADS)
    assert other["blas"], "no OpenBLAS found"
    assert not other["x86_v3"]
    assert all(threads == 1 for _, threads in other["blas"])
    kernels = {kernel for kernel, _ in other["blas"]}
    assert kernels.isdisjoint(kernel for kernel, _ in haswell["blas"])


@pytest.mark.parametrize("run", ["here", "other numerics"])
def test_committed_outputs_are_what_the_code_writes(runs, run):
    outputs = runs[run].root / "outputs"
    names = output_files(ROOT / "outputs")
    assert names, "nothing committed under outputs/"
    assert output_files(outputs) == names, "other files than those committed"
    changed = [
        str(name)
        for name in names
        if (ROOT / "outputs" / name).read_bytes() != (outputs / name).read_bytes()
    ]
    assert not changed, f"{run}: {changed} differ from the committed files"


def test_every_csv_table_carries_the_synthetic_notice(runs):
    """Each row of every CSV under outputs/tables says the data are synthetic."""
    files = sorted(runs["here"].tables_dir.glob("*.csv"))
    assert len(files) >= 15
    for path in files:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert table.columns[-1] == notices.CSV_COLUMN, path.name
        assert (table[notices.CSV_COLUMN] == notices.CSV).all(), path.name


def test_flow_runs_from_all_respondents_to_the_analytic_sample(runs):
    flow = pd.read_csv(runs["here"].tables_dir / "sample_flow.csv")
    assert flow["n_before"].iloc[0] == 200_937
    assert flow["n_after"].iloc[-1] == 1_165
    assert flow["n_removed"].sum() == 200_937 - 1_165
    assert (flow["n_before"] - flow["n_removed"] == flow["n_after"]).all()


def unmatched_cells() -> set[str]:
    log = published_tables.read("inconsistencies")
    return {c for text in log["unmatched_cells"].dropna() for c in str(text).split()}


def cell_key(table: str, row) -> str:
    if table == "table1":
        level = "" if pd.isna(row.level) else row.level
        return f"table1:{row.variable}:{level}:{row.column.removesuffix('_spread')}"
    return f"table2:{row.variable}:{row.column.removesuffix('_sd')}"


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_descriptive_tables_match_the_publication(runs, table):
    from analysis.paper.descriptives import compare_to_published

    ours = pd.read_csv(runs["here"].tables_dir / f"{table}.csv", dtype=str)
    published = published_tables.read(table, dtype=str)
    cmp = compare_to_published(ours, published)
    skip = unmatched_cells()
    keys = [cell_key(table, r) for r in cmp.itertuples()]
    misses = cmp[
        [not m and k not in skip for m, k in zip(cmp["match"], keys, strict=True)]
    ]
    assert misses.empty, misses.to_string()
    assert len(cmp) == (192 if table == "table1" else 28)  # every published cell


@pytest.mark.parametrize("table", ["table3", "table4"])
def test_model_tables_fill_every_published_cell(runs, table):
    ours = pd.read_csv(runs["here"].tables_dir / f"{table}.csv", dtype=str)
    published = published_tables.read(table, dtype=str)
    assert list(ours.columns) == [*published.columns, notices.CSV_COLUMN]
    key = ["term_group", "term"] if table == "table3" else ["sample", "term"]
    assert ours[key].values.tolist() == published[key].values.tolist()
    estimates = [c for c in ours.columns if c.endswith(("_me", "_se"))]
    filled = ours[estimates].notna() == published[estimates].notna()
    assert filled.all().all(), ours[~filled.all(axis=1)].to_string()
