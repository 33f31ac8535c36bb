"""Figure helpers shared by every stage that draws: backend, notes, labels, files.

The non-interactive Agg backend is set here, before pyplot is imported anywhere in
the package, so figures draw the same headless on any machine.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from analysis import vocabulary  # noqa: E402


def tick_label(concept: str, level: str, width: int = 20) -> str:
    """A level's label (the one vocabulary) wrapped for an axis tick."""
    return textwrap.fill(vocabulary.label(concept, level), width)


def footnote(
    fig: plt.Figure, note: str, caption: str = "", legend: tuple | None = None
) -> plt.Figure:
    """Write the figure's notes and the synthetic-data notice under it.

    ``caption`` (what the marks mean) is wrapped above the notice; ``legend``
    (handles, labels) is drawn in one row between the notes and the axes, where it
    covers no data.
    """
    width = int(fig.get_figwidth() * 15)
    lines = textwrap.wrap(caption, width) if caption else []
    height = fig.get_figheight() * 72  # points
    line = 9 / height  # one 7-point line with its leading, as a fraction
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="#A00000", ha="left", va="bottom")
    if lines:
        fig.text(
            0.01, 0.005 + (line if note else 0), "\n".join(lines), fontsize=7,
            ha="left", va="bottom", linespacing=1.2,
        )  # fmt: skip
    room = max(0.005 + line * (len(lines) * 1.2 + (1 if note else 0)) + 0.01, 0.03)
    if legend is not None:
        handles, names = legend
        fig.legend(
            handles, names, loc="lower center", ncol=len(names), frameon=False,
            fontsize=9, bbox_to_anchor=(0.5, room),
        )  # fmt: skip
        room += 22 / height
    fig.tight_layout(rect=(0, room, 1, 1))
    return fig


def save(fig: plt.Figure, stem: Path) -> None:
    """Write PNG and PDF without time stamps, so reruns are byte-identical."""
    fig.savefig(stem.with_suffix(".png"), dpi=150, metadata={"Software": None})
    fig.savefig(
        stem.with_suffix(".pdf"),
        metadata={"CreationDate": None, "Creator": None, "Producer": None},
    )
    plt.close(fig)
