"""Command-line interface: one subcommand per pipeline stage; the Makefile calls these.

Imports of the stage modules are deferred to the subcommand that needs them, so
``python -m analysis --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.config import (
    BOOTSTRAP_REPS,
    MASTER_SEED,
    MONTECARLO_REPS,
    MONTECARLO_SIMS,
    SYNTHETIC,
    RunPaths,
)
from analysis.schema import SUBSAMPLES

MIN_CELL = 10  # default of --min-cell (analysis.disclosure.MIN_CELL)
EXIT_INVALID_DATA = 2  # the raw file failed validation: the report is on stderr
EXIT_DISCLOSIVE = 3  # a real-data output failed the disclosure check
EXIT_OMISSIONS = 4  # summary --strict: the run completed with omissions


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per stage."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Replication pipeline for Wang et al. (2022) BMJ Open 12:e060551.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=SYNTHETIC.root,
        help="run root holding data/ and outputs/ (default: the repository)",
    )
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

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
    clean.add_argument("--raw", type=Path, help="raw survey (.dta, .sav or .csv)")
    clean.add_argument("--codebook", type=Path, help="codebook directory")
    clean.add_argument(
        "--encoding", help="encoding of a .csv (default: UTF-8, else GB18030)"
    )
    add_real_flags(clean)

    desc = stages.add_parser("describe", help="Tables 1-2 from the analytic sample")
    add_real_flags(desc)

    est = stages.add_parser("estimate", help="fit the two-part models of Tables 3-4")
    est.add_argument(
        "--vce", default="oim", choices=("oim", "robust", "cluster"), help="SE type"
    )
    est.add_argument(
        "--semantics",
        default="columnwise",
        choices=("columnwise", "factor"),
        help="derivative effects on hand-built dummies (the paper) or i. contrasts",
    )

    ex = stages.add_parser("exhibits", help="Tables 3-4 and Figures 1-2")
    add_real_flags(ex)

    beyond = stages.add_parser(
        "beyond", help="specification checks, robustness, policy counterfactuals"
    )
    add_real_flags(beyond)

    boot = stages.add_parser("bootstrap", help="bootstrap every Table 3-4 quantity")
    boot.add_argument("--reps", type=int, default=BOOTSTRAP_REPS, help="replications")
    boot.add_argument(
        "--cluster",
        action="store_true",
        help="resample PSUs within strata instead of respondents",
    )
    boot.add_argument("--workers", type=int, default=1, help="local processes")
    boot.add_argument("--scheduler", help="Dask scheduler address (runs there)")
    boot.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")
    boot.add_argument(
        "--ci", default="percentile", choices=("percentile", "normal", "bc")
    )

    mc = stages.add_parser("montecarlo", help="bias and CI coverage by simulation")
    mc.add_argument("--sims", type=int, default=MONTECARLO_SIMS, help="data sets")
    mc.add_argument(
        "--reps", type=int, default=MONTECARLO_REPS, help="bootstrap reps per data set"
    )
    mc.add_argument("--workers", type=int, default=1, help="local processes")
    mc.add_argument("--seed", type=int, default=MASTER_SEED, help="master seed")
    mc.add_argument(
        "--samples",
        nargs="+",
        choices=tuple(SUBSAMPLES),
        default=tuple(SUBSAMPLES),
        help="samples to check (default: all three)",
    )
    add_real_flags(mc)

    rep = stages.add_parser("report", help="published-versus-replicated report")
    add_real_flags(rep)

    summ = stages.add_parser("summary", help="list the run's omissions (last step)")
    summ.add_argument(
        "--strict",
        action="store_true",
        help=f"exit {EXIT_OMISSIONS} if anything was omitted",
    )
    return parser


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
        help=f"with --real: smallest count shown (default {MIN_CELL})",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the stage named on the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    paths = RunPaths(args.root)
    return STAGES[args.stage](args, paths) or 0


def run_generate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``generate``: synthetic raw survey."""
    from analysis import synth

    synth.main(seed=args.seed, out_path=args.out or paths.raw_survey)
    return 0


