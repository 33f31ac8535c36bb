"""Stata-like printed summary of a two-part fit, with LaTeX and HTML forms."""

from __future__ import annotations

import pandas as pd


class Summary(str):
    """Summary text (a ``str``, so it prints and compares as before).

    Attributes
    ----------
    header : list of str
        Lines above the tables (samples, variance, notes).
    tables : dict of str -> pandas.DataFrame
        Coefficient table of each part (term, estimate, se, z, p, CI).
    """

    header: list
    tables: dict

    @classmethod
    def build(cls, text: str, header: list, tables: dict) -> Summary:
        """Wrap ``text`` with its header lines and tables."""
        out = cls(text)
        out.header, out.tables = header, tables
        return out

    def as_text(self) -> str:
        """The Stata-like text."""
        return str(self)

    def as_latex(self) -> str:
        """The header as a comment block, each table as a LaTeX tabular."""
        parts = ["% " + line for line in self.header]
        for title, t in self.tables.items():
            parts += [f"% {title}", t.to_latex(index=False, float_format="%.6g")]
        return "\n".join(parts)

    def as_html(self) -> str:
        """The header as paragraphs, each table as an HTML table."""
        parts = [f"<p>{line}</p>" for line in self.header]
        for title, t in self.tables.items():
            parts += [f"<h4>{title}</h4>", t.to_html(index=False)]
        return "\n".join(parts)


_VCE_LABEL = {
    "oim": "OIM",
    "robust": "Robust",
    "cluster": "Robust (clustered)",
    "survey": "Linearized (survey design)",
    "eim": "EIM",
    "irls": "EIM",
    "hc0": "HC0",
    "hc1": "HC1",
    "cl": "Robust (clustered, CL)",
}


def _table(ct) -> list[str]:
    head = (
        f"{'':>28} {'Coef.':>11} {'Std. Err.':>11} {'z':>8} "
        f"{'P>|z|':>7}  [95% Conf. Interval]"
    )
    lines = [head, "-" * len(head)]
    for r in ct.itertuples():
        lines.append(
            f"{r.term[:28]:>28} {r.estimate:11.6g} {r.se:11.6g} {r.z:8.2f} "
            f"{r.p:7.3f}  {r.ci_low:11.6g} {r.ci_high:11.6g}"
        )
    return lines


def render_summary(res) -> str:
    """Render both parts' coefficient tables as Stata's ``twopm`` does.

    With sample sizes, variance type and the missing-value counts.
    """
    s = res.spec
    p2 = s.part2
    part2_label = (
        f"glm, family({p2.family}) link({p2.link})"
        if p2.model == "glm"
        else f"regress ln(y), {p2.smearing} smearing"
    )
    vce = _VCE_LABEL[s.vce.vce]
    if s.vce.cluster:
        vce += f" by {s.vce.cluster} ({res.n_clusters} clusters)"
    lines = [
        f"Two-part model of {s.outcome}",
        f"Number of obs: part 1 = {res.nobs['part1']:,}, "
        f"part 2 = {res.nobs['part2']:,}",
        f"Part 1: {s.part1.model}    Part 2: {part2_label}",
        f"Std. err.: {vce}; joint covariance: {s.vce.joint}",
    ]
    if p2.model == "glm":
        lines.append(
            f"Part 2 dispersion (scale {p2.resolved_scale}): {res.fits[1].scale:.6g}"
        )
    else:
        lines.append(f"Smearing factor: {res.fits[1].extra['smearing_factor']:.6g}")
    for stage, counts in res.dropped.items():
        if counts:
            txt = ", ".join(f"{c}: {n}" for c, n in counts.items())
            lines.append(f"Dropped for missing values ({stage}): {txt}")
    lines += list(getattr(res, "notes", []))
    header = list(lines)
    tables = {}
    for part, title in (("part1", "Part 1 (P(y>0))"), ("part2", "Part 2 (y | y>0)")):
        tables[title] = res.coef_table(part)
        lines += ["", title] + _table(tables[title])
    return Summary.build("\n".join(lines), header, tables)


def part_summary(res, part: str) -> Summary:
    """Summary of one part: its sample size, fit statistics and coefficients."""
    p = res.part1 if part == "part1" else res.part2
    title = {"part1": "Part 1 (P(y>0))", "part2": "Part 2 (y | y>0)"}[part]
    header = [
        f"{title} of {res.spec.outcome}",
        f"Number of obs = {p.nobs:,}; log likelihood = {p.llf:.6g}; "
        f"AIC = {p.aic:.6g}; BIC = {p.bic:.6g}",
    ]
    if part == "part1":
        header += list(getattr(res, "notes", []))
    table = res.coef_table(part)
    text = "\n".join([*header, ""] + _table(table))
    return Summary.build(text, header, {title: pd.DataFrame(table)})
