"""Stata-like printed summary of a two-part fit."""

from __future__ import annotations

_VCE_LABEL = {
    "oim": "OIM",
    "robust": "Robust",
    "cluster": "Robust (clustered)",
    "survey": "Linearized (survey design)",
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
        vce += (
            f" by {s.vce.cluster} ({len(set(res.sample.data[s.vce.cluster]))} clusters)"
        )
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
    for part, title in (("part1", "Part 1 (P(y>0))"), ("part2", "Part 2 (y | y>0)")):
        lines += ["", title] + _table(res.coef_table(part))
    return "\n".join(lines)