def run_compare_raw(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``compare-raw``: how a regeneration differs from the provided file."""
    from analysis.synth.compare import compare

    identical, lines = compare(args.provided, args.regenerated)
    print("\n".join(lines))
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
        print(f"inputs changed ({', '.join(changed)}): {path} rewritten{cleared}")
    return 0


def run_clean(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``clean``: validate and clean the raw survey.

    A file or codebook that cannot be used is refused with exit status 2 and a
    message on stderr naming it; nothing is written.
    """
    from analysis import clean
    from analysis.codebook import Codebook, CodebookError
    from analysis.rawfile import RawFileError
    from analysis.validate import RawDataError

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
        print(f"Refused: {error}" if not isinstance(error, RawDataError) else error,
              file=sys.stderr)  # fmt: skip
        return EXIT_INVALID_DATA
    if args.real:
        from analysis import disclosure

        disclosure.control_flow_files(flow_path, args.min_cell)
    return 0


def run_describe(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``describe``: Tables 1 and 2."""
    from analysis import descriptives

    descriptives.main(
        paths.analytic,
        paths.tables_dir,
        synthetic=not args.real,
        min_cell=args.min_cell,
    )
    return 0


def run_estimate(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``estimate``: the two-part models of Tables 3-4."""
    from analysis import estimates

    cluster = "city" if args.vce == "cluster" else None
    estimates.main(
        paths.analytic,
        paths.estimates_dir,
        vce=args.vce,
        cluster=cluster,
        semantics=args.semantics,
    )
    return 0


def run_exhibits(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``exhibits``: Tables 3-4, combined margins, Figures 1-2, forest plot."""
    from analysis import figures, model_tables, omissions, tables

    cells = paths.estimates_dir / "paper_cells.csv"
    min_cell = args.min_cell if args.real else None
    tables.main(cells, paths.tables_dir, paths.analytic, min_cell, not args.real)
    model_tables.main(paths.tables_dir, paths.estimates_dir, synthetic=not args.real)
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
        print(f"exhibits: figures {reason}", file=sys.stderr)
        return 0
    omissions.record(paths.logs_dir, "exhibits", [])
    return 0


def run_report(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``report``: the published-versus-replicated report."""
    from analysis import report
    from analysis.disclosure import DisclosureError

    try:
        report.main(paths, synthetic=not args.real, min_cell=args.min_cell)
    except DisclosureError as error:
        print(error, file=sys.stderr)
        return EXIT_DISCLOSIVE
    return 0


def run_summary(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``summary``: print the omission log; exit 4 under ``--strict``."""
    from analysis import omissions

    lines = omissions.summary(paths.logs_dir)
    print("\n".join(lines))
    omitted = not omissions.omitted(omissions.read(paths.logs_dir)).empty
    return EXIT_OMISSIONS if omitted and args.strict else 0


def run_bootstrap(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``bootstrap``: bootstrap SEs and CIs beside the delta-method ones."""
    from analysis.bootstrap import results

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
    )
    return 0


def run_montecarlo(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``montecarlo``: bias and coverage of delta-method and bootstrap CIs."""
    from analysis import montecarlo

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
    )
    return 0


def run_beyond(args: argparse.Namespace, paths: RunPaths) -> int:
    """Stage ``beyond``: diagnostics, robustness table and counterfactuals.

    These tables are not in the paper. When the estimate stage could not fit or had
    to reduce a model of the paper (``model_status.csv``), a failure of this stage
    is a consequence of the data: its outputs are removed, the omission is logged
    with the error and the run goes on. Otherwise a failure is a bug and raises.
    """
    from analysis import beyond, omissions

    # beyond.main takes no min_cell: its counterfactual suppression reads the module
    # constant, which must follow --min-cell (a rerun at 20 must not show cells of 10)
    beyond.MIN_CELL = args.min_cell if args.real else beyond.MIN_CELL
    reduced = not omissions.not_estimated(
        omissions.model_status(paths.estimates_dir)
    ).empty
    try:
        beyond.main(
            paths.analytic, paths.tables_dir, paths.figures_dir,
            synthetic=not args.real,
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
        print(f"beyond: {reason}", file=sys.stderr)
        return 0
    omissions.record(paths.logs_dir, "beyond", [])
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
}
