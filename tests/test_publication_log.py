"""The arithmetic of the publication log (C09, C13, C15 in docs/model_choices.md).

Every figure the log quotes is recomputed here from the published CSVs
(``data/published/``), the committed outputs of the shipped frame or a refit of it, and
must appear in the log as printed: the log cannot drift from its arithmetic.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import cli
from analysis.beyond import conventions
from analysis.config import ROOT, RunPaths
from analysis.paper import estimates
from analysis.paper import published as published_tables

LOG = ROOT / "docs" / "model_choices.md"
PROVIDED = ROOT / "data" / "raw" / "cmds2014_synthetic.dta"
TABLES = ROOT / "outputs" / "tables"


@pytest.fixture(scope="module")
def log_text() -> str:
    """The publication-log section of docs/model_choices.md, whitespace collapsed."""
    text = LOG.read_text(encoding="utf-8")
    section = text.split("## Publication log", 1)
    assert len(section) == 2, "docs/model_choices.md has no publication-log section"
    return " ".join(section[1].split())


@pytest.fixture(scope="module")
def published() -> dict[str, pd.DataFrame]:
    return {
        name: published_tables.read(name, dtype={"level": str})
        for name in ("table1", "table3", "figure1")
    }


def counts(published) -> dict[str, int]:
    """N (Table 1), reimbursed (Table 1) and part-2 N (Table 3 observations)."""
    t1, t3 = published["table1"], published["table3"]
    n = int(t1.loc[t1["variable"] == "scheme", "total"].sum())
    reimbursed = int(t1.loc[t1["variable"] == "reimbursed", "total"].iloc[0])
    part2 = int(t3.loc[t3["term"] == "observations", "amount_me"].iloc[0])
    return {"n": n, "reimbursed": reimbursed, "part2": part2}


def splits(pcts: list[float], d: int) -> list[tuple[int, ...]]:
    """Integer counts summing to d whose shares round (1 decimal) to ``pcts``."""
    ranges = [
        range(math.ceil((p - 0.05) * d / 100 - 1e-9),
              math.floor((p + 0.05) * d / 100 + 1e-9) + 1)
        for p in pcts
    ]  # fmt: skip
    return [c for c in itertools.product(*ranges) if sum(c) == d]


def thousands(n: int) -> str:
    return f"{n:,}"


def test_c09_everyone_outside_part_2_reproduces_figure_1(published, log_text):
    c = counts(published)
    pcts = published["figure1"]["pct"].tolist()
    outside = c["n"] - c["part2"]
    found = splits(pcts, outside)
    assert len(found) == 1
    split = found[0]
    quoted = "/".join(map(str, split))
    assert f"{outside} = {thousands(c['n'])} - {c['part2']}" in log_text
    assert f"{quoted} of {outside}" in log_text
    shares = "/".join(f"{100 * k / outside:.2f}" for k in split)
    assert shares in log_text
    # the non-reimbursed of Table 1 admit no such counts (the logged conflict)
    non = c["n"] - c["reimbursed"]
    assert splits(pcts, non) == []
    assert f"{non} = {thousands(c['n'])} - {c['reimbursed']}" in log_text
    pending = c["reimbursed"] - c["part2"]
    assert f"{pending} = {c['reimbursed']} - {c['part2']}" in log_text


def test_c09_how_often_a_denominator_fits_by_chance(published, log_text):
    c = counts(published)
    pcts = published["figure1"]["pct"].tolist()
    low = c["n"] - c["reimbursed"]
    fits = [d for d in range(low, c["n"] + 1) if splits(pcts, d)]
    assert f"{len(fits)} of the {c['n'] - low + 1} denominators" in log_text
    assert ", ".join(map(str, fits[:6])) in log_text
    go_back = splits(pcts, c["n"] - c["part2"])[0][0]
    assert f"{go_back}/{thousands(c['n'])} = {100 * go_back / c['n']:.1f}%" in log_text


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> pd.DataFrame:
    """The shipped frame's analytic sample (the provided survey, cleaned)."""
    root = tmp_path_factory.mktemp("shipped")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["-q", "--root", str(root), "clean", "--raw",
                         str(PROVIDED)]) == 0  # fmt: skip
    return pd.read_parquet(RunPaths(root).analytic)


