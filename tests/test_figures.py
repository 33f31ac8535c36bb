"""Figures: human row labels, axis labels, legends clear of the data, captions."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.exhibits import figures
from analysis.paper import published, tables


def fake_cells() -> pd.DataFrame:
    """Every published Table 3-4 cell 'replicated' as itself."""
    rows = []
    pub3 = published.read("table3")
    pub3 = pub3[pub3["term_group"] != "n"].assign(sample="total")
    pub4 = published.read("table4")
    for pub in (pub3, pub4):
        for eq in ("probit", "amount", "ratio"):
            rows.append(pd.DataFrame({
                "sample": pub["sample"], "equation": eq, "term": pub["term"],
                "estimate": pub[f"{eq}_me"], "se": pub[f"{eq}_se"],
            }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_forest_rows_carry_human_labels_and_axes_are_labelled():
    fig = figures.forest(tables.published_vs_replicated(fake_cells()), "note")
    axes = fig.axes
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 30
    for label in labels:  # no code names: q2, has_job, ncms: across_provinces
        assert "_" not in label and not re.search(r"\bq\d\b", label), label
        assert not label.startswith(("ncms", "urban")), label
    assert "Income: 2nd quintile" in labels
    assert "NCMS subsample: migration across provinces" in labels
    assert all(ax.get_xlabel() for ax in axes)
    assert all(ax.get_legend() is None for ax in axes)  # one legend, below the axes
    (legend,) = fig.legends
    box = legend.get_window_extent(fig.canvas.get_renderer())
    lowest = min(ax.get_window_extent().y0 for ax in axes)
    assert box.y1 <= lowest
    text = " ".join(t.get_text() for t in fig.texts)
    assert "95% confidence intervals" in text and "Reference groups" in text


def share_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "scope": ["within_city_across_counties", "within_province_across_cities",
                  "across_provinces"],
        "k": [10, 24, 117], "n": [30, 57, 140],
        "pct": [33.3, 42.1, 83.6], "ci_low": [17.3, 29.1, 76.4],
        "ci_high": [52.8, 55.8, 89.3],
    })  # fmt: skip


def test_figure2_says_what_its_error_bars_are_and_shows_n():
    fig = figures.figure2(share_frame(), "note")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert [t.splitlines()[-1] for t in ticks] == ["(n = 30)", "(n = 57)", "(n = 140)"]
    text = " ".join(t.get_text() for t in fig.texts)
    assert "Clopper-Pearson" in text and "95%" in text and "n:" in text


def test_figure2_without_counts_has_no_n():
    shares = share_frame().drop(columns=["k", "n"])
    shares.loc[0, ["pct", "ci_low", "ci_high"]] = np.nan
    fig = figures.figure2(shares, "note")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert not any("n =" in t for t in ticks)
    assert fig.axes[0].get_xlim() == (-0.6, 2.6)


def test_figure1_values_clear_of_markers():
    shares = pd.DataFrame({
        "reason": ["go_back_to_hometown", "unaware_of_procedure",
                   "not_covered_by_policy", "other"],
        "n": [133, 33, 21, 12], "pct": [66.8, 16.6, 10.6, 6.0],
        "published_pct": [66.5, 16.7, 10.6, 6.2],
    })  # fmt: skip
    fig = figures.figure1(shares, "note")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    markers = ax.collections[0].get_offsets()
    for text, (x, y) in zip(ax.texts, markers, strict=True):
        label_box = text.get_window_extent(renderer)
        marker_top = ax.transData.transform((x, y))[1] + 4  # half a 28-pt^2 marker
        assert label_box.y0 > marker_top, text.get_text()
