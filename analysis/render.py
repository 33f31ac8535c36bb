r"""Render laid-out tables as Markdown, LaTeX (booktabs) and HTML.

A table is a :class:`TableLayout`: a title, column headers (the first heads the row
labels, optional spanning headers group the others), and a list of :class:`Section` s,
each an optional title (a factor's name, as "Education attainment") and its
:class:`Row` s of already formatted cells, built by the module that owns the table
(Tables 1-2: :mod:`analysis.paper.layouts`; Tables 3-4 and esttab tables:
:func:`layout_from_frame`). The writing is done by libraries: :func:`to_markdown` by
``tabulate`` (pipe tables), :func:`to_latex` and :func:`to_html` by pandas'
``Styler``. This module only lays the cells out, escapes them and puts the title and
notes around the table.

LaTeX layout: every column is a ``p`` column whose width is a share of
``\linewidth`` (shares sum to 1, :func:`column_shares`, sized by Computer Modern's
metrics for A4's narrowest usual text block), so the table is exactly as wide as the
text block on any page; long labels and headers wrap inside their column and numbers
are set right-aligned. It needs ``booktabs`` and ``array``.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import ft2font
from tabulate import tabulate

from analysis import notices

EMPTY = "–"  # the paper's empty cell (en dash)

# LaTeX page geometry the column shares are designed for: the narrowest usual text
# block on A4, the article class's at 10 pt (345 pt); a wider block only widens the
# columns. Type \small: 9 pt in a 10 pt document.
DESIGN_WIDTH_PT = 345.0
FONT_SIZE = r"\small"
FONT_PT = 9.0
TABCOLSEP_PT = 4.0
MIN_STUB_SHARE = 0.2
# cmr10's metrics stand for the T1 (EC) fonts LaTeX sets, which measured up to 1.028
# times as wide (pdflatex, \small)
WIDTH_MARGIN = 1.05
# Widths (em) of the characters LaTeX does not take from cmr10's text slots: the
# math < > and \pm, the -- and --- dashes, T1's underscore.
TEX_WIDTHS_EM = {"±": 0.778, "<": 0.778, ">": 0.778, "–": 0.5, "—": 1.0, "_": 0.8}
CMR10 = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "cmr10.ttf"
MD_INDENT = "&emsp;&emsp;"  # tabulate strips leading whitespace from cells


@dataclass(frozen=True)
class Row:
    """One table row: a label and its formatted cells; ``indent`` for factor levels."""

    label: str
    cells: tuple[str, ...]
    indent: bool = False


@dataclass(frozen=True)
class Section:
    """A block of rows under an optional title row (e.g. a factor's name)."""

    title: str | None
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class TableLayout:
    """A table ready to render: title, headers (stub first), sections, notes.

    ``groups`` are optional spanning headers over the cell columns, as (words,
    number of columns) from left to right, e.g. a model's name over its estimate
    and SE columns.
    """

    title: str
    columns: tuple[str, ...]
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = ()
    label: str = ""
    groups: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        width = len(self.columns) - 1
        if self.groups and sum(span for _, span in self.groups) != width:
            raise ValueError(
                f"table {self.title!r}: the spanning headers {list(self.groups)} "
                f"cover {sum(s for _, s in self.groups)} columns, the table has {width}"
            )
        for row in self.rows():
            if len(row.cells) != width:
                raise ValueError(
                    f"table {self.title!r}: row {row.label!r} has {len(row.cells)} "
                    f"cells for {width} columns"
                )

    def rows(self) -> list[Row]:
        """All rows, section titles excluded."""
        return [row for section in self.sections for row in section.rows]

    def flat_headers(self) -> list[str]:
        """Headers of the cell columns, each prefixed with its spanning header."""
        if not self.groups:
            return list(self.columns[1:])
        owners = [words for words, span in self.groups for _ in range(span)]
        return [f"{g}, {c}" for g, c in zip(owners, self.columns[1:], strict=True)]


def _lines(layout: TableLayout):
    """(is_title, indent, label, cells) for every printed row, titles included."""
    blank = ("",) * (len(layout.columns) - 1)
    for section in layout.sections:
        if section.title:
            yield True, False, section.title, blank
        for row in section.rows:
            yield False, row.indent, row.label, row.cells


def to_markdown(layout: TableLayout, synthetic: bool = True) -> str:
    """Render ``layout`` as a GitHub-flavoured Markdown (pipe) table by ``tabulate``.

    The first line is ``notices.CAPTION`` when ``synthetic``; then the bold title,
    the table and the notes. Spanning headers are prefixed to their columns'
    headers; section titles are bold rows; factor levels are indented.
    """
    body = [
        [
            f"**{_md(label)}**"
            if title
            else (MD_INDENT if indent else "") + _md(label),
            *map(_md, cells),
        ]
        for title, indent, label, cells in _lines(layout)
    ]
    table = tabulate(
        body,
        headers=[_md(layout.columns[0]), *map(_md, layout.flat_headers())],
        tablefmt="pipe",
        colalign=("left", *["right"] * (len(layout.columns) - 1)),
        disable_numparse=True,  # cells are formatted text: keep "0.020" as printed
    )
    lines = [notices.CAPTION, ""] if synthetic else []
    lines += [f"**{_md(layout.title)}**", "", table]
    if layout.notes:
        lines.append("")
        lines += [_md(note) + "  " for note in layout.notes[:-1]]
        lines.append(_md(layout.notes[-1]))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Escape the characters that would break a Markdown table cell or add emphasis."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")


