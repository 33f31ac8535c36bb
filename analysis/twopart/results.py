"""Results of a two-part fit: coefficient tables, margins, covariances, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .atmeans import atmeans_margins
from .design import level_label
from .fastmargins import Layout, fast_margins
from .inference import (
    MARGIN_BATCH,
    MARGIN_COLUMNS,
    at_text,
    check_at,
    contrast_rows,
    delta_se,
    inference_columns,
    reference_group,
    row_blocks,
)
from .lin import Reducer
from .margins import (
    Context,
    Frame,
    continuous_effects,
    discrete_effects,
    gradient,
    summarise,
)
from .partresults import PartResults, inference_frame
from .predict import design_matrix, predict
from .predictive import predictive_margins
from .spec import Effect, MarginPart, validate_choice
from .summary import render_summary


class TwoPartResults:
    """Fitted two-part model.

    Attributes
    ----------
    params : pandas.Series
        Coefficients of both parts, indexed by (part, term): ``params["part1"]``
        is part 1's Series by term. ``bse``, ``tvalues``, ``pvalues`` alike;
        ``conf_int()`` and ``cov_params()`` the matching frames.
    part1, part2 : PartResults
        Each part alone, shaped like a statsmodels results object (``params``,
        ``bse``, ``llf``, ``aic``, ``bic``, ``nobs``, ``predict`` ...).
    cov_part1, cov_part2 : pandas.DataFrame
        Covariance of each part under the chosen ``vce``.
    cov : pandas.DataFrame
        Joint covariance of (part 1, part 2) coefficients: block diagonal or
        stacked (``joint="stacked"``), used by combined margins; index
        ``"part1:<term>"``.
    nobs : dict
        Observations in each part; ``dropped`` the missing-value counts.
    omitted : list of Omitted
        Part-1 regressors dropped by the separation checks (variable, level,
        reason, observations not used, Stata-style note).
    notes : list of str
        Stata-style notes of the fit (omitted regressors, completely
        determined observations).
    """

    def __init__(self, spec, sample, designs, fits, covs, weights, X2=None):
        self.spec, self.sample, self.designs, self.fits = spec, sample, designs, fits
        self.weights = weights
        self.data = None  # the caller's frame (``over`` on any of its columns)
        self._set_estimates(designs, fits, covs)
        rows1 = sample.rows1
        n1 = len(sample.d) if rows1 is None else int(rows1.sum())
        self.nobs = {"part1": n1, "part2": int(sample.rows2.sum())}
        self.omitted: list = []
        self.notes: list[str] = []
        self.dropped = sample.dropped
        self.context = Context(
            designs,
            (fits[0].params, fits[1].params),
            (fits[0].mean, fits[1].mean),
            weights,
            sample.rows2,
            X2,
        )

    def _set_estimates(self, designs, fits, covs) -> None:
        """Coefficients and covariances labelled by part and term."""
        idx1 = ["part1:" + n for n in designs[0].names]
        idx2 = ["part2:" + n for n in designs[1].names]
        self.params = pd.concat(
            {
                "part1": pd.Series(fits[0].params, designs[0].names),
                "part2": pd.Series(fits[1].params, designs[1].names),
            },
            names=["part", "term"],
        )
        self.cov_part1 = pd.DataFrame(covs[0], designs[0].names, designs[0].names)
        self.cov_part2 = pd.DataFrame(covs[1], designs[1].names, designs[1].names)
        self.cov = pd.DataFrame(covs[2], idx1 + idx2, idx1 + idx2)

    # ------------------------------------------------ statsmodels-shaped access
    @property
    def part1(self):
        """Part 1 as a :class:`~.partresults.PartResults`."""
        return self._part("part1")

    @property
    def part2(self):
        """Part 2 as a :class:`~.partresults.PartResults`."""
        return self._part("part2")

    def _part(self, part: str):
        cache = self.__dict__.setdefault("_parts", {})
        if part not in cache:
            cache[part] = PartResults(self, part)
        return cache[part]

    @property
    def n_clusters(self) -> int | None:
        """Clusters of the estimation sample (None without ``cluster``)."""
        c = self.spec.vce.cluster
        return None if c is None else len(set(self.sample.data[c]))

    def cov_params(self) -> pd.DataFrame:
        """Joint covariance of both parts' coefficients, indexed by (part, term)."""
        idx = self.params.index
        return pd.DataFrame(self.cov.to_numpy(), idx, idx)

    @property
    def bse(self) -> pd.Series:
        """Standard errors, indexed by (part, term)."""
        return pd.Series(np.sqrt(np.diag(self.cov.to_numpy())), self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        """Z statistics b / se."""
        return inference_frame(self.params, self.bse)[0]

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values."""
        return inference_frame(self.params, self.bse)[1]

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Normal-based confidence intervals (columns 0 and 1, as statsmodels)."""
        return inference_frame(self.params, self.bse, alpha)[2]

    @property
    def llf(self) -> float:
        """Log likelihood of the two-part model: part 1's plus part 2's."""
        return self.part1.llf + self.part2.llf

    @property
    def aic(self) -> float:
        """-2 llf + 2 (k1 + k2)."""
        return -2.0 * self.llf + 2.0 * (self.part1.k + self.part2.k)

    @property
    def bic(self) -> float:
        """-2 llf + (k1 + k2) ln(N), N the part-1 observations."""
        k = self.part1.k + self.part2.k
        return -2.0 * self.llf + k * np.log(self.nobs["part1"])

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        part: str = "combined",
        linear: bool = False,
        derivative: bool = False,
    ) -> pd.Series:
        """Predictions on ``newdata`` (default: the estimation sample).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict; factor levels must be levels of the fit.
        part : {"part1", "part2", "combined"}
            P(y > 0 | x) = F(x'b); E[y | y > 0, x] = h(z'g) (times the
            smearing factor for OLS on ln y); or their product E[y | x].
        linear : bool
            Return the linear index x'b (or z'g) instead (parts only).
        derivative : bool
            Return the derivative of the part's mean in its index instead:
            f(x'b) = dF/d(x'b) (part 1) or h'(z'g) (part 2, with the
            smearing factor for OLS on ln y). The gradient of a prediction
            in the coefficients is this times the design row
            (:meth:`design_matrix`): dF(x'b)/db = f(x'b) x.

        Returns
        -------
        pandas.Series
            Indexed as ``newdata``; NaN where a used column is missing.
        """
        return predict(self, newdata, part, linear, derivative)

    def design_matrix(
        self, newdata: pd.DataFrame | None = None, part: str = "part1"
    ) -> np.ndarray:
        """Design rows of ``part`` for ``newdata`` (default: the estimation rows).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows without missing values in the part's columns; factor values
            must be levels of the fit. None: the N part-1 estimation rows
            (for part 2 too: its design on every part-1 row, the rows its
            predictions are averaged over), the fit's own array.
        part : {"part1", "part2"}
            Which part's regressors.

        Returns
        -------
        ndarray (rows, K)
            Columns in the order of ``params[part]`` (factor indicators and
            interactions evaluated as in the fit), so that the part's index
            is ``design_matrix(newdata, part) @ params[part]``.
        """
        return design_matrix(self, newdata, part)

    @property
    def row_labels(self) -> pd.Index:
        """Index labels (in the data fitted on) of the N part-1 estimation rows."""
        return self.sample.data.index

    @property
    def participation(self) -> np.ndarray:
        """0/1 participation (y > 0) on the N part-1 estimation rows."""
        return self.sample.d

    @property
    def outcome(self) -> np.ndarray:
        """The outcome y on the N part-1 estimation rows."""
        return self.sample.y

    def predictive_margins(
        self,
        parts: tuple[str, ...] = ("part1", "part2", "combined"),
        at: dict | list[dict] | None = None,
        levels: list[str] | None = None,
        over=None,
        contrast: bool | str = False,
        part2_sample: str = "positives",
        atmeans: bool = False,
    ) -> pd.DataFrame:
        """Predictive margins (Stata ``margins`` without ``dydx``).

        See :func:`.predictive.predictive_margins` for the parameters and
        formulas.
        """
        return predictive_margins(
            self, parts, at, levels, over, contrast, part2_sample, atmeans
        )

    def over_groups(self, over) -> pd.Series:
        """Values of ``over`` on the N estimation rows (any column of the data).

        ``over`` is a column of the estimation frame, a column of the data the
        model was fitted on (kept by reference), or a Series/array of length N.
        """
        if isinstance(over, str):
            if over in self.sample.data.columns:
                return self.sample.data[over]
            if self.data is not None and over in self.data.columns:
                pos = self.sample.positions
                vals = self.data[over].to_numpy()
                vals = vals if pos is None else vals[pos]
                return pd.Series(vals, index=self.sample.data.index, name=over)
            raise ValueError(f"over={over!r} is not a column of the data")
        vals = np.asarray(over)
        if vals.shape != (len(self.sample.d),):
            raise ValueError(
                f"over has {vals.size} values; the estimation sample has "
                f"{len(self.sample.d)} rows"
            )
        return pd.Series(vals, index=self.sample.data.index, name="over")

    def coef_table(self, part: str = "part1") -> pd.DataFrame:
        """Tidy coefficients of ``part`` with SE, z, p and 95% CI."""
        validate_choice("part", part, MarginPart)
        if part == "combined":
            raise ValueError("part='combined' has no coefficients; use margins()")
        b = self.params[part]
        cov = self.cov_part1 if part == "part1" else self.cov_part2
        se = np.sqrt(np.diag(cov.to_numpy()))
        out = pd.DataFrame({"term": b.index, "estimate": b.to_numpy(), "se": se})
        return out.assign(**inference_columns(out["estimate"].to_numpy(), se))

    def margins(
        self,
        variables: list[str] | None = None,
        parts: tuple[str, ...] = ("part1", "part2", "combined"),
        effect: Effect = "dydx",
        at: dict | list[dict] | None = None,
        over: str | None = None,
        part2_sample: str = "positives",
        contrast: bool | str = False,
        atmeans: bool = False,
        *,
        _generic: bool = False,
    ) -> pd.DataFrame:
        """Average marginal effects with delta-method inference (``margins``).

        Parameters
        ----------
        variables : list of str, optional
            Variables (not columns) to differentiate; default all regressors.
            Factors give one 0 -> level contrast per non-base level.
        parts : tuple of {"part1", "part2", "combined"}
            ``combined`` adds extensive and intensive components.
        effect : {"dydx", "eydx", "dyex", "eyex"}
            Elasticities are for continuous variables only.
        at : dict or list of dict, optional
            Counterfactual values {variable: value or level label} for all
            observations, as ``margins, at()``; a list gives one set of
            margins per scenario (column ``at``), as ``at(x=(20 30))``. A
            factor in ``variables`` that ``at`` fixes is still varied over its
            levels: its discrete change overrides the ``at()`` value, the
            other ``at()`` values stay (Notes).
        over : str or array-like, optional
            Any column of the data the model was fitted on (in the model or
            not), or N values; margins within each of its groups (missing
            values form no group, as Stata's ``over()``).
        part2_sample : {"positives", "all"}
            Averaging sample of part-2 margins: part 2's estimation sample
            (as ``glm`` alone, the paper) or all part-1 rows (as ``twopm``).
        contrast : bool or {"over", "at"}
            Return contrasts of the margins instead of the margins:
            ``"over"``, each ``over`` group minus the reference group (the
            first in category or sorted order), within each ``at`` scenario
            (Stata ``margins, dydx(x) over(r.g)``); ``"at"``, each scenario
            minus the first (``contrast(atcontrast(r))``), within each group.
            ``True`` means ``"over"`` when ``over`` is given, else ``"at"``.
        atmeans : bool
            Marginal effects at the means (Stata ``atmeans``): every
            covariate not fixed by ``at`` at its mean over the averaging rows
            (factor level indicators at their shares), one design row per
            margin instead of an average over rows; formulas in
            :mod:`analysis.twopart.atmeans`.
        _generic : bool
            Private: compute default requests by the generic per-scenario
            path instead of the vectorised :mod:`.fastmargins` (the reference
            the tests and benchmarks compare it with).

        Returns
        -------
        pandas.DataFrame
            One row per (part, component, term, level) with ``MARGIN_COLUMNS``
            (and ``at`` for a list of scenarios, ``over`` when given). For
            contrasts, ``over`` (or ``at``) reads ``"g vs r"``.

        Raises
        ------
        ValueError
            An unknown ``effect``, part or ``part2_sample``; ``at=[]``;
            ``contrast`` without two groups or scenarios to compare.

        Notes
        -----
        Formulas in :mod:`analysis.twopart.margins`. A contrast of margins
        M_a and M_r (two groups, or two scenarios) is D = M_a - M_r with
        gradient G_D = G_a - G_r (both gradients in theta = (b, g), from the
        same joint covariance V) and Var(D) = G_D V G_D': the two margins'
        covariance through the shared coefficients is included.

        A factor f in ``variables`` that ``at`` also fixes: its effect of
        level l is mean_i [m_i(f=l, at) - m_i(f=base, at)], the other
        ``at()`` values held, as Stata's discrete change is defined (the
        prediction at each level minus that at the base, every row set to
        the level); the ``at()`` value of f itself does not enter.
        """
        validate_choice("effect", effect, Effect)
        for p in parts:
            validate_choice("part", p, MarginPart)
        if part2_sample not in ("positives", "all"):
            raise ValueError(
                f"part2_sample={part2_sample!r} not in ('positives', 'all')"
            )
        many = not (at is None or isinstance(at, dict))
        ats = check_at(self, at)
        self._check_variables(variables)
        mode = _contrast_mode(contrast, over, len(ats), many)
        groups = None if over is None else self.over_groups(over)
        glist = [None] if groups is None else list(pd.unique(groups.dropna()))
        frames, grads = [], []
        for a in ats:
            for g in glist:  # Stata: missing is no group
                mask = None if g is None else (groups == g).to_numpy()
                f, G = self._margins_grad(
                    variables, parts, effect, a, mask, part2_sample, atmeans, _generic
                )
                if many:
                    f.insert(6, "at", at_text(a))
                if g is not None:
                    f = f.assign(over=g)
                frames.append(f)
                grads.append(G)
        if mode is None:
            out = pd.concat(frames, ignore_index=True)
            se = np.concatenate([delta_se(G, self.cov.to_numpy()) for G in grads])
            out["se"] = se
            return _order(
                out.assign(**inference_columns(out["estimate"].to_numpy(), se))
            )
        if mode == "over":
            if len(glist) < 2:
                raise ValueError(
                    f"contrast='over' needs two groups of over={over!r}; "
                    f"found {len(glist)}"
                )
            ref = reference_group(groups, glist)
        return _contrasts(
            frames,
            grads,
            self.cov.to_numpy(),
            mode,
            [at_text(a) for a in ats],
            glist,
            ref if mode == "over" else None,
        )

    def _check_variables(self, variables) -> None:
        """Refuse variables that are regressors of neither part."""
        if variables is None:
            return
        if isinstance(variables, str):
            raise ValueError(
                f"variables={variables!r}: pass a list, e.g. [{variables!r}]"
            )
        known = {
            v
            for d in self.designs
            for v in (*d.factor_variables(), *d.continuous_variables())
        }
        unknown = [v for v in variables if v not in known]
        if unknown:
            raise ValueError(
                f"variables {unknown} are not regressors of the model "
                f"(regressors: {sorted(known)})"
            )

    def _margins_grad(
        self, variables, parts, effect, at, mask, p2s, atmeans=False, generic=False
    ):
        """(labels and estimates, gradients G in (b, g)) of the margins.

        ``generic``: the per-scenario path even for a default ``dydx`` request.
        """
        n = len(self.sample.d)
        base_mask = np.ones(n, bool) if mask is None else mask
        rows1 = self.sample.rows1
        samples = {}  # part -> (averaging rows, sum of their weights)
        for part in parts:
            r = base_mask
            if part == "part2" and p2s == "positives":
                rows2 = self.sample.rows2
                r = rows2 if mask is None else base_mask & rows2
            elif rows1 is not None and not rows1.all():
                r = base_mask & rows1  # part 1's estimation rows (separation)
            w = self.weights
            samples[part] = (r, float(r.sum() if w is None else np.sum(w[r])))
        if atmeans:
            return self._margins_atmeans(variables, parts, effect, at, samples)
        if (
            not generic
            and effect == "dydx"
            and not at
            and all(t > 0 for _, t in samples.values())
        ):
            return self._margins_fast(variables, parts, samples)
        acc: dict = {}  # part -> [rows with estimate and gradient summed over blocks]
        for start, stop, start2 in row_blocks(n, self.sample.rows2):
            whole = stop - start == n
            ctx = self.context if whole else self.context.block(start, stop, start2)
            todo = {p: (r[start:stop], t) for p, (r, t) in samples.items()}
            if not whole:  # skip parts with no averaging rows in this block
                todo = {p: (rb, t) for p, (rb, t) in todo.items() if rb.any()}
            self._accumulate(acc, ctx, todo, variables, effect, at)
        empty = {p: samples[p] for p in parts if p not in acc}
        if empty:  # an empty averaging sample: NaN estimates, as unblocked
            self._accumulate(acc, self.context, empty, variables, effect, at)
        rows = [row for part in parts for row in acc[part]]
        out = pd.DataFrame([row[:-1] for row in rows], columns=MARGIN_COLUMNS[:7])
        k = self.cov.shape[0]
        G = np.array([row[-1] for row in rows], dtype=float).reshape(len(rows), k)
        return out, G

    def _margins_atmeans(self, variables, parts, effect, at, samples):
        """Margins at the means by :func:`.atmeans.atmeans_margins`."""
        empty = [p for p, (_, t) in samples.items() if t == 0]
        if empty:
            raise ValueError(f"atmeans: no averaging rows for {empty}")
        labels = []
        for part in parts:
            for var, kind in self.margin_variables(part, variables):
                if kind == "f" and effect != "dydx":
                    raise ValueError(
                        f"effect={effect!r} is only defined for continuous "
                        f"variables; {var!r} is a factor"
                    )
                labels.append((part, var, kind))
        rows, G = atmeans_margins(self, labels, samples, effect, at)
        return pd.DataFrame(rows, columns=MARGIN_COLUMNS[:7]), G

    def _margins_fast(self, variables, parts, samples):
        """``dydx`` margins without ``at()`` by :func:`.fastmargins.fast_margins`."""
        lay = Layout(self, parts, variables)
        est, G = fast_margins(
            self, lay, samples, row_blocks(len(self.sample.d), self.sample.rows2)
        )
        out = pd.DataFrame(lay.labels, columns=MARGIN_COLUMNS[:6])
        out["estimate"] = est[lay.gather]
        return out, G[lay.gather]

    def _accumulate(self, acc, ctx, todo, variables, effect, at):
        """Add one block's share of each part's margins (estimates, gradients).

        ``todo`` maps part -> (averaging rows in the block, whole-sample weight
        total). Parts averaging over the same rows share one :class:`Frame`, so
        part 1 and combined margins evaluate each scenario once.
        """
        red = Reducer(MARGIN_BATCH)
        frames, by_rows = {}, {}
        for part, (rows, total) in todo.items():
            key = (rows.tobytes(), total)
            if key not in by_rows:
                by_rows[key] = Frame(ctx, rows, at, total)
            frames[part] = by_rows[key]
        wanted = {part: self.margin_variables(part, variables) for part in todo}
        order = list(dict.fromkeys(v for vs in wanted.values() for v in vs))
        found: dict = {}
        for var, kind in order:
            for part in todo:
                if (var, kind) in wanted[part]:
                    fr = frames[part]
                    found[part, var] = self._one(fr, part, var, kind, effect, red)
            for fr in by_rows.values():
                fr.forget(var)
        red.finish()
        for part in todo:
            rows = [
                (*row[:-1], gradient(row[-1]))
                for var, _ in wanted[part]
                for row in found[part, var]
            ]
            if part not in acc:
                acc[part] = [list(row) for row in rows]
                continue
            for have, row in zip(acc[part], rows, strict=True):
                have[-2] += row[-2]
                have[-1] = have[-1] + row[-1]

    def margin_variables(self, part: str, variables=None) -> list[tuple[str, str]]:
        """The regressors of ``part`` (or of both parts), each as (name, kind).

        Kind "f" is a factor and "c" a continuous variable; ``variables`` keeps those
        named (in that order), and a name that is no regressor of the model raises
        for the combined margins and is skipped for one part.
        """
        ds = {"part1": self.designs[:1], "part2": self.designs[1:]}.get(
            part, self.designs
        )
        found: dict[str, str] = {}
        for d in ds:
            found.update({v: "f" for v in d.factor_variables()})
            found.update({v: "c" for v in d.continuous_variables() if v not in found})
        if variables is None:
            return list(found.items())
        unknown = [v for v in variables if v not in found]
        if unknown and part != "combined":
            return [(v, k) for v, k in found.items() if v in variables]
        if unknown:
            raise ValueError(f"variables {unknown} are not regressors of the model")
        return [(v, found[v]) for v in variables]

    def _one(self, fr, part, var, kind, effect, red) -> list[tuple]:
        if kind == "c":
            eff = continuous_effects(fr, part, var, effect)
            return [
                (part, c, var, "", effect, effect, est, g)
                for c, est, g in summarise(fr, eff, red)
            ]
        if effect != "dydx":
            raise ValueError(
                f"effect={effect!r} is only defined for continuous "
                f"variables; {var!r} is a factor"
            )
        d = next(d for d in self.designs if var in d.variables.codes)
        levels, base = d.variables.levels[var], d.variables.base[var]
        out = []
        for k, lev in enumerate(levels):
            if k == base:  # a level fixed by at() is overridden (Notes)
                continue
            eff = discrete_effects(fr, part, var, lev, levels[base])
            out += [
                (
                    part,
                    c,
                    var,
                    level_label(lev),
                    f"{level_label(lev)} vs {level_label(levels[base])}",
                    "dydx",
                    est,
                    g,
                )
                for c, est, g in summarise(fr, eff, red)
            ]
        return out

    def summary(self):
        """Stata-like summary of both parts (see :mod:`.summary`).

        Returns
        -------
        Summary
            A ``str`` (the text, as before) with ``as_text()``, ``as_latex()``,
            ``as_html()`` and the coefficient ``tables``.
        """
        return render_summary(self)

    def __repr__(self) -> str:
        return self.summary()


