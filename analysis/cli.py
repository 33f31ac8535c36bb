"""Command-line interface: one subcommand per pipeline stage; the Makefile calls these.

Imports of the stage modules are deferred to the subcommand that needs them, so
``python -m analysis --help`` answers at once. Every stage logs (``logging``, on
stderr) what it does and how long it took; ``-q`` keeps only warnings and errors,
``-v`` adds the start of each stage and the stages' own details.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from analysis.cleaning.schema import SUBSAMPLES
from analysis.config import (
    BOOTSTRAP_REPS,
    MASTER_SEED,
    MIN_CELL,
    MONTECARLO_REPS,
    MONTECARLO_SIMS,
    SYNTHETIC,
    RunPaths,
)

EXIT_INVALID_DATA = 2  # the raw file failed validation: the report is on stderr
EXIT_DISCLOSIVE = 3  # a real-data output failed the disclosure check
EXIT_OMISSIONS = 4  # summary --strict: the run completed with omissions
DISTRIBUTION = "cmds-reimbursement-replication"

log = logging.getLogger("analysis")
Formatter = argparse.ArgumentDefaultsHelpFormatter


def package_version() -> str:
    """The installed package's version (``unknown`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


class _Stages(argparse._SubParsersAction):
    """Subparsers that show their defaults in ``--help`` like the main parser."""

    def add_parser(self, name, **kwargs):  # noqa: D102
        kwargs.setdefault("formatter_class", Formatter)
        STAGE_HELP[name] = kwargs.get("help", "")
        return super().add_parser(name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per stage."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Replication pipeline for Wang et al. (2022) BMJ Open 12:e060551.",
        formatter_class=Formatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {package_version()}"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=SYNTHETIC.root,
        help="run root holding data/ and outputs/",
    )
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument(
        "-q", "--quiet", action="store_true", help="log only warnings and errors"
    )
    talk.add_argument(
        "-v", "--verbose", action="store_true", help="log each stage's details too"
    )
    parser.register("action", "parsers", _Stages)
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    def real_only(name: str, text: str) -> None:
        add_real_flags(stages.add_parser(name, help=text))

    gen = stages.add_parser("generate", help="write the synthetic raw survey (.dta)")
    gen.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")
    gen.add_argument("--out", type=Path, help="output .dta (default data/raw/...)")

    cmp = stages.add_parser(
        "compare-raw", help="is a regenerated raw survey the provided one?"
    )
    cmp.add_argument("provided", type=Path, help="the provided raw survey (.dta)")
    cmp.add_argument("regenerated", type=Path, help="a regeneration of it (.dta)")

    stamp = stages.add_parser(
        "stamp", help="record the run's inputs; rewrite the stamp only if they changed"
    )
    stamp.add_argument("--raw", type=Path, help="raw survey file")
    stamp.add_argument("--codebook", type=Path, help="codebook folder")
    stamp.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE",
        help="a run parameter that changes outputs (repeatable)",
    )  # fmt: skip
    stamp.add_argument(
        "--clear-on-change",
        action="store_true",
        help="remove the run's previous derived data and outputs when inputs change",
    )

    clean = stages.add_parser("clean", help="raw survey -> analytic sample + flow")
    add_raw_flags(clean, "raw survey (.dta, .sav or .csv)")
    add_real_flags(clean)

    real_only("describe", "Tables 1-2 from the analytic sample")

    est = stages.add_parser(
        "estimate",
        help="fit the two-part models of Tables 3-4",
        description="Fit the two-part models of Tables 3-4. The paper's settings "
        "(--vce oim --semantics columnwise) write outputs/estimates/paper_cells.csv "
        "and its companions; any other setting writes its own files, e.g. "
        "paper_cells_robust.csv, and never replaces the paper's.",
    )
    est.add_argument(
        "--vce",
        default="oim",
        choices=("oim", "robust", "cluster"),
        help="SE type (cluster: by city)",
    )
    est.add_argument(
        "--semantics",
        default="columnwise",
        choices=("columnwise", "factor"),
        help="derivative effects on hand-built dummies (the paper) or i. contrasts",
    )

    real_only("exhibits", "Tables 3-4 and Figures 1-2")
    real_only("beyond", "specification checks, robustness, policy counterfactuals")

    boot = stages.add_parser("bootstrap", help="bootstrap every Table 3-4 quantity")
    boot.add_argument("--reps", type=int, default=BOOTSTRAP_REPS, help="replications")
    boot.add_argument(
        "--cluster",
        action="store_true",
        help="resample PSUs within strata instead of respondents",
    )
    add_parallel_flags(boot)
    boot.add_argument(
        "--ci",
        default="percentile",
        choices=("percentile", "normal", "bc"),
        help="bootstrap confidence interval",
    )
    add_real_flags(boot)

    mc = stages.add_parser("montecarlo", help="bias and CI coverage by simulation")
    mc.add_argument("--sims", type=int, default=MONTECARLO_SIMS, help="data sets")
    mc.add_argument(
        "--reps", type=int, default=MONTECARLO_REPS, help="bootstrap reps per data set"
    )
    add_parallel_flags(mc)
    mc.add_argument(
        "--samples",
        nargs="+",
        choices=tuple(SUBSAMPLES),
        default=tuple(SUBSAMPLES),
        help="samples to check",
    )
    add_real_flags(mc)

    real_only("report", "published-versus-replicated report")

    conv = stages.add_parser(
        "conventions",
        help="rank SE/AME readings of Tables 3-4 against the published numbers",
    )
    conv.add_argument(
        "--analytic", type=Path, help="analytic sample (.parquet); none: the run's"
    )
    conv.add_argument(
        "--out", type=Path, help="output folder; none: <root>/outputs/conventions"
    )
    add_raw_flags(conv, "raw survey, for the origin province; none: the run's")
    conv.add_argument(
        "--reps", type=int, default=19,
        help="half-samples measuring the ranking's uncertainty (0: none)",
    )  # fmt: skip
    conv.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")
    add_real_flags(conv)

    summ = stages.add_parser("summary", help="list the run's omissions (last step)")
    summ.add_argument(
        "--strict",
        action="store_true",
        help=f"exit {EXIT_OMISSIONS} if anything was omitted",
    )
    return parser