def _frame(layout: TableLayout, escape, title, indent: str) -> pd.DataFrame:
    """The layout as a frame of escaped text for ``Styler``: labels as the index."""
    labels, cells = [], []
    for is_title, is_indented, label, row in _lines(layout):
        text = escape(label)
        labels.append(
            title(text) if is_title else (indent if is_indented else "") + text
        )
        cells.append([escape(c) for c in row])
    heads = [escape(c) for c in layout.columns[1:]]
    if layout.groups:
        owners = [escape(w) for w, span in layout.groups for _ in range(span)]
        columns = pd.MultiIndex.from_arrays(
            [owners, heads], names=[None, escape(layout.columns[0])]
        )
    else:
        columns = pd.Index(heads, name=escape(layout.columns[0]))
    return pd.DataFrame(cells, index=pd.Index(labels), columns=columns)


@functools.cache
def _cmr10() -> ft2font.FT2Font:
    """Computer Modern Roman at 10 px per em (advances in 1/65536 px)."""
    font = ft2font.FT2Font(str(CMR10))
    font.set_size(10, 72)
    return font


def text_width_pt(text: str) -> float:
    r"""Width of ``text`` set in ``\small`` Computer Modern Roman, in TeX points.

    From the font's own metrics (matplotlib ships ``cmr10.ttf``); the characters
    that LaTeX takes from other fonts or encodes otherwise get their TeX widths
    (``TEX_WIDTHS_EM``), and a character the font lacks counts as a digit (0.5 em).
    """
    font = _cmr10()
    em = 0.0
    for char in text:
        if char in TEX_WIDTHS_EM:
            em += TEX_WIDTHS_EM[char]
        elif font.get_char_index(ord(char)):
            glyph = font.load_char(ord(char), flags=ft2font.LoadFlags.NO_HINTING)
            em += glyph.linearHoriAdvance / 65536 / 10
        else:
            em += 0.5
    return em * FONT_PT


