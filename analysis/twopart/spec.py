"""Typed option vocabularies, frozen specifications and their validators."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Part1Model = Literal["probit", "logit"]
Part2Model = Literal["glm", "ols_log"]
Family = Literal["gamma", "gaussian", "binomial", "poisson", "inverse_gaussian"]
Link = Literal["log", "identity", "logit", "probit", "inverse_power", "cloglog"]
Smearing = Literal["duan", "normal"]
Scale = Literal["x2", "dev", "one"]
Vce = Literal["oim", "eim", "irls", "robust", "cluster", "survey", "hc0", "hc1", "cl"]
Bread = Literal["oim", "eim"]
Joint = Literal["block", "stacked"]
Missing = Literal["raise", "drop"]
Effect = Literal["dydx", "eydx", "dyex", "eyex"]
MarginPart = Literal["part1", "part2", "combined"]

#: Stata's default dispersion: Pearson (x2) for continuous families, 1 otherwise.
DEFAULT_SCALE = {
    "gamma": "x2",
    "gaussian": "x2",
    "inverse_gaussian": "x2",
    "binomial": "one",
    "poisson": "one",
}


def validate_choice(name: str, value: object, vocabulary: object) -> None:
    """Raise ``ValueError`` naming ``value`` unless it belongs to ``vocabulary``.

    Parameters
    ----------
    name : str
        Name of the option, used in the message.
    value : object
        The value supplied by the caller.
    vocabulary : typing.Literal
        The admissible values.

    Raises
    ------
    ValueError
        If ``value`` is not one of the literal's arguments.
    """
    allowed = get_args(vocabulary)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {allowed}")


@dataclass(frozen=True)
class Part1Spec:
    """Specification of the participation equation P(y > 0 | x)."""

    regressors: str | tuple[str, ...]
    model: Part1Model = "probit"

    def __post_init__(self) -> None:
        validate_choice("part1 model", self.model, Part1Model)


@dataclass(frozen=True)
class Part2Spec:
    """Specification of the intensity equation E[y | y > 0, x].

    ``model="glm"`` uses ``family``/``link``/``scale``; ``model="ols_log"``
    regresses ln(y) by OLS and retransforms with ``smearing``.
    """

    regressors: str | tuple[str, ...]
    model: Part2Model = "glm"
    family: Family = "gamma"
    link: Link = "log"
    scale: Scale | float | None = None
    smearing: Smearing = "duan"

    def __post_init__(self) -> None:
        validate_choice("part2 model", self.model, Part2Model)
        validate_choice("family", self.family, Family)
        validate_choice("link", self.link, Link)
        validate_choice("smearing", self.smearing, Smearing)
        if self.scale is not None and not isinstance(self.scale, (int, float)):
            validate_choice("scale", self.scale, Scale)

    @property
    def resolved_scale(self) -> Scale | float:
        """Dispersion rule, Stata's default for the family when not given."""
        return DEFAULT_SCALE[self.family] if self.scale is None else self.scale


#: Sandwich types whose default bread is the expected information (R sandwich).
SANDWICH_R = ("hc0", "hc1", "cl")


@dataclass(frozen=True)
class VceSpec:
    """Variance choice.

    ``cluster`` names the cluster column (``vce="cluster"`` or ``"cl"``);
    ``strata``, ``psu`` and ``weights`` name the design columns
    (``vce="survey"``; ``weights`` may also be given with the other choices as
    sampling weights). ``bread`` chooses the information matrix inside a
    sandwich: observed (``"oim"``, Stata's default) or expected (``"eim"``, R's
    ``sandwich`` on a ``glm`` and Stata's ``glm, irls``); default ``"eim"`` for
    ``hc0``/``hc1``/``cl`` and ``"oim"`` otherwise. ``vce="irls"`` is Stata's
    spelling of ``"eim"``. Formulas: :mod:`analysis.twopart.variance`.
    """

    vce: Vce = "oim"
    cluster: str | None = None
    strata: str | None = None
    psu: str | None = None
    weights: str | None = None
    joint: Joint = "block"
    bread: Bread | None = None

    def __post_init__(self) -> None:
        validate_choice("vce", self.vce, Vce)
        validate_choice("joint", self.joint, Joint)
        if self.bread is not None:
            validate_choice("bread", self.bread, Bread)
        if self.vce in ("cluster", "cl") and self.cluster is None:
            raise ValueError(f"vce={self.vce!r} needs cluster=<column name>")
        if self.vce == "survey" and self.psu is None:
            raise ValueError("vce='survey' needs psu=<column name>")

    @property
    def kind(self) -> str:
        """The variance type with Stata's ``irls`` spelled ``eim``."""
        return "eim" if self.vce == "irls" else self.vce

    @property
    def resolved_bread(self) -> str:
        """Information matrix of the bread (see the class docstring)."""
        if self.kind == "eim":
            return "eim"
        if self.bread is not None:
            return self.bread
        return "eim" if self.vce in SANDWICH_R else "oim"


@dataclass(frozen=True)
class TwoPartSpec:
    """Full specification of a two-part model fit."""

    outcome: str
    part1: Part1Spec
    part2: Part2Spec
    vce: VceSpec = field(default_factory=VceSpec)
    missing: Missing = "raise"
    part2_sample: str | None = None

    def __post_init__(self) -> None:
        validate_choice("missing", self.missing, Missing)