def add_raw_flags(stage: argparse.ArgumentParser, raw_help: str) -> None:
    """``--raw``, ``--codebook`` and ``--encoding``: the raw file a stage reads."""
    stage.add_argument("--raw", type=Path, help=raw_help)
    stage.add_argument("--codebook", type=Path, help="codebook folder of --raw")
    stage.add_argument(
        "--encoding", help="encoding of a .csv --raw (default: UTF-8, else GB18030)"
    )


def add_parallel_flags(stage: argparse.ArgumentParser) -> None:
    """``--workers``, ``--scheduler`` and ``--seed`` of a stage that replicates."""
    stage.add_argument("--workers", type=int, default=1, help="local processes")
    stage.add_argument("--scheduler", help="Dask scheduler address (runs there)")
    stage.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")


def add_real_flags(stage: argparse.ArgumentParser) -> None:
    """``--real`` (disclosure control on) and ``--min-cell`` for a stage."""
    stage.add_argument(
        "--real",
        action="store_true",
        help="outputs from real (restricted) data: disclosure control on",
    )
    stage.add_argument(
        "--min-cell",
        type=int,
        default=MIN_CELL,
        help="with --real: smallest count shown",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the stage named on the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    paths = RunPaths(args.root)
    what = STAGE_HELP.get(args.stage) or args.stage
    log.debug("%s: %s (run root %s)", args.stage, what, args.root)
    start = time.perf_counter()
    status = STAGES[args.stage](args, paths) or 0
    seconds = time.perf_counter() - start
    if status == 0:
        log.info("%s: %s, done in %.1f s", args.stage, what, seconds)
    else:
        log.debug("%s: stopped with exit status %d after %.1f s",
                  args.stage, status, seconds)  # fmt: skip
    return status


STAGE_HELP: dict[str, str] = {}


def configure_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Log the package's messages on stderr: INFO by default, -q WARNING, -v DEBUG.

    The handler is replaced on every call (a new one writes to the current
    ``sys.stderr``), so repeated in-process runs do not print twice.
    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    for handler in list(log.handlers):
        if getattr(handler, "_analysis_cli", False):
            log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._analysis_cli = True
    fmt = "%(message)s"
    if verbose:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    warnings.showwarning = log_warning


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning as one log line (no source file, line number or code)."""
    log.warning("warning: %s", message)


def run_generate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``generate``: synthetic raw survey."""
    from analysis import synth

    synth.main(seed=args.seed, out_path=args.out or paths.raw_survey)
    return 0


def run_compare_raw(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``compare-raw``: how a regeneration differs from the provided file."""
    from analysis.synth.compare import compare

    identical, lines = compare(args.provided, args.regenerated)
    print("\n".join(lines))  # the comparison is the stage's output (stdout)
    return 0 if identical else 1


def run_stamp(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``stamp``: key the run on its inputs' content (:mod:`analysis.stamp`)."""
    from analysis import stamp
    from analysis.config import CODEBOOK_DIR

    params = dict(p.partition("=")[::2] for p in args.param)
    path = paths.logs_dir / "inputs.stamp"
    changed = stamp.main(
        path, args.raw or paths.raw_survey, args.codebook or CODEBOOK_DIR, params,
        clear_on_change=args.clear_on_change,
    )  # fmt: skip
    if changed:
        cleared = "; previous outputs removed" if args.clear_on_change else ""
        log.info("stamp: inputs changed (%s): %s rewritten%s",
                 ", ".join(changed), path, cleared)  # fmt: skip
    return 0


def run_clean(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``clean``: validate and clean the raw survey.

    A file or codebook that cannot be used is refused with exit status 2 and a
    message on stderr naming it; nothing is written.
    """
    from analysis.cleaning import clean
    from analysis.cleaning.codebook import Codebook, CodebookError
    from analysis.cleaning.rawfile import RawFileError
    from analysis.cleaning.validate import RawDataError

    flow_path = paths.tables_dir / "sample_flow.csv"
    try:
        codebook = Codebook(args.codebook.expanduser()) if args.codebook else Codebook()
        clean.main(
            raw_path=args.raw or paths.raw_survey,
            analytic_path=paths.analytic,
            flow_path=flow_path,
            codebook=codebook.check(),
            encoding=args.encoding,
            synthetic=not args.real,
        )
    except (RawFileError, CodebookError, RawDataError) as error:
        log.error(f"Refused: {error}" if not isinstance(error, RawDataError)
                  else str(error))  # fmt: skip
        return EXIT_INVALID_DATA
    if args.real:
        from analysis import disclosure

        disclosure.control_flow_files(flow_path, args.min_cell)
    return 0


def run_describe(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``describe``: Tables 1 and 2."""
    from analysis.paper import descriptives

    descriptives.main(
        paths.analytic,
        paths.tables_dir,
        synthetic=not args.real,
        min_cell=args.min_cell,
    )
    return 0


ESTIMATE_FILES = ("paper_cells", "margins_all", "coefficients", "model_status")


def estimate_tag(vce: str, semantics: str) -> str:
    """File-name suffix of an estimate run: empty for the paper's settings."""
    parts = [p for p in (vce, semantics) if p not in ("oim", "columnwise")]
    return "_".join(parts)


def run_estimate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``estimate``: the two-part models of Tables 3-4.

    Other settings than the paper's write ``<file>_<vce>[_factor].csv`` beside the
    paper's files (which the later stages read) and leave those untouched.
    """
    from analysis import io
    from analysis.paper import estimates

    cluster = "city" if args.vce == "cluster" else None
    tag = estimate_tag(args.vce, args.semantics)
    fit = dict(vce=args.vce, cluster=cluster, semantics=args.semantics)
    if not tag:
        estimates.main(paths.analytic, paths.estimates_dir, **fit)
        return 0
    keys = {
        "paper_cells": estimates.CELL_KEYS,
        "margins_all": estimates.MARGIN_KEYS,
        "coefficients": estimates.COEF_KEYS,
        "model_status": estimates.STATUS_KEYS,
    }
    with tempfile.TemporaryDirectory() as scratch:
        # fitted in a scratch run root: the paper's files and omission log stay
        scratch_dir = Path(scratch) / "outputs" / "estimates"
        scratch_dir.mkdir(parents=True)
        estimates.main(paths.analytic, scratch_dir, **fit)
        paths.estimates_dir.mkdir(parents=True, exist_ok=True)
        for stem in ESTIMATE_FILES:
            source = scratch_dir / f"{stem}.csv"
            if not source.exists():
                continue
            target = paths.estimates_dir / f"{stem}_{tag}.csv"
            shutil.move(source, target)
            shape = pd_shape(target)
            io.log_file(target, keys[stem], shape)
            log.debug("estimate: wrote %s", target)
    return 0


def pd_shape(path: Path) -> tuple[int, int]:
    """Rows and columns of a CSV file."""
    import pandas as pd

    return pd.read_csv(path).shape


def run_exhibits(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``exhibits``: Tables 3-4, combined margins, Figures 1-2, forest plot."""
    from analysis import omissions
    from analysis.exhibits import figures, model_tables
    from analysis.paper import tables

    cells = paths.estimates_dir / "paper_cells.csv"
    min_cell = args.min_cell if args.real else None
    printed = tables.main(
        cells, paths.tables_dir, paths.analytic, min_cell, not args.real
    )
    model_tables.main(
        printed, paths.tables_dir, paths.estimates_dir, synthetic=not args.real
    )
    try:
        figures.main(
            paths.analytic,
            cells,
            paths.figures_dir,
            synthetic=not args.real,
            min_cell=args.min_cell,
        )
    except (ArithmeticError, ValueError) as error:
        # a group of a figure with no respondent (a small or unusual sample)
        reason = f"not drawn: {type(error).__name__}: {error}"
        rows = [("Figures 1-2 and the forest plot", "all", reason, 0)]
        omissions.record(paths.logs_dir, "exhibits", rows)
        log.warning("exhibits: figures %s", reason)
        return 0
    omissions.record(paths.logs_dir, "exhibits", [])
    return 0


def run_report(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``report``: the published-versus-replicated report."""
    from analysis.disclosure import DisclosureError
    from analysis.exhibits import report

    try:
        report.main(paths, synthetic=not args.real, min_cell=args.min_cell)
    except DisclosureError as error:
        log.error("%s", error)
        return EXIT_DISCLOSIVE
    return 0


def run_summary(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``summary``: print the omission log; exit 4 under ``--strict``."""
    from analysis import omissions

    lines = omissions.summary(paths.logs_dir)
    print("\n".join(lines))  # the omission log is the stage's output (stdout)
    omitted = not omissions.omitted(omissions.read(paths.logs_dir)).empty
    return EXIT_OMISSIONS if omitted and args.strict else 0


def run_bootstrap(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``bootstrap``: bootstrap SEs and CIs beside the delta-method ones."""
    from analysis.inference.bootstrap import results

    results.main(
        paths.analytic,
        paths.estimates_dir,
        tables_dir=paths.tables_dir,
        reps=args.reps,
        scheme="cluster" if args.cluster else "pairs",
        workers=args.workers,
        scheduler=args.scheduler,
        seed=args.seed,
        ci=args.ci,
        synthetic=not args.real,
        min_cell=args.min_cell if args.real else None,
    )
    return 0


def run_montecarlo(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``montecarlo``: bias and coverage of delta-method and bootstrap CIs."""
    from analysis.inference import montecarlo

    montecarlo.main(
        paths.analytic,
        paths.estimates_dir,
        paths.figures_dir,
        sims=args.sims,
        reps=args.reps,
        samples=tuple(args.samples),
        seed=args.seed,
        workers=args.workers,
        synthetic=not args.real,
        scheduler=args.scheduler,
    )
    return 0


def run_beyond(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``beyond``: diagnostics, robustness table and counterfactuals.

    These tables are not in the paper. When the estimate stage could not fit or had
    to reduce a model of the paper (``model_status.csv``), a failure of this stage
    is a consequence of the data: its outputs are removed, the omission is logged
    with the error and the run goes on. Otherwise a failure is a bug and raises.
    """
    from analysis import omissions
    from analysis.beyond import stage as beyond

    reduced = not omissions.not_estimated(
        omissions.model_status(paths.estimates_dir)
    ).empty
    try:
        beyond.main(
            paths.analytic, paths.tables_dir, paths.figures_dir,
            synthetic=not args.real, min_cell=args.min_cell,
        )  # fmt: skip
    except Exception as error:  # noqa: BLE001 - only when the models were reduced
        if not reduced:
            raise
        beyond.clear_outputs(paths.tables_dir, paths.figures_dir)
        first = (str(error).splitlines() or [""])[0][:300]
        reason = (
            f"not written: {type(error).__name__}: {first} (the stage needs the "
            "paper's models, which were not all estimable on this file)"
        )
        outputs = "diagnostics, robustness and counterfactual tables (beyond)"
        omissions.record(paths.logs_dir, "beyond", [(outputs, "all", reason, 0)])
        log.warning("beyond: %s", reason)
        return 0
    omissions.record(paths.logs_dir, "beyond", [])
    return 0


def run_conventions(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``conventions``: which SE/AME reading reproduces Tables 3-4.

    A file, column or codebook that cannot be used is refused with exit status 2
    and a message naming it.
    """
    from analysis.beyond import conventions
    from analysis.cleaning.codebook import Codebook, CodebookError

    analytic = args.analytic or paths.analytic
    if not analytic.exists():
        log.error("Refused: analytic sample %s not found (run make data, or pass "
                  "--analytic)", analytic)  # fmt: skip
        return EXIT_INVALID_DATA
    if args.reps < 0:
        log.error("Refused: --reps must be >= 0, got %d", args.reps)
        return EXIT_INVALID_DATA
    try:
        codebook = Codebook(args.codebook).check() if args.codebook else Codebook()
        conventions.main(
            analytic, args.out or paths.outputs_dir / "conventions",
            raw_path=args.raw or paths.raw_survey, codebook=codebook,
            encoding=args.encoding, reps=args.reps, seed=args.seed,
            synthetic=not args.real,
        )  # fmt: skip
    except (CodebookError, conventions.ConventionsError) as error:
        log.error("Refused: %s", error)
        return EXIT_INVALID_DATA
    return 0


STAGES = {
    "generate": run_generate,
    "compare-raw": run_compare_raw,
    "stamp": run_stamp,
    "clean": run_clean,
    "describe": run_describe,
    "estimate": run_estimate,
    "exhibits": run_exhibits,
    "beyond": run_beyond,
    "bootstrap": run_bootstrap,
    "montecarlo": run_montecarlo,
    "report": run_report,
    "summary": run_summary,
    "conventions": run_conventions,
}