def column_shares(layout: TableLayout) -> tuple[float, ...]:
    r"""Shares of ``\linewidth`` of the stub and each cell column (they sum to <= 1).

    Widths are measured by :func:`text_width_pt` (times ``WIDTH_MARGIN``) plus the
    column separation, on a line of ``DESIGN_WIDTH_PT``. A cell column wants its
    widest cell on one line and needs at least its widest word (cells and header
    words: headers wrap); columns under one spanning header are widened so every
    group is as wide as the widest (one spanning-header format serves all). The
    stub (row labels, which wrap) wants its widest label and needs at least
    ``MIN_STUB_SHARE`` and its widest word. When the wants do not fit, every
    column gets its need plus the same fraction of the rest of its want (cells
    then wrap at spaces); width left over goes to the cell columns, so the table
    spans the line.
    """
    sep = 2 * TABCOLSEP_PT
    want, need = [], []
    for k in range(len(layout.columns) - 1):
        texts = [row.cells[k] for row in layout.rows()]
        words = [w for t in texts for w in t.split()] + layout.columns[k + 1].split()
        want.append(_widest([*texts, *words]) + sep)
        need.append(_widest(words) + sep)
    if layout.groups:
        widest = max(sum(want[k] for k in span) for span in _spans(layout))
        for span in _spans(layout):
            scale = widest / sum(want[k] for k in span)
            for k in span:
                want[k] *= scale
                need[k] *= scale
    indent = [FONT_PT if r.indent else 0.0 for r in layout.rows()]
    labels = [r.label for r in layout.rows()]
    want.insert(0, max([_widest([t]) + i for t, i in zip(labels, indent, strict=True)]
                       + [0.0]) + sep)  # fmt: skip
    need.insert(0, max(
        [_widest(t.split()) + i for t, i in zip(labels, indent, strict=True)]
        + [MIN_STUB_SHARE * DESIGN_WIDTH_PT - sep]
    ) + sep)  # fmt: skip
    if sum(want) > DESIGN_WIDTH_PT:
        slack = sum(w - n for w, n in zip(want, need, strict=True))
        fraction = max(0.0, (DESIGN_WIDTH_PT - sum(need)) / slack) if slack else 0.0
        want = [n + fraction * (w - n) for w, n in zip(want, need, strict=True)]
    cells = [w / DESIGN_WIDTH_PT for w in want[1:]]
    stub = want[0] / DESIGN_WIDTH_PT
    if stub + sum(cells) > 1:  # not even the needs fit the design line
        stub = max(MIN_STUB_SHARE, 1 - sum(cells))
        cells = [c * (1 - stub) / sum(cells) for c in cells]
    spare = 1 - stub - sum(cells)
    cells = [_ceil3(c + spare / len(cells)) for c in cells]
    return (_floor3(1 - sum(cells)), *cells)


def _widest(texts: Sequence[str]) -> float:
    """Width in points of the widest of ``texts`` (0 for none), with the margin."""
    return max([text_width_pt(t) for t in texts] + [0.0]) * WIDTH_MARGIN


def _ceil3(share: float) -> float:
    """Round a share up to 3 decimals, so a column is never narrower than sized."""
    return -int(-share * 1000 - 1e-9) / 1000


def _floor3(share: float) -> float:
    """Round a share down to 3 decimals, so the shares never add up to more than 1."""
    return int(share * 1000 + 1e-9) / 1000


def _p_column(share: float, align: str) -> str:
    r"""A ``p`` column ``share`` of ``\linewidth`` wide, separations included."""
    return (
        rf">{{{align}\arraybackslash}}"
        rf"p{{\dimexpr {share:.3f}\linewidth-2\tabcolsep\relax}}"
    )


def to_latex(layout: TableLayout, synthetic: bool = True) -> str:
    r"""Render ``layout`` as a LaTeX ``table`` float; the ``tabular`` by ``Styler``.

    booktabs rules (``Styler.to_latex(hrules=True)``), ``p`` columns sharing
    ``\linewidth`` (:func:`column_shares`), section titles in italics, factor
    levels indented, spanning headers centred over their columns with a
    ``\cmidrule`` under each, notes in footnote size under the table. With
    ``synthetic`` the first line is a comment with ``notices.CAPTION`` and the
    caption starts with it. Needs ``\usepackage{booktabs,array}``.
    """
    shares = column_shares(layout)
    spec = _p_column(shares[0], r"\raggedright") + "".join(
        _p_column(s, r"\raggedleft") for s in shares[1:]
    )
    frame = _frame(layout, latex_escape, lambda t: rf"\textit{{{t}}}", r"\hspace{1em}")
    group = r"\centering"
    if layout.groups:
        widths = {sum(shares[1:][k] for k in span) for span in _spans(layout)}
        # one format serves every spanning header; equal widths by column_shares
        group = _p_column(min(widths), r"\centering")
    tabular = frame.style.to_latex(
        column_format=spec, hrules=True, multicol_align=group
    )
    if layout.groups:
        rules = "".join(
            rf"\cmidrule(lr){{{span.start + 2}-{span.stop + 1}}}"
            for span in _spans(layout)
        )
        head, rest = tabular.split("\\\\\n", 1)
        tabular = f"{head}\\\\\n{rules}\n{rest}"
    tabular = _span_titles(tabular, layout)
    caption = latex_escape(layout.title)
    lines = [r"% Requires \usepackage{booktabs,array}"]
    if synthetic:
        lines.insert(0, f"% {notices.CAPTION}")
        caption = latex_escape(notices.CAPTION) + ". " + caption
    lines += [r"\begin{table}[htbp]", r"\centering", FONT_SIZE]
    lines += [rf"\setlength{{\tabcolsep}}{{{TABCOLSEP_PT:g}pt}}"]
    lines.append(rf"\caption{{{caption}}}")
    if layout.label:
        lines.append(rf"\label{{{layout.label}}}")
    lines.append(tabular.rstrip("\n"))
    lines += [
        rf"\par\smallskip{{\raggedright\footnotesize {latex_escape(n)}\par}}"
        for n in layout.notes
    ]
    return "\n".join([*lines, r"\end{table}"]) + "\n"