def probit_cells(analytic, ame: str, participation: str) -> pd.DataFrame:
    reading = conventions.Reading(ame, "oim", participation)
    cells, _ = conventions.fit_reading(analytic, reading, {"vce": "oim"})
    compared = conventions.compare(cells, conventions.published_cells())
    return compared[compared["equation"] == "probit"].set_index(["sample", "term"])


def test_c09_on_the_shipped_frame(published, shipped, log_text):
    reimbursed = shipped["reimbursed"] == 1
    asked = int(shipped.loc[reimbursed, "noreimb_reason"].notna().sum())
    assert f"{asked} of the {int(reimbursed.sum())} reimbursed answer" in log_text
    answered = int(shipped["noreimb_reason"].notna().sum())
    assert f"({answered} answered, " in log_text
    # the shipped base reproduces Figure 1 too, as C09 logged
    counts_ = tuple(shipped["noreimb_reason"].value_counts()[
        ["go_back_to_hometown", "unaware_of_procedure", "not_covered_by_policy",
         "other"]
    ])  # fmt: skip
    assert counts_ in splits(published["figure1"]["pct"].tolist(), answered)


def test_c13_on_the_shipped_frame(published, shipped, log_text):
    t1 = published["table1"]
    ours = pd.read_csv(TABLES / "table1.csv", dtype={"level": str})
    row = t1["variable"] == "reimbursed"
    for column in ("ncms", "urban"):
        assert int(ours.loc[ours["variable"] == "reimbursed", column].iloc[0]) == int(
            t1.loc[row, column].iloc[0]
        )
    by_column = shipped.groupby(shipped["scheme"].isin(["URBMI", "UEBMI"]))[
        "reimbursed"
    ].sum()
    assert f"{by_column[False]}/{by_column[True]}" in log_text
    verdicts = pd.read_csv(TABLES / "replication_verdicts.csv")
    probit = verdicts[(verdicts["equation"] == "probit")
                      & (verdicts["sample"] == "total")].set_index("term")  # fmt: skip
    for term in ("URBMI", "UEBMI"):
        est, dev = probit.loc[term, "estimate"], probit.loc[term, "dev_se"]
        assert f"{term} {est:.3f} ({dev:+.2f} SE)" in log_text
    discrete = probit_cells(shipped, "discrete", "any").loc["total"]
    for term in ("URBMI", "UEBMI"):
        est, dev = discrete.loc[term, "estimate"], discrete.loc[term, "dev_se"]
        assert f"discrete {term} {est:.3f} ({dev:+.2f} SE)" in log_text
    fit = estimates.fit_all(shipped)[("total", "reimb_amount")]
    b = fit.params["part1"]["scheme__UEBMI"]
    ame = probit.loc["UEBMI", "estimate"]
    assert f"b_UEBMI = {b:.3f}" in log_text
    assert f"mean phi(xb) = {ame / b:.3f}" in log_text


def test_c15_participation_is_amount_above_zero(published, shipped, log_text):
    c = counts(published)
    assert f"{c['part2']}/{thousands(c['n'])} = {c['part2'] / c['n']:.3f}" in log_text
    r = c["reimbursed"]
    assert f"{r}/{thousands(c['n'])} = {r / c['n']:.3f}" in log_text
    # the shipped frame: amount > 0 is exactly the part-2 sample of Table 3
    assert int((shipped["reimb_amount"] > 0).sum()) == c["part2"]
    for participation in ("any", "amount"):
        cells = probit_cells(shipped, "derivative", participation)
        within = int((cells["dev_se"].abs() <= 0.1).sum())
        median = float(np.median(cells["se_ratio"]))
        assert (f"{participation}: points within 0.1 SE {within} of {len(cells)}, "
                f"median SE ratio {median:.3f}") in log_text  # fmt: skip
        if participation == "amount":
            for term in ("URBMI", "UEBMI"):
                est = cells.loc[("total", term), "estimate"]
                dev = cells.loc[("total", term), "dev_se"]
                assert f"{term} {est:.3f} ({dev:+.2f} SE)" in log_text
