"""End-to-end: the Make pipeline's stages, run twice from the seed into fresh roots.

Checks what a replicator relies on: byte-identical outputs for the same seed, the
sample flow from 200,937 respondents to 1,165, Tables 1-2 against the publication
(cell by cell, at the published rounding, except the conflicts logged in
``data/published/inconsistencies.csv``), and that the committed tables under
``outputs/tables`` are what the code produces now (no drift).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import MASTER_SEED, ROOT, RunPaths

STAGES = (
    ["generate", "--seed", str(MASTER_SEED)],
    ["clean"],
    ["describe"],
    ["estimate"],
    ["exhibits"],
    ["beyond"],
    ["report"],
)


def run_pipeline(root: Path) -> RunPaths:
    for stage in STAGES:
        subprocess.run(
            [sys.executable, "-m", "analysis", "--root", str(root), *stage],
            check=True,
            cwd=ROOT,
        )
    return RunPaths(root)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[RunPaths, RunPaths]:
    return (
        run_pipeline(tmp_path_factory.mktemp("run1")),
        run_pipeline(tmp_path_factory.mktemp("run2")),
    )


def produced_files(paths: RunPaths) -> list[Path]:
    files = [paths.raw_survey, paths.analytic]
    files += sorted(paths.tables_dir.glob("*"))
    return files


def test_same_seed_gives_byte_identical_files(runs):
    first, second = runs
    names = [p.relative_to(first.root) for p in produced_files(first)]
    assert names == [p.relative_to(second.root) for p in produced_files(second)]
    for name in names:
        assert (first.root / name).read_bytes() == (second.root / name).read_bytes(), (
            name
        )


def test_flow_runs_from_all_respondents_to_the_analytic_sample(runs):
    flow = pd.read_csv(runs[0].tables_dir / "sample_flow.csv")
    assert flow["n_before"].iloc[0] == 200_937
    assert flow["n_after"].iloc[-1] == 1_165
    assert flow["n_removed"].sum() == 200_937 - 1_165
    assert (flow["n_before"] - flow["n_removed"] == flow["n_after"]).all()


def test_committed_tables_match_the_code(runs):
    # Byte identity is checked between two runs above; against the committed files a
    # CSV may differ only in the last bits of a float (another BLAS build's summation
    # order), so numbers are compared to 1e-9 relative and text exactly.
    committed = ROOT / "outputs" / "tables"
    for path in sorted(runs[0].tables_dir.glob("*")):
        mine = committed / path.name
        assert mine.exists(), f"{mine} is not committed: run `make reproduce`"
        if path.suffix == ".csv":
            assert_same_table(pd.read_csv(mine), pd.read_csv(path), mine)
        else:
            assert mine.read_bytes() == path.read_bytes(), (
                f"{mine} differs from what the code writes now: run `make reproduce`"
            )


def assert_same_table(committed: pd.DataFrame, fresh: pd.DataFrame, name) -> None:
    hint = f"{name} differs from what the code writes now: run `make reproduce`"
    assert list(committed.columns) == list(fresh.columns), hint
    assert committed.shape == fresh.shape, hint
    for column in committed.columns:
        a, b = committed[column], fresh[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), (
                f"{hint} (column {column})"
            )
        else:
            assert a.fillna("").astype(str).equals(b.fillna("").astype(str)), (
                f"{hint} (column {column})"
            )


def unmatched_cells() -> set[str]:
    log = pd.read_csv(ROOT / "data" / "published" / "inconsistencies.csv")
    return {c for text in log["unmatched_cells"].dropna() for c in str(text).split()}


def cell_key(table: str, row) -> str:
    if table == "table1":
        level = "" if pd.isna(row.level) else row.level
        return f"table1:{row.variable}:{level}:{row.column.removesuffix('_spread')}"
    return f"table2:{row.variable}:{row.column.removesuffix('_sd')}"


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_descriptive_tables_match_the_publication(runs, table):
    from analysis.descriptives import compare_to_published

    ours = pd.read_csv(runs[0].tables_dir / f"{table}.csv", dtype=str)
    published = pd.read_csv(ROOT / "data" / "published" / f"{table}.csv", dtype=str)
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
    ours = pd.read_csv(runs[0].tables_dir / f"{table}.csv", dtype=str)
    published = pd.read_csv(ROOT / "data" / "published" / f"{table}.csv", dtype=str)
    assert list(ours.columns) == list(published.columns)
    key = ["term_group", "term"] if table == "table3" else ["sample", "term"]
    assert ours[key].values.tolist() == published[key].values.tolist()
    estimates = [c for c in ours.columns if c.endswith(("_me", "_se"))]
    filled = ours[estimates].notna() == published[estimates].notna()
    assert filled.all().all(), ours[~filled.all(axis=1)].to_string()