def _span_titles(tabular: str, layout: TableLayout) -> str:
    r"""Set each section title across the whole row (a ``\multicolumn``).

    ``Styler`` writes a title as a row with empty cells; spanning it keeps the
    title on one line instead of wrapping it in the stub column.
    """
    ncol = len(layout.columns)
    wide = _p_column(1.0, r"\raggedright")
    spanned = {}
    for title in (s.title for s in layout.sections if s.title):
        text = rf"\textit{{{latex_escape(title)}}}"
        row = " & ".join([text, *[""] * (ncol - 1)]) + r" \\"
        spanned[row] = rf"\multicolumn{{{ncol}}}{{{wide}}}{{{text}}} \\"
    return "\n".join(spanned.get(line, line) for line in tabular.split("\n"))


def _spans(layout: TableLayout) -> list[range]:
    """Cell-column positions (0-based) under each spanning header."""
    spans, start = [], 0
    for _, span in layout.groups:
        spans.append(range(start, start + span))
        start += span
    return spans


def to_html(layout: TableLayout, synthetic: bool = True) -> str:
    """Render ``layout`` as an HTML table by ``Styler.to_html``, notes under it.

    The caption starts with ``notices.CAPTION`` when ``synthetic``. Element ids
    come from the layout's label (or its title), so the output is deterministic.
    """
    frame = _frame(layout, html.escape, lambda t: f"<b>{t}</b>", "&emsp;&emsp;")
    caption = html.escape(layout.title)
    if synthetic:
        caption = html.escape(notices.CAPTION) + ". " + caption
    uuid = re.sub(r"\W+", "_", layout.label or layout.title).strip("_").lower()
    styler = frame.style.set_uuid(uuid).set_caption(caption)
    styler = styler.set_table_styles(
        [{"selector": "td", "props": [("text-align", "right")]},
         {"selector": "th.row_heading", "props": [("text-align", "left")]}]
    )  # fmt: skip
    notes = "".join(f'<p class="note">{html.escape(n)}</p>\n' for n in layout.notes)
    return styler.to_html() + notes


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "<": r"$<$",
    ">": r"$>$",
    "¥": r"\textyen{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the paper's symbols (±, –, —, <) to LaTeX."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def layout_from_frame(
    frame: pd.DataFrame,
    title: str,
    stub: str,
    section: str | None = None,
    labels: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> TableLayout:
    """A layout from a frame of already formatted text cells (e.g. Tables 3-4).

    Parameters
    ----------
    frame : DataFrame
        One row per table row; every column other than ``stub`` and ``section`` is a
        table column, in order, holding text.
    title : str
        Table title.
    stub : str
        Column holding row labels (mapped through ``labels`` when present).
    section : str, optional
        Column grouping rows into titled sections (mapped through ``labels``); rows of
        a titled section are indented.
    labels : mapping, optional
        Display words for stub/section values and column names.
    notes : sequence of str
        Notes printed under the table.
    """
    labels = labels or {}
    cells = [c for c in frame.columns if c not in (stub, section)]
    groups = frame.groupby(section, sort=False) if section else [(None, frame)]
    sections = []
    for key, block in groups:
        rows = tuple(
            Row(
                labels.get(r[stub], str(r[stub])),
                tuple(str(r[c]) for c in cells),
                indent=key is not None,
            )
            for _, r in block.iterrows()
        )
        sections.append(
            Section(None if key is None else labels.get(key, str(key)), rows)
        )
    header = (labels.get(stub, stub), *(labels.get(c, c) for c in cells))
    return TableLayout(title, header, tuple(sections), tuple(notes))