def _contrast_mode(contrast, over, n_at: int, many: bool) -> str | None:
    """None, "over" or "at" from the ``contrast`` argument (see ``margins``)."""
    if contrast is False or contrast is None:
        return None
    if contrast is True:
        contrast = "over" if over is not None else "at"
    if contrast not in ("over", "at"):
        raise ValueError(f"contrast={contrast!r} not in (False, True, 'over', 'at')")
    if contrast == "over" and over is None:
        raise ValueError("contrast='over' needs over=")
    if contrast == "at" and (not many or n_at < 2):
        raise ValueError("contrast='at' needs at= as a list of at least two scenarios")
    return contrast


def _contrasts(frames, grads, V, mode, at_texts, glist, ref) -> pd.DataFrame:
    """Contrasts of the margins of every (scenario, group) (``margins`` Notes)."""
    frame = pd.concat(frames, ignore_index=True)
    if "at" not in frame.columns:
        frame.insert(6, "at", at_texts[0])
    G = np.vstack(grads)
    by = "over" if mode == "over" else "at"
    keys = [*MARGIN_COLUMNS[:6], "over" if by == "at" else "at"]
    keys = [c for c in keys if c in frame.columns]
    out, Gc = contrast_rows(frame, G, by, ref if by == "over" else at_texts[0], keys)
    if "at" not in frames[0].columns:  # one scenario, given as a dict
        out = out.drop(columns="at")
    se = delta_se(Gc, V)
    out["se"] = se
    return _order(out.assign(**inference_columns(out["estimate"].to_numpy(), se)))


def _order(out: pd.DataFrame) -> pd.DataFrame:
    """``MARGIN_COLUMNS`` with ``at`` before ``estimate`` and ``over`` last."""
    cols = MARGIN_COLUMNS[:6] + (["at"] if "at" in out.columns else [])
    cols += MARGIN_COLUMNS[6:] + (["over"] if "over" in out.columns else [])
    return out[cols]
