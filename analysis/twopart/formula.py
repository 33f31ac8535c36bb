"""``~`` formulas (patsy / formulaic conventions) translated to factor notation.

Supported right-hand-side terms, joined by ``+``:

===========================================  =====================================
formula                                      factor-variable notation
===========================================  =====================================
``x`` (numeric column)                       ``c.x``
``g`` (string, categorical or boolean)       ``i.g`` (as patsy treats it)
``C(g)``                                     ``i.g``
``C(g, Treatment(reference="b"))``,          ``ib(b).g``
``C(g, Treatment("b"))``
``I(x**2)``, ``I(x ** 3)``, ``I(x*z)``       ``c.x#c.x``, ``c.x#c.x#c.x``, ``c.x#c.z``
``a:b``                                      ``a#b`` (each side as above)
``a*b``                                      ``a b a#b``
``1``                                        the constant (always included)
===========================================  =====================================

``I(x**2)`` becomes a product term, so the square moves with x in the margins
(Stata's ``c.x#c.x``), which is what an AME of x means; write a precomputed
column for Stata 12's column-wise semantics. A model without a constant
(``- 1``, ``+ 0``) is refused: both parts of ``twopm`` have one.
"""

from __future__ import annotations

import re

import pandas as pd

_C = re.compile(
    r"^C\(\s*(?P<var>[A-Za-z_]\w*)\s*"
    r"(?:,\s*Treatment\(\s*(?:reference\s*=\s*)?(?P<ref>[^)]*?)\s*\))?\s*\)$"
)
_I = re.compile(r"^I\((?P<expr>.*)\)$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")


def split_formula(formula: str) -> tuple[str | None, str]:
    """Split ``"y ~ rhs"`` into (``"y"``, ``"rhs"``); ``"~ rhs"`` gives None."""
    if "~" not in formula:
        raise ValueError(f"{formula!r} is not a formula (no '~')")
    lhs, rhs = formula.split("~", 1)
    return (lhs.strip() or None), rhs.strip()


def to_factor_notation(rhs: str, data: pd.DataFrame | None = None) -> str:
    """Translate a formula's right-hand side into factor-variable notation.

    Parameters
    ----------
    rhs : str
        E.g. ``"C(scheme) + age + I(age**2) + female"``.
    data : pandas.DataFrame, optional
        Used to treat bare non-numeric columns as factors (patsy's rule).

    Returns
    -------
    str
        E.g. ``"i.scheme c.age c.age#c.age c.female"``.

    Raises
    ------
    ValueError
        A term outside the supported grammar (module docstring), or no constant.
    """
    tokens: list[str] = []
    for term in _split_top(rhs, "+"):
        term = term.strip()
        if term in ("1", ""):
            continue
        if term in ("0", "-1") or re.search(r"-\s*1\b", term):
            raise ValueError("formulas without a constant are not supported")
        if "*" in _strip_calls(term):
            factors = [_atom(f, data) for f in _split_top(term, "*")]
            tokens += ["##".join(factors)]
            continue
        tokens.append("#".join(_atom(f, data) for f in _split_top(term, ":")))
    return " ".join(tokens)


def _atom(text: str, data) -> str:
    text = text.strip()
    m = _C.match(text)
    if m:
        ref = m.group("ref")
        if ref is None:
            return f"i.{m.group('var')}"
        return f"ib({ref.strip().strip(chr(34)).strip(chr(39))}).{m.group('var')}"
    m = _I.match(text)
    if m:
        return _power_product(m.group("expr"))
    if _NAME.match(text):
        if data is not None and text in data.columns and _is_categorical(data[text]):
            return f"i.{text}"
        return f"c.{text}"
    raise ValueError(f"formula term {text!r} is not supported (see formula.py)")


def _power_product(expr: str) -> str:
    """``x**2`` -> ``c.x#c.x``; ``x*z`` -> ``c.x#c.z``; ``x**2*z`` alike."""
    out: list[str] = []
    for piece in _split_top(expr.replace(" ", ""), "*"):
        name, _, power = piece.partition("**")
        if not _NAME.match(name) or (power and not power.isdigit()):
            raise ValueError(f"I({expr}) is not a power or product of columns")
        out += [f"c.{name}"] * (int(power) if power else 1)
    return "#".join(out)


def _is_categorical(s: pd.Series) -> bool:
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or s.dtype == object
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_bool_dtype(s.dtype)
    )


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses (``**`` is never a ``*`` split)."""
    out, depth, cur, i = [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if text.startswith("**", i):  # a power, never a split
            cur, i = cur + "**", i + 2
            continue
        if depth == 0 and text.startswith(sep, i):
            out.append(cur)
            cur, i = "", i + len(sep)
            continue
        cur += ch
        i += 1
    out.append(cur)
    return out


def _strip_calls(term: str) -> str:
    """The characters of ``term`` outside parentheses."""
    out, depth = [], 0
    for ch in term:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")"
    return "".join(out)
